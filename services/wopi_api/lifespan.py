"""Opens Redis, storage, locks and the event publisher at start-up and closes them at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
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
from wopi_core.userinfo import CachedUserInfo

logger = logging.getLogger(__name__)

LISTENER_STOP_TIMEOUT_SECONDS = 5.0


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
        user_info = CachedUserInfo(client)
        # The subscription waits for messages indefinitely, so its client has no read timeout.
        subscriber = aioredis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=settings.redis_timeout, health_check_interval=30
        )
        listener = asyncio.create_task(user_info.listen(subscriber), name="userinfo-invalidations")
        # Objects made at start-up live as long as the process: moving them out of the collector's view
        # keeps full collections, which the many short-lived objects of each request trigger, cheap.
        gc.freeze()
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
                user_info=user_info,
            )
        finally:
            user_info.stop()
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(listener, LISTENER_STOP_TIMEOUT_SECONDS)
            await subscriber.aclose()
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
