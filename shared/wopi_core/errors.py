"""WOPI errors raised by the core and rendered by the front-end.

Exception tree:

    WopiError (500)
    ├── BadRequest (400)
    │   ├── InvalidFileName (400, X-WOPI-InvalidFileNameError)
    │   └── InvalidContainerName (400, X-WOPI-InvalidContainerNameError)
    ├── InvalidToken (401)
    ├── FileNotFound (404)
    ├── LockMismatch (409, X-WOPI-Lock and X-WOPI-LockFailureReason)
    ├── Conflict (409)
    │   ├── NameTaken (409, X-WOPI-ValidRelativeTarget when a free name is known)
    │   └── ContainerNotEmpty (409)
    ├── LargerThanExpected (412)
    ├── FileTooLarge (413)
    ├── ProofKeyInvalid (500)
    ├── StorageUnavailable (503)
    └── UnsupportedOperation (501)

ConfigError is separate: it stops a process at start-up and never reaches a WOPI client.
"""

from __future__ import annotations

from wopi_core.models import (
    HEADER_INVALID_CONTAINER_NAME_ERROR,
    HEADER_INVALID_FILE_NAME_ERROR,
    HEADER_LOCK,
    HEADER_LOCK_FAILURE_REASON,
    HEADER_VALID_RELATIVE_TARGET,
)


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


class InvalidContainerName(BadRequest):
    def headers(self) -> dict[str, str]:
        return {HEADER_INVALID_CONTAINER_NAME_ERROR: self.message}


class InvalidToken(WopiError):
    status_code = 401


class FileNotFound(WopiError):
    status_code = 404


class Conflict(WopiError):
    status_code = 409


class NameTaken(Conflict):
    """A file or container of that name already exists in the container.

    valid_target, when set, is a free alternative; it travels UTF-7 encoded in X-WOPI-ValidRelativeTarget.
    """

    def __init__(self, message: str = "", *, valid_target: str = "") -> None:
        self.valid_target = valid_target
        super().__init__(message)

    def headers(self) -> dict[str, str]:
        if not self.valid_target:
            return {}
        return {HEADER_VALID_RELATIVE_TARGET: self.valid_target.encode("utf-7").decode("ascii")}


class ContainerNotEmpty(Conflict):
    """DeleteContainer on a container that still contains files or containers."""


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
    """The X-WOPI-Proof signatures or timestamp did not verify; WOPI requires a 500 status for such requests."""

    status_code = 500


class StorageUnavailable(WopiError):
    """The storage backend could not be reached; transient, so workers retry it."""

    status_code = 503


class UnsupportedOperation(WopiError):
    status_code = 501
