"""Pure ASGI middleware: correlation ids, one access-log line per request without the query string, and
the responses of a burst of requests sent together."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wopi_core import logging as wopi_logging

logger = logging.getLogger(__name__)
access_log = wopi_logging.LineLogger(logger)

MAX_ID_LENGTH = 128
LOG_SCOPE_KEY = "wopi.log"
CORRELATION_SCOPE_KEY = "wopi.correlation_id"


def _clean_id(raw: bytes | None) -> str:
    if not raw:
        return ""
    text = raw.decode("latin-1").strip()[:MAX_ID_LENGTH]
    return text if text.isprintable() else "".join(c for c in text if c.isprintable())


class _RequestIds:
    """Makes ids for requests that arrive without a correlation id: unique, and cheaper than uuid4.

    Each process draws a random prefix once and numbers its requests after it.
    """

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6)
        self._numbers = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}-{next(self._numbers):x}"


class _ResponseBatch:
    """Holds back the responses that follow another one in the same event-loop pass, so they leave together.

    When several requests arrive at once, each runs to its response without yielding, and each write
    wakes the peer (a load generator, or a TLS proxy on the same machine) again. A response that is not
    the first of its pass waits for the next pass. By then the rest of the burst has reached its own
    response, so the burst goes out back to back and the peer wakes once for it. A lone request (the
    first of its pass) gets its response at once.
    """

    def __init__(self) -> None:
        # The loop whose current pass has sent a response. Keeping the loop rather than a flag means a
        # pass that a closed loop left unfinished (as in tests) cannot hold back another loop's responses.
        self._answered_in: asyncio.AbstractEventLoop | None = None

    async def join(self) -> None:
        loop = asyncio.get_running_loop()
        if self._answered_in is loop:
            await asyncio.sleep(0)
        if self._answered_in is not loop:
            self._answered_in = loop
            loop.call_soon(self._next_pass)

    def _next_pass(self) -> None:
        self._answered_in = None


RequestObserver = Callable[[str, int, dict[bytes, bytes], float], None]
"""Called once per request with the WOPI operation, status, request headers and duration in seconds."""


class CorrelationMiddleware:
    """Takes X-WOPI-CorrelationID (or X-Request-ID, or a fresh id) and logs each request once.

    The access line carries the path but never the query string, because WOPI clients send the
    access token there. WOPI handlers add the operation and file id through ``describe_call``. The
    optional observer receives the same facts for metrics, so one middleware layer serves both. The
    responses of a burst of requests leave together (see _ResponseBatch).
    """

    def __init__(self, app: ASGIApp, observe: RequestObserver | None = None) -> None:
        self.app = app
        self._observe = observe
        self._ids = _RequestIds()
        self._batch = _ResponseBatch()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        correlation = _clean_id(headers.get(b"x-wopi-correlationid") or headers.get(b"x-request-id"))
        correlation = correlation or self._ids.next()
        session = _clean_id(headers.get(b"x-wopi-sessionid"))
        scope[CORRELATION_SCOPE_KEY] = correlation
        details: dict[str, Any] = {}
        scope[LOG_SCOPE_KEY] = details
        correlation_token = wopi_logging.correlation_id.set(correlation)
        session_token = wopi_logging.session_id.set(session)
        started = time.perf_counter()
        # The duration ends with the response's last byte, not with the background tasks after it
        # (such as publishing a save event), which the client does not wait for.
        answered = 0.0
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                await self._batch.join()
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = time.perf_counter()

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            seconds = (answered or time.perf_counter()) - started
            self._log(scope, details, status, round(seconds * 1000, 2), (correlation, session))
            if self._observe is not None:
                self._observe(details.get("operation") or "other", status, headers, seconds)
            wopi_logging.correlation_id.reset(correlation_token)
            wopi_logging.session_id.reset(session_token)

    @staticmethod
    def _log(scope: Scope, details: dict[str, Any], status: int, duration_ms: float, ids: tuple[str, str]) -> None:
        fields = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": duration_ms,
            **details,
            "correlation_id": ids[0],
            "session_id": ids[1],
        }
        operation = details.get("operation", "")
        if operation:
            access_log.info(
                "%s file_id=%s status=%s duration_ms=%s",
                operation,
                details.get("file_id", ""),
                status,
                duration_ms,
                fields=fields,
            )
        else:
            access_log.info(
                "%s %s status=%s duration_ms=%s", scope["method"], scope["path"], status, duration_ms, fields=fields
            )


def describe_call(scope: Scope, operation: str, file_id: str = "", **extra: str) -> None:
    """Record the WOPI operation and file id of this request for its access-log line."""
    details = scope.get(LOG_SCOPE_KEY)
    if details is not None:
        details.update(operation=operation, file_id=file_id, **extra)
