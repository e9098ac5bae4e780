"""Opens Redis, storage, locks and the event publisher at start-up and closes them at shutdown."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import redis
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from wopi_api.events import EventPublisher
from wopi_api.proofs import ProofVerifier
from wopi_api.state import AppState
from wopi_core.discovery_store import load_cached, refresh_discovery
from wopi_core.locks import LockStore
from wopi_core.settings import Settings
from wopi_core.storage import create_storage

logger = logging.getLogger(__name__)


def make_lifespan(settings: Settings) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[AppState]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[AppState]:
        client = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout,
            socket_connect_timeout=settings.redis_timeout,
            health_check_interval=30,
        )
        storage = await run_in_threadpool(create_storage, settings)
        publisher = EventPublisher(settings)
        proofs = ProofVerifier(settings, client, publisher)
        await run_in_threadpool(prime_discovery, settings)
        await proofs.reload()
        logger.info(
            "front-end started storage=%s base_url=%s proof_keys=%s",
            settings.storage_kind,
            settings.base_url,
            settings.proof_keys.value,
        )
        try:
            yield AppState(
                settings=settings,
                redis=client,
                storage=storage,
                locks=LockStore(client, settings.lock_ttl),
                publisher=publisher,
                proofs=proofs,
            )
        finally:
            publisher.close()
            await client.aclose()
            logger.info("front-end stopped")

    return lifespan


def prime_discovery(settings: Settings) -> None:
    """Fetch discovery once at start-up when Redis has no copy yet, so the first WOPI call finds keys."""
    if not settings.discovery_url:
        return
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=settings.redis_timeout)
    try:
        if load_cached(client) is None:
            refresh_discovery(client, settings.discovery_url)
    finally:
        client.close()
