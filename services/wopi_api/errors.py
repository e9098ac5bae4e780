"""Renders WopiError as a WOPI response, and anything unexpected as a 500 with X-WOPI-ServerError."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from wopi_api.middleware import CORRELATION_SCOPE_KEY
from wopi_core.errors import LockMismatch, ProofKeyInvalid, WopiError
from wopi_core.models import HEADER_SERVER_ERROR

logger = logging.getLogger(__name__)


def _header_safe(text: str) -> str:
    return text.encode("latin-1", errors="replace").decode("latin-1").replace("\r", " ").replace("\n", " ")


async def handle_wopi_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WopiError)
    headers = {name: _header_safe(value) for name, value in exc.headers().items()}
    headers.setdefault(HEADER_SERVER_ERROR, _header_safe(exc.message))
    # A rejected token or proof may be an attack, and a conflict may cost a user their edit: both warn.
    rejected = exc.status_code in (401, 409) or isinstance(exc, LockMismatch | ProofKeyInvalid)
    level = logging.WARNING if rejected else logging.INFO
    logger.log(level, "rejected status=%s reason=%s", exc.status_code, exc.message, extra={"reason": exc.message})
    return PlainTextResponse(exc.message, status_code=exc.status_code, headers=headers)


async def handle_unexpected_error(request: Request, exc: Exception) -> Response:
    # ServerErrorMiddleware calls this outside our middleware and re-raises afterwards, so the
    # traceback is logged once by the server; the correlation id comes from the scope.
    correlation = request.scope.get(CORRELATION_SCOPE_KEY, "")
    message = f"internal server error; correlation id {correlation}"
    return PlainTextResponse(message, status_code=500, headers={HEADER_SERVER_ERROR: _header_safe(message)})
