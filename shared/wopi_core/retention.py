"""The version policy: which recorded versions the retention job marks and removes from storage.

Every save is recorded. The retention job then marks versions in the history:
- coalesced: with WOPI_VERSION_COALESCE, every save of a finished editing session except its last. A
  session is the saves sharing a WOPI session id, or a lock id when no session id was sent. It has finished
  once its last save is older than the lock expiry, because a live session keeps refreshing its lock.
  Saves with neither id are never coalesced.
- expired: beyond the newest WOPI_VERSION_RETENTION_COUNT versions, or older than
  WOPI_VERSION_RETENTION_DAYS days. With both set, a version must pass both to stay.
The current version is never marked, nor the version it repeats when it is a retried save. Retried saves
(``duplicate_of``) are already hidden and not counted.

Once marked, a version's object version is removed from storage, which frees its space. Marking comes
first and stays in the history: it explains why a version is gone, and a run cut off between marking and
removing leaves marks whose versions the next run removes. Storage raises Conflict rather than remove the
current version.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from wopi_core.errors import Conflict, FileNotFound
from wopi_core.history import HistoryStore, VersionRecord
from wopi_core.settings import Settings
from wopi_core.storage.base import StorageBackend

logger = logging.getLogger(__name__)

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

    records are in the history's order, oldest first. Neither the current version nor, when the current
    version is a retried save, the version it repeats gets a mark: listings show that one as current.
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
    for version in protected_versions(records, current_version):
        marks.pop(version, None)
    return marks


def protected_versions(records: Sequence[VersionRecord], current_version: str) -> set[str]:
    """Return the versions retention never touches: the current one and, for a retried save, the one it repeats."""
    repeated = next((r.duplicate_of for r in records if r.version_id == current_version), "")
    return {current_version, repeated} - {""}


@dataclass(frozen=True, slots=True)
class RetentionOutcome:
    """Outcome of one retention run for one file."""

    marked: dict[str, str] = field(default_factory=dict)
    """Marks added by this run: version_id -> COALESCED or EXPIRED."""
    removed: list[str] = field(default_factory=list)
    """Versions whose object version this run removed from storage, oldest first."""


def remove_marked_versions(
    storage: StorageBackend, file_id: str, marks: Mapping[str, str], keep: Collection[str]
) -> list[str]:
    """Remove from storage every stored version of the file that carries a mark; return their ids, oldest first.

    Versions already gone are skipped, so a second run removes nothing. Versions in keep stay even when
    a mark names them, and storage raises Conflict rather than remove the current version.
    """
    if not marks:
        return []
    try:
        stored = storage.list_versions(file_id)
    except FileNotFound:
        return []
    removed: list[str] = []
    for info in stored:
        if info.version not in marks or info.version in keep:
            continue
        try:
            storage.delete_version(file_id, info.version)
        except FileNotFound:
            logger.debug(
                "retention found a marked version already removed file_id=%s version=%s", file_id, info.version
            )
            continue
        except Conflict:
            logger.warning(
                "retention kept a marked version that is current file_id=%s version=%s", file_id, info.version
            )
            continue
        removed.append(info.version)
    return removed


def apply_retention(
    storage: StorageBackend, store: HistoryStore, file_id: str, policy: RetentionPolicy, now: datetime
) -> RetentionOutcome:
    """Mark a file's versions according to the policy, then remove every marked version from storage.

    Marks only accumulate and removed versions stay removed, so a second run changes nothing. A run cut
    off after marking leaves the removals to the next one. A deleted file gets no marks.
    """
    try:
        current = storage.stat(file_id).version
    except FileNotFound:
        return RetentionOutcome()
    existing = store.marks(file_id)
    records = store.list(file_id)
    planned = plan_retention(records, current, now, policy)
    new = {version: mark for version, mark in planned.items() if version not in existing}
    store.set_marks(file_id, new)
    removed = remove_marked_versions(storage, file_id, {**existing, **new}, protected_versions(records, current))
    return RetentionOutcome(marked=new, removed=removed)
