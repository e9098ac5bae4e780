"""The discovery copy a request uses: the one the proof verifier holds, reloaded from Redis when missing."""

from __future__ import annotations

from starlette.requests import Request

from wopi_api.state import app_state
from wopi_core.discovery import Discovery


async def current_discovery(request: Request) -> Discovery | None:
    """Return the cached discovery document, or None when no copy was fetched yet. Never fetches over HTTP."""
    verifier = app_state(request)["proofs"]
    if verifier.discovery is None:
        await verifier.reload()
    return verifier.discovery
