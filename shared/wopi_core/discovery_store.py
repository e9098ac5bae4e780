"""The discovery cache in Redis, shared by every front-end and refreshed by the workers.

The parsed document is stored as JSON under one key; a failed refresh never overwrites it, so the
last good copy stays in use. Fetch outcomes are counted under a second key for operators.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from wopi_core.discovery import Discovery, DiscoveryError, fetch_discovery

logger = logging.getLogger(__name__)

DISCOVERY_KEY = "wopi:discovery"
STATUS_KEY = "wopi:discovery:status"
REFRESH_REQUEST_KEY = "wopi:discovery:refresh-requested"
FETCH_TIMEOUT_SECONDS = 20.0
FORCED_REFRESH_INTERVAL_SECONDS = 60
"""At most one refresh forced by a failed or old-key-only proof per this many seconds, across all front-ends."""


@dataclass(frozen=True, slots=True)
class DiscoveryStatus:
    fetched_at: float | None
    failures: int
    last_error: str
    last_attempt_at: float | None


def refresh_discovery(client: redis.Redis, source: str, *, now: float | None = None) -> Discovery | None:
    """Fetch and parse discovery from source and cache it; on failure keep the cached copy and count it.

    Return the new document, or None when the fetch or the parse failed.
    """
    moment = time.time() if now is None else now
    client.hset(STATUS_KEY, "last_attempt_at", moment)
    try:
        discovery = fetch_discovery(source, FETCH_TIMEOUT_SECONDS, now=moment)
        if not discovery.has_urlsrc():
            raise DiscoveryError("the discovery document has no action URLs (an unfilled template?)")
    except DiscoveryError as exc:
        client.hincrby(STATUS_KEY, "failures", 1)
        client.hset(STATUS_KEY, "last_error", str(exc)[:500])
        logger.warning("discovery refresh failed; keeping the last good copy error=%s", exc)
        return None
    client.set(DISCOVERY_KEY, discovery.to_json())
    client.hset(STATUS_KEY, mapping={"fetched_at": moment, "last_error": ""})
    logger.info(
        "discovery refreshed apps=%s actions=%s proof_key=%s",
        discovery.app_count(),
        discovery.action_count(),
        discovery.proof_key.current is not None,
    )
    return discovery


def read_status(client: redis.Redis) -> DiscoveryStatus:
    """Return when discovery was last fetched and how many fetches failed."""
    raw = {_text(key): _text(value) for key, value in client.hgetall(STATUS_KEY).items()}
    return DiscoveryStatus(
        fetched_at=float(raw["fetched_at"]) if raw.get("fetched_at") else None,
        failures=int(raw.get("failures", 0)),
        last_error=raw.get("last_error", ""),
        last_attempt_at=float(raw["last_attempt_at"]) if raw.get("last_attempt_at") else None,
    )


def load_cached(client: redis.Redis) -> Discovery | None:
    """Return the cached discovery document, or None when none was fetched yet."""
    raw = client.get(DISCOVERY_KEY)
    return _parse_cached(raw)


async def load_cached_async(client: aioredis.Redis) -> Discovery | None:
    """Return the cached discovery document, or None (for the front-end's event loop)."""
    return _parse_cached(await client.get(DISCOVERY_KEY))


async def claim_forced_refresh(client: aioredis.Redis) -> bool:
    """Return True for the one caller per interval that may ask the workers for a forced refresh."""
    return bool(await client.set(REFRESH_REQUEST_KEY, b"1", nx=True, ex=FORCED_REFRESH_INTERVAL_SECONDS))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _parse_cached(raw: bytes | str | None) -> Discovery | None:
    if raw is None:
        return None
    try:
        return Discovery.from_json(raw)
    except DiscoveryError:
        logger.exception("cached discovery could not be read; ignoring it")
        return None
