"""Version listings for operators, and restoring an old version as a new current one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from wopi_core.history import VersionRecord
from wopi_core.models import FileInfo
from wopi_core.storage.base import StorageBackend

KEPT = "kept"
DUPLICATE = "duplicate"


class ChunkReader:
    """Turns an iterator of byte chunks into a readable source for StorageBackend.write."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1, /) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buffer += chunk
        if size < 0:
            result, self._buffer = self._buffer, b""
        else:
            result, self._buffer = self._buffer[:size], self._buffer[size:]
        return result

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def restore_version(
    storage: StorageBackend, file_id: str, version: str, *, modified_by: str, max_size: int
) -> FileInfo:
    """Store the content of an older version as the file's new current version and return its state.

    Raise FileNotFound for an unknown file or version. The caller checks the lock first. The content is
    streamed from the old version into the new one, never held whole in memory.
    """
    _, chunks = storage.open_content(file_id, version)
    reader = ChunkReader(chunks)
    try:
        return storage.write(file_id, reader, modified_by=modified_by, max_size=max_size)
    finally:
        reader.close()


def version_state(record: VersionRecord, marks: dict[str, str]) -> str:
    """Return "kept", "duplicate" (a retried save), or the retention mark ("coalesced", "expired")."""
    if record.duplicate_of:
        return DUPLICATE
    return marks.get(record.version_id, KEPT)


def describe_versions(
    records: Sequence[VersionRecord], marks: dict[str, str], current_version: str, *, include_hidden: bool = False
) -> list[dict[str, Any]]:
    """Return the versions as JSON-ready dicts, newest first; hidden ones only with include_hidden.

    When the current version is a retried save, the version it repeats (same content) is shown as
    current instead. The current version is always listed, whatever its retention mark.
    """
    by_id = {record.version_id: record for record in records}
    current_record = by_id.get(current_version)
    shown_current = current_record.duplicate_of if current_record and current_record.duplicate_of else current_version
    result = []
    for record in sorted(records, key=lambda r: r.modified_at, reverse=True):
        state = version_state(record, marks)
        current = record.version_id == shown_current
        if not include_hidden and (state == DUPLICATE or (state != KEPT and not current)):
            continue
        result.append(
            {
                "version": record.version_id,
                "author_id": record.modified_by,
                "author_name": record.author_name,
                "modified_at": record.modified_at.isoformat(),
                "size": record.size,
                "sha256": record.sha256,
                "correlation_id": record.correlation_id,
                "session_id": record.session_id,
                "current": current,
                "state": state,
                "duplicate_of": record.duplicate_of,
            }
        )
    return result
