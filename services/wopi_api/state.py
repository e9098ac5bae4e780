"""Typed access to what the lifespan opens: settings, Redis, storage, locks and the event publisher."""

from __future__ import annotations

from typing import TypedDict, cast

import redis.asyncio as aioredis
from starlette.requests import HTTPConnection

from wopi_api.events import EventPublisher
from wopi_api.proofs import ProofVerifier
from wopi_core.locks import LockStore
from wopi_core.settings import Settings
from wopi_core.storage.base import StorageBackend
from wopi_core.userinfo import CachedUserInfo


class AppState(TypedDict):
    settings: Settings
    redis: aioredis.Redis
    storage: StorageBackend
    locks: LockStore
    publisher: EventPublisher
    proofs: ProofVerifier
    user_info: CachedUserInfo


def app_state(connection: HTTPConnection) -> AppState:
    """Return the lifespan state of the request's application."""
    return cast(AppState, connection.scope["state"])
