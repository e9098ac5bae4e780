"""Health endpoints: /healthz says the process is up, /readyz checks Redis, storage and discovery."""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wopi_api.state import AppState, app_state
from wopi_core.discovery_store import STATUS_KEY as DISCOVERY_STATUS_KEY

STALE_DISCOVERY_FACTOR = 2
"""Discovery counts as stale once older than this many refresh intervals."""


async def healthz(request: Request) -> Response:
    """200 while the process serves requests."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 when Redis, storage and discovery are ready, else 503; each check is reported by name.

    Discovery is ready when WOPI_DISCOVERY_URL is unset, or when the cached copy is younger than
    STALE_DISCOVERY_FACTOR refresh intervals.
    """
    state = app_state(request)
    checks: dict[str, str] = {}
    try:
        await state["redis"].ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"failed: {type(exc).__name__}"
    try:
        await run_in_threadpool(state["storage"].check)
        checks["storage"] = "ok"
    except Exception as exc:
        checks["storage"] = f"failed: {type(exc).__name__}"
    checks["discovery"] = await discovery_check(state)
    ready = all(value.startswith("ok") for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )


async def discovery_check(state: AppState) -> str:
    """Return "ok", "ok: not configured", or why the cached discovery is not usable."""
    settings = state["settings"]
    if not settings.discovery_url:
        return "ok: not configured"
    try:
        fetched_at = await state["redis"].hget(DISCOVERY_STATUS_KEY, "fetched_at")
    except Exception as exc:
        return f"failed: {type(exc).__name__}"
    if not fetched_at:
        return "failed: never fetched"
    age = time.time() - float(fetched_at)
    limit = STALE_DISCOVERY_FACTOR * settings.discovery_refresh
    if age > limit:
        return f"failed: {int(age)} s old, more than {limit} s"
    return "ok"
