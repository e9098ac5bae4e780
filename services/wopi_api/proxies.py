"""Forwarded headers from trusted reverse proxies (WOPI_TRUSTED_PROXIES).

X-Forwarded-For and X-Forwarded-Proto set the request's client address and scheme only when the
connection comes from one of the configured addresses or networks. From any other peer they are ignored.
URLs the host builds (WOPISrc, host page URLs) and proof checks never depend on these headers: they
always start with WOPI_BASE_URL.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware import Middleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from wopi_core.settings import Settings


def proxy_middleware(settings: Settings) -> list[Middleware]:
    """Return the forwarded-headers middleware when trusted proxies are configured, else nothing."""
    if not settings.trusted_proxies:
        return []
    options: dict[str, Any] = {"trusted_hosts": list(settings.trusted_proxies)}
    return [Middleware(ProxyHeadersMiddleware, **options)]
