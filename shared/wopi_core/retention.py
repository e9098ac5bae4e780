"""The version policy: which recorded versions the retention job removes from listings.

Every save is recorded. The retention job then marks versions in the history, never in storage:
- coalesced: with WOPI_VERSION_COALESCE, every save of a finished editing session except its last. A
  session is the saves sharing a WOPI session id, or a lock id when no session id was sent. It has finished
  once its last save is older than the lock expiry, because a live session keeps refreshing its lock.
  Saves with neither id are never coalesced.
- expired: beyond the newest WOPI_VERSION_RETENTION_COUNT versions, or older than
  WOPI_VERSION_RETENTION_DAYS days. With both set, a version must pass both to stay.
The current version is never marked. Retried saves (``duplicate_of``) are already hidden and not counted.
Object versions stay in storage: marks hide versions from listings and restore, they free no space.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from wopi_core.errors import FileNotFound
from wopi_core.history import HistoryStore, VersionRecord
from wopi_core.settings import Settings
from wopi_core.storage.base import StorageBackend

COALESCED = "coalesced"
EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    keep_count: int = 0
    """Newest versions kept; 0 keeps all."""
    keep_days: int = 0
    """Versions younger than this many days are kept; 0 keeps all."""
    coalesce: bool = False
    session_idle_seconds: int = 1800
    """A session whose last save is older than this has ended."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            keep_count=settings.version_retention_count,
            keep_days=settings.version_retention_days,
            coalesce=settings.version_coalesce,
            session_idle_seconds=settings.lock_ttl,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.keep_count or self.keep_days or self.coalesce)


def session_key(record: VersionRecord) -> str:
    """Return what groups a record's save with the other saves of its editing session, or ""."""
    return record.session_id or record.lock_id


def coalesced_versions(records: Sequence[VersionRecord], now: datetime, idle_seconds: int) -> set[str]:
    """Return the ids of every save of a finished session except the session's last save."""
    sessions: dict[str, list[VersionRecord]] = defaultdict(list)
    for record in records:
        key = session_key(record)
        if key:
            sessions[key].append(record)
    idle = timedelta(seconds=idle_seconds)
    result: set[str] = set()
    for saves in sessions.values():
        last = max(saves, key=lambda r: r.modified_at)
        if now - last.modified_at >= idle:
            result.update(r.version_id for r in saves if r is not last)
    return result


def plan_retention(
    records: Sequence[VersionRecord], current_version: str, now: datetime, policy: RetentionPolicy
) -> dict[str, str]:
    """Return the marks the policy gives a file's versions: version_id -> COALESCED or EXPIRED.

    records are in the history's order, oldest first; the current version never gets a mark.
    """
    candidates = sorted((r for r in records if not r.duplicate_of), key=lambda r: r.modified_at)
    marks: dict[str, str] = {}
    if policy.coalesce:
        marks.update(dict.fromkeys(coalesced_versions(candidates, now, policy.session_idle_seconds), COALESCED))
    kept = [r for r in candidates if r.version_id not in marks]
    if policy.keep_count:
        marks.update(dict.fromkeys((r.version_id for r in kept[: -policy.keep_count]), EXPIRED))
    if policy.keep_days:
        limit = now - timedelta(days=policy.keep_days)
        marks.update({r.version_id: EXPIRED for r in kept if r.modified_at < limit})
    marks.pop(current_version, None)
    return marks


def apply_retention(
    storage: StorageBackend, store: HistoryStore, file_id: str, policy: RetentionPolicy, now: datetime
) -> dict[str, str]:
    """Mark a file's versions according to the policy and return the marks that are new.

    Marks only accumulate, so a second run changes nothing. A deleted file gets no marks.
    """
    try:
        current = storage.stat(file_id).version
    except FileNotFound:
        return {}
    existing = store.marks(file_id)
    planned = plan_retention(store.list(file_id), current, now, policy)
    new = {version: mark for version, mark in planned.items() if version not in existing}
    store.set_marks(file_id, new)
    return new
