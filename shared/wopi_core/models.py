"""WOPI header names, permissions and the file and version models shared by every layer."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

HEADER_OVERRIDE = "X-WOPI-Override"
HEADER_LOCK = "X-WOPI-Lock"
HEADER_OLD_LOCK = "X-WOPI-OldLock"
HEADER_LOCK_FAILURE_REASON = "X-WOPI-LockFailureReason"
HEADER_ITEM_VERSION = "X-WOPI-ItemVersion"
HEADER_MAX_EXPECTED_SIZE = "X-WOPI-MaxExpectedSize"
HEADER_EDITORS = "X-WOPI-Editors"
HEADER_CORRELATION_ID = "X-WOPI-CorrelationID"
HEADER_REQUEST_ID = "X-Request-ID"
HEADER_SESSION_ID = "X-WOPI-SessionId"
HEADER_SERVER_ERROR = "X-WOPI-ServerError"
HEADER_SERVER_VERSION = "X-WOPI-ServerVersion"
HEADER_PROOF = "X-WOPI-Proof"
HEADER_PROOF_OLD = "X-WOPI-ProofOld"
HEADER_TIMESTAMP = "X-WOPI-TimeStamp"
HEADER_SUGGESTED_TARGET = "X-WOPI-SuggestedTarget"
HEADER_RELATIVE_TARGET = "X-WOPI-RelativeTarget"
HEADER_OVERWRITE_RELATIVE_TARGET = "X-WOPI-OverwriteRelativeTarget"
HEADER_VALID_RELATIVE_TARGET = "X-WOPI-ValidRelativeTarget"
HEADER_REQUESTED_NAME = "X-WOPI-RequestedName"
HEADER_INVALID_FILE_NAME_ERROR = "X-WOPI-InvalidFileNameError"
HEADER_URL_TYPE = "X-WOPI-UrlType"
HEADER_SIZE = "X-WOPI-Size"
HEADER_FILE_CONVERSION = "X-WOPI-FileConversion"
HEADER_SESSION_CONTEXT = "X-WOPI-SessionContext"
HEADER_INVALID_CONTAINER_NAME_ERROR = "X-WOPI-InvalidContainerNameError"
HEADER_FILE_EXTENSION_FILTER_LIST = "X-WOPI-FileExtensionFilterList"
HEADER_ENUMERATION_INCOMPLETE = "X-WOPI-EnumerationIncomplete"
HEADER_HOST_NATIVE_FILE_NAME = "X-WOPI-HostNativeFileName"
HEADER_COOL_TIMESTAMP = "X-COOL-WOPI-Timestamp"
HEADER_COOL_IS_MODIFIED_BY_USER = "X-COOL-WOPI-IsModifiedByUser"
HEADER_COOL_IS_AUTOSAVE = "X-COOL-WOPI-IsAutosave"
HEADER_COOL_IS_EXIT_SAVE = "X-COOL-WOPI-IsExitSave"
HEADER_LOOL_TIMESTAMP = "X-LOOL-WOPI-Timestamp"

MAX_LOCK_ID_LENGTH = 1024
ROOT_CONTAINER_ID = "root"
ROOT_CONTAINER_NAME = "Files"


class Permission(enum.StrEnum):
    VIEW = "view"
    EDIT = "edit"


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class FileInfo:
    """The current state of one stored file, as CheckFileInfo and GetFile report it."""

    file_id: str
    name: str
    owner_id: str
    size: int
    sha256: str
    """Base64 of the SHA-256 digest of the content, the form WOPI's SHA256 property takes."""
    version: str
    """Storage version id of the current content; never repeats for one file."""
    modified_at: datetime
    modified_by: str
    container_id: str = ROOT_CONTAINER_ID
    """The container (folder) the file belongs to; names are unique within one container."""


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """One container (folder). The root container always exists and has no parent."""

    container_id: str
    name: str
    parent_id: str | None
    """The parent container's id; None only for the root container."""

    @property
    def is_root(self) -> bool:
        return self.parent_id is None


ROOT_CONTAINER = ContainerInfo(ROOT_CONTAINER_ID, ROOT_CONTAINER_NAME, None)


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One stored version of a file's content."""

    file_id: str
    version: str
    size: int
    sha256: str
    modified_at: datetime
    modified_by: str
