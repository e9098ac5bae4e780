"""Version history kept in Redis, and the two ways a version enters it: a save event and reconciliation.

Keys (all under ``wopi:``):

    wopi:history:<file_id>          hash   version_id -> VersionRecord as JSON
    wopi:history:<file_id>:order    zset   version_id scored by modification time, for oldest-first listing
    wopi:history:<file_id>:marks    hash   version_id -> retention mark ("coalesced" or "expired")
    wopi:users:display_names        hash   user_id -> display name, written by the front-end when it starts a session
    wopi:reconcile:last             string ReconcileReport of the last reconciliation run, as JSON

Recording is idempotent by (file_id, version_id). A Lua script writes the hash field only if it is absent
and adds the ordering entry in the same step, so a redelivered event or a reconciliation that races a
worker never records a version twice. Storage stays the source of truth, and the history only enriches it.

A retried save (same author, same SHA-256, same lock and session when known, within
DUPLICATE_WINDOW_SECONDS of the version before it) is a new object version in storage, because every
PutFile must change X-WOPI-ItemVersion, but the history records it with ``duplicate_of`` naming the
version it repeats, and listings leave it out.
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis

from wopi_core.errors import FileNotFound
from wopi_core.models import VersionInfo
from wopi_core.storage.base import StorageBackend

logger = logging.getLogger(__name__)

KEY_PREFIX = "wopi:"
DISPLAY_NAMES_KEY = KEY_PREFIX + "users:display_names"
RECONCILE_LAST_KEY = KEY_PREFIX + "reconcile:last"
DUPLICATE_WINDOW_SECONDS = 30.0
"""A save repeating the version before it within this many seconds is recorded as a duplicate."""

# KEYS[1] is the history hash and KEYS[2] the ordering zset.
# ARGV[1] is the version id, ARGV[2] the record as JSON and ARGV[3] the score.
_RECORD_SCRIPT = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
    redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1])
    return 1
end
return 0
"""

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One version of a file as the history keeps it: the storage facts plus who and which call made it."""

    file_id: str
    version_id: str
    size: int
    sha256: str
    modified_at: datetime
    modified_by: str
    author_name: str
    """Display name of modified_by when known, else an empty string."""
    correlation_id: str
    session_id: str
    recorded_at: datetime
    lock_id: str = ""
    """The WOPI lock the save was made under, when the event carried it."""
    duplicate_of: str = ""
    """The version this save repeats (a client retry), or an empty string."""

    @classmethod
    def from_version(
        cls,
        info: VersionInfo,
        *,
        author_name: str = "",
        correlation_id: str = "",
        session_id: str = "",
        recorded_at: datetime,
        lock_id: str = "",
        duplicate_of: str = "",
    ) -> VersionRecord:
        """Build the record of a stored version."""
        return cls(
            file_id=info.file_id,
            version_id=info.version,
            size=info.size,
            sha256=info.sha256,
            modified_at=info.modified_at,
            modified_by=info.modified_by,
            author_name=author_name,
            correlation_id=correlation_id,
            session_id=session_id,
            recorded_at=recorded_at,
            lock_id=lock_id,
            duplicate_of=duplicate_of,
        )

    def repeats(self, earlier: VersionRecord) -> bool:
        """Tell whether this save is a retry of earlier: same content and author, moments later.

        Lock and session ids are compared only when both records carry them, because a version that
        reconciliation recorded carries neither.
        """
        delay = (self.modified_at - earlier.modified_at).total_seconds()
        return (
            self.version_id != earlier.version_id
            and self.sha256 == earlier.sha256
            and self.modified_by == earlier.modified_by
            and 0 <= delay <= DUPLICATE_WINDOW_SECONDS
            and _same_when_known(self.lock_id, earlier.lock_id)
            and _same_when_known(self.session_id, earlier.session_id)
        )

    def to_json(self) -> str:
        """Serialise the record, with times in ISO 8601."""
        data = asdict(self)
        data["modified_at"] = self.modified_at.isoformat()
        data["recorded_at"] = self.recorded_at.isoformat()
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> VersionRecord:
        """Parse what to_json wrote."""
        data: dict[str, Any] = json.loads(raw)
        data["modified_at"] = datetime.fromisoformat(data["modified_at"])
        data["recorded_at"] = datetime.fromisoformat(data["recorded_at"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """Counts of one reconciliation run, kept in Redis for `wopihost status` and the metrics endpoint."""

    started_at: datetime
    finished_at: datetime
    files: int
    """Files listed by storage."""
    versions: int
    """Versions listed across those files."""
    recorded: int
    """Versions that were missing from the history and have now been recorded."""
    vanished: int
    """Files deleted between the listing and the reading of their versions."""

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def to_json(self) -> str:
        """Serialise the report, with times in ISO 8601."""
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> ReconcileReport:
        """Parse what to_json wrote."""
        data: dict[str, Any] = json.loads(raw)
        data["started_at"] = datetime.fromisoformat(data["started_at"])
        data["finished_at"] = datetime.fromisoformat(data["finished_at"])
        return cls(**data)


def _same_when_known(first: str, second: str) -> bool:
    return not first or not second or first == second


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class HistoryStore:
    """The version history of every file, in Redis (see the module docstring for the keys)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._record_script = client.register_script(_RECORD_SCRIPT)

    @staticmethod
    def history_key(file_id: str) -> str:
        return f"{KEY_PREFIX}history:{file_id}"

    @staticmethod
    def order_key(file_id: str) -> str:
        return f"{KEY_PREFIX}history:{file_id}:order"

    @staticmethod
    def marks_key(file_id: str) -> str:
        return f"{KEY_PREFIX}history:{file_id}:marks"

    def record(self, rec: VersionRecord) -> bool:
        """Store rec unless (file_id, version_id) is already recorded. Return True if it was new.

        A retry of the latest recorded save (see VersionRecord.repeats) is stored with duplicate_of set.
        """
        previous = self.latest(rec.file_id)
        if previous is not None and not rec.duplicate_of and rec.repeats(previous):
            rec = replace(rec, duplicate_of=previous.duplicate_of or previous.version_id)
            logger.info(
                "save repeats an earlier version file_id=%s version_id=%s duplicate_of=%s",
                rec.file_id,
                rec.version_id,
                rec.duplicate_of,
            )
        keys = [self.history_key(rec.file_id), self.order_key(rec.file_id)]
        added = self._record_script(keys=keys, args=[rec.version_id, rec.to_json(), rec.modified_at.timestamp()])
        return bool(added)

    def has(self, file_id: str, version_id: str) -> bool:
        """Return True if this version of the file is recorded."""
        return bool(self._client.hexists(self.history_key(file_id), version_id))

    def list(self, file_id: str) -> builtins.list[VersionRecord]:
        """Return the recorded versions of a file, oldest first. An unknown file has none."""
        order: builtins.list[bytes | str] = self._client.zrange(self.order_key(file_id), 0, -1)  # type: ignore[assignment]
        if not order:
            return []
        values: builtins.list[bytes | str | None] = self._client.hmget(
            self.history_key(file_id), [_text(v) for v in order]
        )
        return [VersionRecord.from_json(value) for value in values if value is not None]

    def get(self, file_id: str, version_id: str) -> VersionRecord | None:
        """Return the record of one version, or None when it is not recorded."""
        value: bytes | str | None = self._client.hget(self.history_key(file_id), version_id)
        return VersionRecord.from_json(value) if value is not None else None

    def latest(self, file_id: str) -> VersionRecord | None:
        """Return the most recently modified recorded version, or None when there is none."""
        newest: builtins.list[bytes | str] = self._client.zrevrange(self.order_key(file_id), 0, 0)  # type: ignore[assignment]
        return self.get(file_id, _text(newest[0])) if newest else None

    def marks(self, file_id: str) -> dict[str, str]:
        """Return the retention marks of a file's versions: version_id -> "coalesced" or "expired"."""
        raw: dict[bytes | str, bytes | str] = self._client.hgetall(self.marks_key(file_id))
        return {_text(key): _text(value) for key, value in raw.items()}

    def set_marks(self, file_id: str, marks: dict[str, str]) -> None:
        """Add retention marks; a version once marked stays marked."""
        if marks:
            self._client.hset(self.marks_key(file_id), mapping=marks)  # type: ignore[arg-type]

    def files(self) -> builtins.list[str]:
        """Return the ids of every file with a recorded history."""
        found: set[str] = set()
        for key in self._client.scan_iter(match=f"{KEY_PREFIX}history:*:order", count=500):
            found.add(_text(key).removeprefix(f"{KEY_PREFIX}history:").removesuffix(":order"))
        return sorted(found)

    def forget(self, file_id: str) -> None:
        """Remove the whole history of a file, for example after the file itself was deleted."""
        self._client.delete(self.history_key(file_id), self.order_key(file_id), self.marks_key(file_id))

    def set_display_name(self, user_id: str, display_name: str) -> None:
        """Remember a user's display name so that later records of their saves carry it."""
        self._client.hset(DISPLAY_NAMES_KEY, user_id, display_name)

    def display_name(self, user_id: str) -> str:
        """Return the remembered display name of a user, or an empty string."""
        value: bytes | str | None = self._client.hget(DISPLAY_NAMES_KEY, user_id)
        return _text(value) if value is not None else ""

    def save_reconcile_report(self, report: ReconcileReport) -> None:
        """Keep report as the last reconciliation run."""
        self._client.set(RECONCILE_LAST_KEY, report.to_json())

    def last_reconcile(self) -> ReconcileReport | None:
        """Return the last reconciliation run, or None if none has finished yet."""
        value: bytes | str | None = self._client.get(RECONCILE_LAST_KEY)
        return ReconcileReport.from_json(value) if value is not None else None


class RecordOutcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    FILE_GONE = "file_gone"
    VERSION_GONE = "version_gone"


def record_stored_version(
    store: HistoryStore,
    info: VersionInfo,
    *,
    correlation_id: str = "",
    session_id: str = "",
    lock_id: str = "",
    clock: Clock = utc_now,
) -> bool:
    """Record one version that storage listed. Return True if it was not recorded before.

    Both the save event and reconciliation record through this function, so a version enters the
    history the same way whichever path finds it first.
    """
    rec = VersionRecord.from_version(
        info,
        author_name=store.display_name(info.modified_by) if info.modified_by else "",
        correlation_id=correlation_id,
        session_id=session_id,
        recorded_at=clock(),
        lock_id=lock_id,
    )
    return store.record(rec)


def record_version(
    storage: StorageBackend,
    store: HistoryStore,
    file_id: str,
    version_id: str,
    *,
    correlation_id: str = "",
    session_id: str = "",
    lock_id: str = "",
    clock: Clock = utc_now,
) -> RecordOutcome:
    """Read one version of a file from storage and record it in the history.

    A file deleted, or a version removed, since the save is not an error: there is nothing left to
    record. StorageUnavailable and Redis errors propagate so that the caller can retry.
    """
    try:
        versions = storage.list_versions(file_id)
    except FileNotFound:
        return RecordOutcome.FILE_GONE
    info = next((v for v in versions if v.version == version_id), None)
    if info is None:
        return RecordOutcome.VERSION_GONE
    added = record_stored_version(
        store, info, correlation_id=correlation_id, session_id=session_id, lock_id=lock_id, clock=clock
    )
    return RecordOutcome.RECORDED if added else RecordOutcome.DUPLICATE


def reconcile(storage: StorageBackend, store: HistoryStore, *, clock: Clock = utc_now) -> ReconcileReport:
    """Record every stored version that the history lacks, and return the counts of the run.

    This recovers saves whose event was never published or never processed. Files deleted while the
    scan runs are counted and skipped.

    NOTE: each run lists every file and queries Redis for every version one call at a time, so its
    duration grows with the number of stored versions. It has only been run on small data sets.
    """
    started_at = clock()
    files = versions = recorded = vanished = 0
    for file_info in storage.list_files():
        files += 1
        try:
            stored = storage.list_versions(file_info.file_id)
        except FileNotFound:
            vanished += 1
            continue
        versions += len(stored)
        for info in stored:
            if store.has(info.file_id, info.version):
                continue
            if record_stored_version(store, info, clock=clock):
                recorded += 1
                logger.info("recovered version file_id=%s version_id=%s", info.file_id, info.version)
    return ReconcileReport(
        started_at=started_at,
        finished_at=clock(),
        files=files,
        versions=versions,
        recorded=recorded,
        vanished=vanished,
    )
