"""The metadata index: one Redis record per file that the API's file list and search read.

Keys (all under ``wopi:index:``):

    wopi:index:file:<file_id>   hash   the fields of IndexEntry
    wopi:index:files            zset   file_id scored by modification time

Workers write it after recording a version and during reconciliation; the front-end only reads it.
WOPI responses never read the index because storage serves them, so a stale index only delays listings.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import redis
import redis.asyncio as aioredis

from wopi_core.errors import FileNotFound
from wopi_core.history import HistoryStore
from wopi_core.locks import KEY_PREFIX as LOCK_KEY_PREFIX
from wopi_core.storage.base import StorageBackend

logger = logging.getLogger(__name__)

ENTRY_PREFIX = "wopi:index:file:"
FILES_KEY = "wopi:index:files"
DEFAULT_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """The indexed state of one file, as of indexed_at."""

    file_id: str
    name: str
    size: int
    sha256: str
    version: str
    modified_by: str
    modified_at: datetime
    version_count: int
    """Versions in the history, leaving out retried saves and versions retention removed."""
    locked: bool
    """Whether a WOPI lock was held when the worker indexed the file."""
    indexed_at: datetime

    def to_fields(self) -> dict[str, str]:
        data = asdict(self)
        data.update(
            modified_at=self.modified_at.isoformat(),
            indexed_at=self.indexed_at.isoformat(),
            locked="1" if self.locked else "0",
        )
        return {key: str(value) for key, value in data.items()}

    @classmethod
    def from_fields(cls, raw: Mapping[bytes | str, bytes | str]) -> IndexEntry:
        fields = {_text(key): _text(value) for key, value in raw.items()}
        return cls(
            file_id=fields["file_id"],
            name=fields["name"],
            size=int(fields["size"]),
            sha256=fields["sha256"],
            version=fields["version"],
            modified_by=fields["modified_by"],
            modified_at=datetime.fromisoformat(fields["modified_at"]),
            version_count=int(fields["version_count"]),
            locked=fields["locked"] == "1",
            indexed_at=datetime.fromisoformat(fields["indexed_at"]),
        )

    def to_dict(self) -> dict[str, object]:
        """Return the entry as JSON-ready values."""
        data = asdict(self)
        data.update(modified_at=self.modified_at.isoformat(), indexed_at=self.indexed_at.isoformat())
        return data


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def matches(entry: IndexEntry, search: str) -> bool:
    """Tell whether an entry's name contains search, ignoring case; an empty search matches all."""
    return not search or search.casefold() in entry.name.casefold()


def select(entries: Iterable[IndexEntry], search: str = "", limit: int = DEFAULT_LIMIT) -> list[IndexEntry]:
    """Return the entries whose name matches search, ordered by name ignoring case, at most limit."""
    found = sorted((e for e in entries if matches(e, search)), key=lambda e: (e.name.casefold(), e.file_id))
    return found[: max(limit, 0)]


class FileIndex:
    """Reads and writes the index with a synchronous client (workers and the command line)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def put(self, entry: IndexEntry) -> None:
        """Store or replace the entry of one file."""
        pipe = self._client.pipeline(transaction=True)
        pipe.delete(ENTRY_PREFIX + entry.file_id)
        pipe.hset(ENTRY_PREFIX + entry.file_id, mapping=entry.to_fields())  # type: ignore[arg-type]
        pipe.zadd(FILES_KEY, {entry.file_id: entry.modified_at.timestamp()})
        pipe.execute()

    def remove(self, file_id: str) -> None:
        """Drop a file from the index; removing an unknown file does nothing."""
        pipe = self._client.pipeline(transaction=True)
        pipe.delete(ENTRY_PREFIX + file_id)
        pipe.zrem(FILES_KEY, file_id)
        pipe.execute()

    def get(self, file_id: str) -> IndexEntry | None:
        raw = self._client.hgetall(ENTRY_PREFIX + file_id)
        return IndexEntry.from_fields(raw) if raw else None

    def file_ids(self) -> builtins.list[str]:
        members: builtins.list[bytes | str] = self._client.zrange(FILES_KEY, 0, -1)  # type: ignore[assignment]
        return [_text(member) for member in members]

    def list(self, search: str = "", limit: int = DEFAULT_LIMIT) -> builtins.list[IndexEntry]:
        """Return indexed files whose name contains search, ordered by name."""
        pipe = self._client.pipeline(transaction=False)
        for file_id in self.file_ids():
            pipe.hgetall(ENTRY_PREFIX + file_id)
        return select((IndexEntry.from_fields(raw) for raw in pipe.execute() if raw), search, limit)


async def list_index(client: aioredis.Redis, search: str = "", limit: int = DEFAULT_LIMIT) -> list[IndexEntry]:
    """Return indexed files whose name contains search, ordered by name (for the front-end's event loop).

    NOTE: every entry is read and filtered here, which suits thousands of files, not millions.
    """
    members: list[bytes | str] = await client.zrange(FILES_KEY, 0, -1)  # type: ignore[assignment]
    pipe = client.pipeline(transaction=False)
    for member in members:
        pipe.hgetall(ENTRY_PREFIX + _text(member))
    rows = await pipe.execute()
    return select((IndexEntry.from_fields(raw) for raw in rows if raw), search, limit)


def visible_count(store: HistoryStore, file_id: str) -> int:
    """Count the versions a listing shows: recorded, not a retried save, not removed by retention."""
    marks = store.marks(file_id)
    return sum(1 for rec in store.list(file_id) if not rec.duplicate_of and rec.version_id not in marks)


def index_file(
    storage: StorageBackend, store: HistoryStore, index: FileIndex, client: redis.Redis, file_id: str
) -> IndexEntry | None:
    """Read one file from storage and the history and store its entry; drop it when the file is gone."""
    try:
        info = storage.stat(file_id)
    except FileNotFound:
        index.remove(file_id)
        return None
    entry = IndexEntry(
        file_id=info.file_id,
        name=info.name,
        size=info.size,
        sha256=info.sha256,
        version=info.version,
        modified_by=info.modified_by,
        modified_at=info.modified_at,
        version_count=visible_count(store, file_id),
        locked=bool(client.exists(LOCK_KEY_PREFIX + file_id)),
        indexed_at=datetime.now(UTC),
    )
    index.put(entry)
    return entry


def sync_index(storage: StorageBackend, store: HistoryStore, index: FileIndex, client: redis.Redis) -> int:
    """Index every stored file and drop entries of files storage no longer has; return the files indexed."""
    stored = {info.file_id for info in storage.list_files()}
    for file_id in sorted(stored):
        index_file(storage, store, index, client, file_id)
    for file_id in set(index.file_ids()) - stored:
        index.remove(file_id)
        logger.info("index entry dropped for a deleted file file_id=%s", file_id)
    return len(stored)
