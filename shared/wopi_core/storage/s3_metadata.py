"""How the facts about one S3 object version travel as its user metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, unquote

from wopi_core.models import ROOT_CONTAINER_ID

META_NAME = "name"
META_OWNER_ID = "owner-id"
META_SHA256 = "sha256"
META_SIZE = "size"
META_MODIFIED_BY = "modified-by"
META_MODIFIED_AT = "modified-at"
META_CONTAINER_ID = "container-id"
META_HEADER_PREFIX = "x-amz-meta-"


class MetadataError(ValueError):
    """An object lacks the user metadata this backend writes, or a value in it is invalid."""


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """The facts about one object version that its user metadata stores."""

    name: str
    owner_id: str
    sha256: str
    size: int
    modified_by: str
    modified_at: datetime
    container_id: str = ROOT_CONTAINER_ID


def encode_metadata(record: VersionRecord) -> dict[str, str]:
    """Return the S3 user metadata for record.

    S3 metadata values travel as HTTP headers, which carry ASCII only and lose leading and trailing
    spaces, so the free-text values are percent-encoded UTF-8.
    """
    # NOTE: AWS S3 limits user metadata to 2 KB (S3 user guide, "Working with object metadata"). A name of
    # 255 four-byte UTF-8 characters encodes to 3,060 bytes. moto accepts that, but AWS S3 would reject it.
    return {
        META_NAME: quote(record.name, safe=""),
        META_OWNER_ID: quote(record.owner_id, safe=""),
        META_SHA256: record.sha256,
        META_SIZE: str(record.size),
        META_MODIFIED_BY: quote(record.modified_by, safe=""),
        META_MODIFIED_AT: record.modified_at.isoformat(),
        META_CONTAINER_ID: record.container_id,
    }


def decode_metadata(headers: Mapping[str, str]) -> VersionRecord:
    """Read a VersionRecord from the headers of a HEAD response; raise MetadataError if one is missing or invalid."""
    values = {key.lower(): value for key, value in headers.items() if key.lower().startswith(META_HEADER_PREFIX)}

    def field(name: str) -> str:
        try:
            return values[META_HEADER_PREFIX + name]
        except KeyError:
            raise MetadataError(f"the object has no {name!r} metadata") from None

    def text(name: str) -> str:
        # An empty owner id or modifier may not survive as a header, so those two default to "".
        value = values.get(META_HEADER_PREFIX + name, "") if name != META_NAME else field(name)
        return unquote(value, errors="strict")

    try:
        return VersionRecord(
            name=text(META_NAME),
            owner_id=text(META_OWNER_ID),
            sha256=field(META_SHA256),
            size=int(field(META_SIZE)),
            modified_by=text(META_MODIFIED_BY),
            modified_at=datetime.fromisoformat(field(META_MODIFIED_AT)),
            # Objects written before containers existed belong to the root.
            container_id=values.get(META_HEADER_PREFIX + META_CONTAINER_ID) or ROOT_CONTAINER_ID,
        )
    except ValueError as exc:
        # MetadataError is a ValueError too, so a missing field passes through unchanged.
        if isinstance(exc, MetadataError):
            raise
        raise MetadataError(f"invalid object metadata: {exc}") from exc
