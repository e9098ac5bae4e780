"""WOPI errors raised by the core and rendered by the front-end.

Exception tree:

    WopiError (500)
    ├── BadRequest (400)
    │   └── InvalidFileName (400, X-WOPI-InvalidFileNameError)
    ├── InvalidToken (401)
    ├── FileNotFound (404)
    ├── LockMismatch (409, X-WOPI-Lock and X-WOPI-LockFailureReason)
    ├── Conflict (409)
    ├── LargerThanExpected (412)
    ├── FileTooLarge (413)
    ├── ProofKeyInvalid (500)
    ├── StorageUnavailable (503)
    └── UnsupportedOperation (501)

ConfigError is separate: it stops a process at start-up and never reaches a WOPI client.
"""

from __future__ import annotations

from wopi_core.models import HEADER_INVALID_FILE_NAME_ERROR, HEADER_LOCK, HEADER_LOCK_FAILURE_REASON


class ConfigError(Exception):
    """One or more WOPI_* settings are missing or invalid; the message lists each of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class WopiError(Exception):
    """A failure that maps to one WOPI status code and, for some, extra response headers."""

    status_code = 500

    def __init__(self, message: str = "") -> None:
        self.message = message or type(self).__name__
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """Return the response headers this error adds besides the status code."""
        return {}


class BadRequest(WopiError):
    status_code = 400


class InvalidFileName(BadRequest):
    def headers(self) -> dict[str, str]:
        return {HEADER_INVALID_FILE_NAME_ERROR: self.message}


class InvalidToken(WopiError):
    status_code = 401


class FileNotFound(WopiError):
    status_code = 404


class Conflict(WopiError):
    status_code = 409


class LockMismatch(WopiError):
    """A lock-caused 409: carries the current lock id, or "" when the file is unlocked."""

    status_code = 409

    def __init__(self, current_lock: str, reason: str) -> None:
        self.current_lock = current_lock
        super().__init__(reason)

    def headers(self) -> dict[str, str]:
        return {HEADER_LOCK: self.current_lock, HEADER_LOCK_FAILURE_REASON: self.message}


class LargerThanExpected(WopiError):
    status_code = 412


class FileTooLarge(WopiError):
    status_code = 413


class ProofKeyInvalid(WopiError):
    """The X-WOPI-Proof signatures or timestamp did not verify; WOPI answers such requests with 500."""

    status_code = 500


class StorageUnavailable(WopiError):
    """The storage backend could not be reached; transient, so workers retry it."""

    status_code = 503


class UnsupportedOperation(WopiError):
    status_code = 501
