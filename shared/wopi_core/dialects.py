"""What Collabora Online and ONLYOFFICE add to WOPI: CheckFileInfo properties and PutFile headers.

Collabora sends the LastModifiedTime it last saw as X-COOL-WOPI-Timestamp on each PutFile (older
releases, and ONLYOFFICE's WOPI mode, use the X-LOOL- prefix). When the stored file changed since then,
the host rejects the save with 409 and {"COOLStatusCode": 1010}; Collabora then prompts the user whether
to overwrite and, if so, repeats the PutFile without the timestamp. After each successful PutFile it
takes the new LastModifiedTime from the response body, so our own saves never look like outside changes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from wopi_core.models import (
    HEADER_COOL_IS_AUTOSAVE,
    HEADER_COOL_IS_EXIT_SAVE,
    HEADER_COOL_IS_MODIFIED_BY_USER,
    HEADER_COOL_TIMESTAMP,
    HEADER_LOOL_TIMESTAMP,
    FileInfo,
)
from wopi_core.tokens import TokenClaims

COOL_STATUS_DOCUMENT_CHANGED = 1010
SAVE_FLAG_HEADERS = (HEADER_COOL_IS_MODIFIED_BY_USER, HEADER_COOL_IS_AUTOSAVE, HEADER_COOL_IS_EXIT_SAVE)


@functools.lru_cache(maxsize=8192)
def wopi_time(moment: datetime) -> str:
    """Format a time as WOPI wants it: UTC ISO 8601 with seven fraction digits and Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_wopi_time(text: str) -> datetime | None:
    """Read an ISO 8601 time with up to seven fraction digits and Z or an offset; None if it is not one."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    head, dot, rest = value.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        value = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def client_timestamp(headers: Mapping[str, str]) -> str | None:
    """Return the X-COOL-WOPI-Timestamp (or X-LOOL-WOPI-Timestamp) of a PutFile, or None when absent."""
    value = headers.get(HEADER_COOL_TIMESTAMP) or headers.get(HEADER_LOOL_TIMESTAMP)
    return value.strip() if value and value.strip() else None


def changed_outside(headers: Mapping[str, str], current: FileInfo) -> bool:
    """Tell whether a PutFile must be rejected because the stored file changed since the client loaded it.

    Only a present timestamp is checked: its absence is Collabora's forced overwrite after the user chose
    to keep their version. A timestamp that is not a time at all is compared as text and so rejected.
    """
    stamp = client_timestamp(headers)
    if stamp is None or stamp == wopi_time(current.modified_at):
        return False
    parsed = parse_wopi_time(stamp)
    return parsed is None or parsed != current.modified_at.astimezone(UTC)


def save_flags(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the Collabora save flags (modified by user, autosave, exit save) a PutFile carried, for the log."""
    found = {}
    for name in SAVE_FLAG_HEADERS:
        value = headers.get(name) or headers.get(name.replace("X-COOL-", "X-LOOL-"))
        if value:
            found[name.removeprefix("X-COOL-WOPI-")] = value.strip().lower()
    return found


def collabora_properties(info: FileInfo, claims: TokenClaims) -> dict[str, Any]:
    """Return the CheckFileInfo properties Collabora Online reads beyond the WOPI set."""
    return {
        "HidePrintOption": False,
        "HideSaveOption": False,
        "HideExportOption": False,
        "DisableExport": False,
        "DisableCopy": False,
        "DisableInactiveMessages": False,
        "EnableOwnerTermination": claims.user.user_id == info.owner_id,
        "EnableInsertRemoteImage": False,
        "EnableShare": False,
        "UserExtraInfo": {},
    }
