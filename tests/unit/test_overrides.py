"""The X-WOPI-Override table."""

from __future__ import annotations

import inspect

from wopi_api.routes.overrides import FILE_OVERRIDES

WOPI_FILE_OVERRIDES = {
    "LOCK",
    "GET_LOCK",
    "REFRESH_LOCK",
    "UNLOCK",
    "PUT_RELATIVE",
    "RENAME_FILE",
    "DELETE",
    "PUT_USER_INFO",
    "GET_SHARE_URL",
}


def test_override_table_covers_every_files_override() -> None:
    assert set(FILE_OVERRIDES) == WOPI_FILE_OVERRIDES


def test_override_handlers_are_coroutines() -> None:
    for name, handler in FILE_OVERRIDES.items():
        assert inspect.iscoroutinefunction(handler), name
