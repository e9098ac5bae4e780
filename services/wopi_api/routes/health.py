"""Health endpoints: /healthz says the process is up, /readyz checks Redis and storage."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wopi_api.state import app_state


async def healthz(request: Request) -> Response:
    """200 while the process serves requests."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 when Redis and storage answer, else 503; each check is reported by name."""
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
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )
