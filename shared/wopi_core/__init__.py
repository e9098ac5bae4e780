"""Code shared by the WOPI front-end and the workers: settings, tokens, locks, storage, discovery, events."""
