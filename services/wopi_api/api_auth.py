"""Authentication of the /api/v1 routes, which embedding applications call with Bearer WOPI_API_KEY."""

from __future__ import annotations

import logging
import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse

from wopi_api.state import app_state

logger = logging.getLogger(__name__)


def json_error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """Return the JSON error body every /api/v1 route uses: {"error": message}."""
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


def check_api_key(request: Request) -> JSONResponse | None:
    """Return an error response unless the request carries the configured API key, else None.

    403 when no key is configured (the API is never open by default); 401 when the key is missing or wrong.
    """
    configured = app_state(request)["settings"].api_key.get()
    if not configured:
        logger.warning("API request rejected: WOPI_API_KEY is not set path=%s", request.url.path)
        return json_error(403, "the /api/v1 routes are disabled: set WOPI_API_KEY to enable them")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    given = value.strip() if scheme.lower() == "bearer" else ""
    if not given or not secrets.compare_digest(given.encode(), configured.encode()):
        logger.warning("API request rejected: missing or wrong API key path=%s", request.url.path)
        return json_error(
            401,
            "missing or wrong API key: send Authorization: Bearer <WOPI_API_KEY>",
            headers={"WWW-Authenticate": 'Bearer realm="wopihost"'},
        )
    return None
