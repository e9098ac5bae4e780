"""Operator actions shared by the /api/v1 admin routes and the `wopihost` commands: restore, force-unlock."""

from __future__ import annotations

import logging
import uuid

import redis.asyncio as aioredis
from starlette.concurrency import run_in_threadpool

from wopi_api.events import EventPublisher
from wopi_core.errors import LockMismatch
from wopi_core.events import FileSaved
from wopi_core.history import HistoryStore, VersionRecord
from wopi_core.locks import LockStore
from wopi_core.models import FileInfo
from wopi_core.settings import Settings
from wopi_core.storage.base import StorageBackend
from wopi_core.versions import restore_version

logger = logging.getLogger(__name__)

DEFAULT_RESTORER = "admin"
RESTORE_LOCK_PREFIX = "wopihost-restore-"
RESTORE_LOCK_SECONDS = 300
"""Expiry of a restore's own lock, which frees the file should the process die during the restore."""


async def restore(
    settings: Settings,
    storage: StorageBackend,
    locks: LockStore,
    publisher: EventPublisher,
    file_id: str,
    version: str,
    *,
    user_id: str = DEFAULT_RESTORER,
    lock_id: str = "",
    correlation_id: str = "",
) -> FileInfo:
    """Make an old version current as a new version, then publish the save like PutFile does.

    Raise LockMismatch while any WOPI lock other than lock_id is held, FileNotFound for an unknown file
    or version. Nothing is written when the lock check fails. On an unlocked file the restore holds a
    WOPI lock of its own while it writes, so a client that locks the file meanwhile gets 409 and cannot
    save under the restore.
    """
    current_lock = await locks.get(file_id)
    if current_lock and current_lock == lock_id:
        return await _restore(settings, storage, publisher, file_id, version, user_id, correlation_id)
    if current_lock:
        raise LockMismatch(current_lock, "the file is locked by a WOPI client")
    restore_lock = f"{RESTORE_LOCK_PREFIX}{uuid.uuid4().hex}"
    await locks.lock(file_id, restore_lock, ttl_seconds=RESTORE_LOCK_SECONDS)
    try:
        return await _restore(settings, storage, publisher, file_id, version, user_id, correlation_id)
    finally:
        try:
            await locks.unlock(file_id, restore_lock)
        except LockMismatch:
            logger.warning("restore lock of file %s expired or was released before the restore ended", file_id)


async def _restore(
    settings: Settings,
    storage: StorageBackend,
    publisher: EventPublisher,
    file_id: str,
    version: str,
    user_id: str,
    correlation_id: str,
) -> FileInfo:
    info = await run_in_threadpool(
        restore_version, storage, file_id, version, modified_by=user_id, max_size=settings.max_file_size
    )
    logger.info(
        "version restored file_id=%s from_version=%s new_version=%s by=%s", file_id, version, info.version, user_id
    )
    event = FileSaved(file_id=file_id, version_id=info.version, correlation_id=correlation_id)
    await run_in_threadpool(publisher.file_saved, event)
    return info


async def force_unlock(locks: LockStore, file_id: str, *, by: str, reason: str) -> bool:
    """Remove a file's lock whatever its id and log who did it and why; return whether one was held."""
    released = await locks.release(file_id)
    logger.warning(
        "lock force-released file_id=%s held=%s by=%s reason=%s",
        file_id,
        released,
        by,
        reason,
        extra={"file_id": file_id, "by": by, "reason": reason},
    )
    return released


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


async def read_history(client: aioredis.Redis, file_id: str) -> tuple[list[VersionRecord], dict[str, str]]:
    """Return a file's recorded versions (oldest first) and their retention marks."""
    order: list[bytes | str] = await client.zrange(HistoryStore.order_key(file_id), 0, -1)  # type: ignore[assignment]
    records: list[VersionRecord] = []
    if order:
        values: list[bytes | str | None] = await client.hmget(
            HistoryStore.history_key(file_id), [_text(v) for v in order]
        )
        records = [VersionRecord.from_json(value) for value in values if value is not None]
    raw_marks = await client.hgetall(HistoryStore.marks_key(file_id))
    return records, {_text(k): _text(v) for k, v in raw_marks.items()}
