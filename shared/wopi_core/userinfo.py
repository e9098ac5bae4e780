"""PutUserInfo storage: one string per user in Redis, returned as UserInfo in that user's CheckFileInfo."""

from __future__ import annotations

import asyncio
import logging
import time

import redis
import redis.asyncio as aioredis

from wopi_core.errors import BadRequest

logger = logging.getLogger(__name__)

KEY_PREFIX = "wopi:userinfo:"
RESUBSCRIBE_DELAY_SECONDS = 1.0
POLL_SECONDS = 0.5
MAX_USER_INFO_LENGTH = 1024


class UserInfoStore:
    """Keeps the UserInfo string WOPI clients store per user (not per file)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def get(self, user_id: str) -> str:
        """Return the user's stored UserInfo, or "" when none was stored."""
        value = await self._client.get(KEY_PREFIX + user_id)
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return value or ""

    async def put(self, user_id: str, user_info: str) -> None:
        """Store user_info for the user; raise BadRequest when it is longer than 1024 characters."""
        if len(user_info) > MAX_USER_INFO_LENGTH:
            raise BadRequest(f"UserInfo is longer than {MAX_USER_INFO_LENGTH} characters")
        await self._client.set(KEY_PREFIX + user_id, user_info.encode("utf-8"))


CHANGES_CHANNEL = "wopi:channel:userinfo-changed"
"""Pub/sub channel on which every PutUserInfo announces the user id whose UserInfo changed."""


class CachedUserInfo:
    """UserInfo values kept in process memory and invalidated through Redis pub/sub.

    CheckFileInfo returns UserInfo on every call, and a Redis round trip per call would cost more than
    the rest of CheckFileInfo. Every PutUserInfo publishes the user id; each front-end drops that entry
    when the message arrives. While the subscription is down, entries are not trusted and every read
    goes to Redis; max_age bounds how long a copy may live even if a message were lost.
    """

    def __init__(self, client: aioredis.Redis, *, max_age: float = 60.0, max_entries: int = 10000) -> None:
        self._store = UserInfoStore(client)
        self._client = client
        self._max_age = max_age
        self._max_entries = max_entries
        self._entries: dict[str, tuple[str, float]] = {}
        self._invalidations = 0
        self._stopped = False
        self.subscribed = False

    async def get(self, user_id: str) -> str:
        """Return the user's UserInfo, from memory when a trusted copy exists, else from Redis."""
        entry = self._entries.get(user_id)
        if entry is not None and self.subscribed and time.monotonic() - entry[1] < self._max_age:
            return entry[0]
        # An invalidation that arrives while the GET is on its way must win over the value it returns.
        seen = self._invalidations
        value = await self._store.get(user_id)
        if self.subscribed and seen == self._invalidations:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[user_id] = (value, time.monotonic())
        return value

    async def put(self, user_id: str, user_info: str) -> None:
        """Store the user's UserInfo and tell every front-end to drop its copy."""
        await self._store.put(user_id, user_info)
        self._forget(user_id)
        await self._client.publish(CHANGES_CHANNEL, user_id.encode("utf-8"))

    async def listen(self, subscriber: aioredis.Redis) -> None:
        """Apply invalidations until stop() is called; subscriber is a client without a read timeout."""
        # redis-py can absorb a cancellation that arrives while it connects, so the loops poll with a
        # timeout and check a flag instead of relying on cancellation alone.
        while not self._stopped:
            try:
                async with subscriber.pubsub() as pubsub:
                    await pubsub.subscribe(CHANGES_CHANNEL)
                    self._forget_all()
                    self.subscribed = True
                    while not self._stopped:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
                        if message is not None and message.get("type") == "message":
                            data = message["data"]
                            self._forget(data.decode("utf-8") if isinstance(data, bytes) else str(data))
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                logger.warning("UserInfo invalidation subscription lost; retrying error=%s", type(exc).__name__)
            finally:
                self.subscribed = False
                self._forget_all()
            if not self._stopped:
                await asyncio.sleep(RESUBSCRIBE_DELAY_SECONDS)

    def stop(self) -> None:
        """Make listen() return at its next step; the caller then cancels the task running it."""
        self._stopped = True

    def _forget(self, user_id: str) -> None:
        self._invalidations += 1
        self._entries.pop(user_id, None)

    def _forget_all(self) -> None:
        self._invalidations += 1
        self._entries.clear()
