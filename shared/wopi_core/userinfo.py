"""PutUserInfo storage: one string per user in Redis, returned as UserInfo in that user's CheckFileInfo."""

from __future__ import annotations

import redis.asyncio as aioredis

from wopi_core.errors import BadRequest

KEY_PREFIX = "wopi:userinfo:"
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
