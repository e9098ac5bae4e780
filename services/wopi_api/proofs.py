"""Proof-key verification of WOPI requests, as the WOPI_PROOF_KEYS mode requires.

The keys come from the discovery copy cached in Redis; a WOPI call never waits on a network fetch.
When a proof fails with the keys in memory, the verifier reloads the cached copy (another process may
have refreshed it), asks the workers for a refresh at most once a minute across all front-ends, and
checks once more.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from starlette.requests import Request

from wopi_api.events import EventPublisher
from wopi_core.discovery import Discovery, ProofKey
from wopi_core.discovery_store import claim_forced_refresh, load_cached_async
from wopi_core.errors import ProofKeyInvalid
from wopi_core.models import HEADER_PROOF, HEADER_PROOF_OLD, HEADER_TIMESTAMP
from wopi_core.proof_keys import ProofResult, verify_proof
from wopi_core.settings import ProofKeyMode, Settings

logger = logging.getLogger(__name__)

RELOAD_INTERVAL_SECONDS = 30.0


class ProofVerifier:
    """Holds the discovery keys in memory and checks each request's X-WOPI-Proof headers."""

    def __init__(self, settings: Settings, client: aioredis.Redis, publisher: EventPublisher) -> None:
        self._settings = settings
        self._client = client
        self._publisher = publisher
        self.discovery: Discovery | None = None
        self._loaded_at = 0.0
        self.failures = 0
        self.old_key_successes = 0

    @property
    def keys(self) -> ProofKey:
        return self.discovery.proof_key if self.discovery is not None else ProofKey()

    async def reload(self) -> None:
        """Replace the in-memory discovery with the copy cached in Redis, if there is one."""
        cached = await load_cached_async(self._client)
        if cached is not None:
            self.discovery = cached
        self._loaded_at = time.monotonic()

    async def verify(self, request: Request, token: str) -> None:
        """Raise ProofKeyInvalid (500) when enforcing and the proof does not verify; log it when warning."""
        mode = self._settings.proof_keys
        if mode is ProofKeyMode.OFF:
            return
        if time.monotonic() - self._loaded_at > RELOAD_INTERVAL_SECONDS:
            await self.reload()
        url = public_url(self._settings, request)
        result = self._check(request, token, url)
        if not result.valid:
            await self.reload()
            await self._request_refresh()
            result = self._check(request, token, url)
        if result.key_rotation:
            self.old_key_successes += 1
            await self._request_refresh()
        if result.valid:
            return
        self.failures += 1
        if mode is ProofKeyMode.ENFORCE:
            raise ProofKeyInvalid(f"proof key check failed: {result.reason}")
        logger.warning("proof key check failed; allowed because WOPI_PROOF_KEYS=warn reason=%s", result.reason)

    def _check(self, request: Request, token: str, url: str) -> ProofResult:
        headers = request.headers
        return verify_proof(
            self.keys,
            token,
            url,
            headers.get(HEADER_PROOF),
            headers.get(HEADER_PROOF_OLD),
            headers.get(HEADER_TIMESTAMP),
        )

    async def _request_refresh(self) -> None:
        if self._settings.discovery_url and await claim_forced_refresh(self._client):
            self._publisher.refresh_discovery()


def public_url(settings: Settings, request: Request) -> str:
    """Return the URL the WOPI client called: WOPI_BASE_URL plus the raw path and raw query string.

    Behind a TLS-terminating proxy the request arrives on an internal URL, but the client signed the
    public one, so the scheme and host always come from the configured base URL.
    """
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    url = settings.base_url + raw_path.decode("latin-1")
    query = request.scope.get("query_string", b"")
    return f"{url}?{query.decode('latin-1')}" if query else url


async def verify_request_proof(request: Request, token: str) -> None:
    """Check the request's proof with the application's verifier."""
    verifier: ProofVerifier = request.scope["state"]["proofs"]
    await verifier.verify(request, token)
