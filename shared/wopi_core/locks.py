"""WOPI locks in Redis: one key per file, every change an atomic compare-and-set in a Lua script.

Lock ids are opaque: they are stored and compared byte for byte, never parsed. Header values reach
us as Latin-1 decoded text, so they are encoded back to Latin-1 to keep the exact bytes the client sent.
Locks belong to no user: anyone with edit rights may refresh, save under or release a lock.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from wopi_core.errors import BadRequest, LockMismatch
from wopi_core.models import MAX_LOCK_ID_LENGTH

KEY_PREFIX = "wopi:lock:"

# Each script returns {1, ""} on success or {0, <current lock or "">} on a mismatch.
_LOCK = """
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ''}
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, ''}
end
return {0, current}
"""

_REFRESH = """
local current = redis.call('GET', KEYS[1])
if current and current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, ''}
end
return {0, current or ''}
"""

_UNLOCK = """
local current = redis.call('GET', KEYS[1])
if current and current == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {1, ''}
end
return {0, current or ''}
"""

_UNLOCK_AND_RELOCK = """
local current = redis.call('GET', KEYS[1])
if current and current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return {1, ''}
end
return {0, current or ''}
"""


@dataclass(frozen=True, slots=True)
class HeldLock:
    file_id: str
    lock_id: str
    expires_in_ms: int


def check_lock_id(lock_id: str | None, header: str = "X-WOPI-Lock") -> str:
    """Return the lock id from a request header; raise BadRequest (400) if missing, empty or too long."""
    if not lock_id:
        raise BadRequest(f"{header} is missing or empty")
    if len(lock_id) > MAX_LOCK_ID_LENGTH:
        raise BadRequest(f"{header} is longer than {MAX_LOCK_ID_LENGTH} characters")
    return lock_id


def _encode(value: str) -> bytes:
    return value.encode("latin-1", errors="replace")


def _decode(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value or ""


class LockStore:
    """Lock operations of the WOPI lock family; each raises LockMismatch (409) with the current lock."""

    def __init__(self, client: aioredis.Redis, ttl_seconds: int) -> None:
        self._client = client
        self._ttl_ms = ttl_seconds * 1000
        self._lock = client.register_script(_LOCK)
        self._refresh = client.register_script(_REFRESH)
        self._unlock = client.register_script(_UNLOCK)
        self._relock = client.register_script(_UNLOCK_AND_RELOCK)

    async def get(self, file_id: str) -> str:
        """Return the current lock id, or "" when the file is unlocked or its lock expired."""
        return _decode(await self._client.get(KEY_PREFIX + file_id))

    async def lock(self, file_id: str, lock_id: str, *, ttl_seconds: int | None = None) -> None:
        """Lock: set the lock, or refresh it when the same id already holds it; ttl_seconds overrides the expiry."""
        ttl_ms = self._ttl_ms if ttl_seconds is None else ttl_seconds * 1000
        await self._run(self._lock, file_id, [_encode(lock_id), ttl_ms])

    async def refresh(self, file_id: str, lock_id: str) -> None:
        """RefreshLock: restart the expiry of the lock held by lock_id."""
        await self._run(self._refresh, file_id, [_encode(lock_id), self._ttl_ms])

    async def unlock(self, file_id: str, lock_id: str) -> None:
        """Unlock: remove the lock held by lock_id."""
        await self._run(self._unlock, file_id, [_encode(lock_id)])

    async def unlock_and_relock(self, file_id: str, old_lock_id: str, lock_id: str) -> None:
        """UnlockAndRelock: replace the lock held by old_lock_id with lock_id, atomically."""
        args: list[bytes | int] = [_encode(old_lock_id), _encode(lock_id), self._ttl_ms]
        await self._run(self._relock, file_id, args)

    async def check_write(self, file_id: str, lock_id: str | None, current_size: int) -> None:
        """Allow a content change (PutFile) or raise LockMismatch.

        A locked file needs the matching lock id; an unlocked file may be written only while it is
        empty (the flow that creates new documents writes them unlocked).
        """
        current = await self.get(file_id)
        if current:
            if lock_id != current:
                raise LockMismatch(current, "the file is locked by another lock id")
            return
        if current_size != 0:
            raise LockMismatch("", "the file is not locked and not empty")

    async def check_change(self, file_id: str, lock_id: str | None) -> None:
        """Allow a change other than content (RenameFile, DeleteFile when lock_id is None) or raise LockMismatch."""
        current = await self.get(file_id)
        if current and lock_id != current:
            raise LockMismatch(current, "the file is locked by another lock id")

    async def held(self) -> list[HeldLock]:
        """Return every lock currently held, for operators."""
        result = []
        async for key in self._client.scan_iter(match=KEY_PREFIX + "*", count=500):
            value, ttl = await self._client.get(key), await self._client.pttl(key)
            if value is not None:
                file_id = _decode(key).removeprefix(KEY_PREFIX)
                result.append(HeldLock(file_id=file_id, lock_id=_decode(value), expires_in_ms=max(int(ttl), 0)))
        return sorted(result, key=lambda held: held.file_id)

    async def release(self, file_id: str) -> bool:
        """Remove a lock whatever its id (operators' force-unlock); return whether one was held."""
        return bool(await self._client.delete(KEY_PREFIX + file_id))

    async def _run(self, script: AsyncScript, file_id: str, args: list[bytes | int]) -> None:
        ok, current = await script(keys=[KEY_PREFIX + file_id], args=args)
        if not ok:
            current_lock = _decode(current)
            reason = "the file is locked by another lock id" if current_lock else "the file is not locked"
            raise LockMismatch(current_lock, reason)
