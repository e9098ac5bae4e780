"""Every WopiError renders as a WOPI response with its status code and headers."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from wopi_api.errors import handle_wopi_error
from wopi_core import errors
from wopi_core.errors import LockMismatch, WopiError


def all_subclasses(cls: type[WopiError]) -> list[type[WopiError]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(all_subclasses(sub))
    return found


def build(cls: type[WopiError]) -> WopiError:
    if cls is LockMismatch:
        return LockMismatch("lock-A", "locked by another id")
    return cls("something failed")


def empty_request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""})


@pytest.mark.parametrize("cls", all_subclasses(WopiError), ids=lambda cls: cls.__name__)
def test_every_wopi_error_renders_its_status(cls: type[WopiError]) -> None:
    error = build(cls)
    response = asyncio.run(handle_wopi_error(empty_request(), error))
    assert 400 <= cls.status_code <= 599
    assert response.status_code == cls.status_code
    assert response.headers["X-WOPI-ServerError"] == error.message


def test_lock_mismatch_carries_current_lock_and_reason() -> None:
    response = asyncio.run(handle_wopi_error(empty_request(), LockMismatch("", "not locked")))
    assert response.headers["X-WOPI-Lock"] == ""
    assert response.headers["X-WOPI-LockFailureReason"] == "not locked"


def test_error_tree_is_documented_in_module_docstring() -> None:
    assert errors.__doc__ is not None
    for cls in all_subclasses(WopiError):
        assert cls.__name__ in errors.__doc__


@pytest.mark.parametrize(
    ("error", "level"),
    [
        pytest.param(errors.ProofKeyInvalid("proof key check failed"), "WARNING", id="proof"),
        pytest.param(errors.InvalidToken("access token expired"), "WARNING", id="token"),
        pytest.param(LockMismatch("lock-A", "locked by another id"), "WARNING", id="lock"),
        pytest.param(errors.FileNotFound("file f1 not found"), "INFO", id="not-found"),
    ],
)
def test_wopi_error_log_levels(error: WopiError, level: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="wopi_api.errors"):
        asyncio.run(handle_wopi_error(empty_request(), error))
    assert [record.levelname for record in caplog.records if record.name == "wopi_api.errors"] == [level]
