"""The WOPI front-end: a Starlette app that answers every WOPI call synchronously."""
