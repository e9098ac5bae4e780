"""Forwarded headers are honoured only from WOPI_TRUSTED_PROXIES."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.conftest import SettingsFactory
from wopi_api.proxies import proxy_middleware

FORWARDED = [(b"x-forwarded-for", b"203.0.113.9"), (b"x-forwarded-proto", b"https")]


def seen_by_app(settings_values: dict[str, str], settings_factory: SettingsFactory, peer: str) -> tuple[Any, str]:
    """Send one request from peer through the configured middleware and return the app's client and scheme."""
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.update(client=scope["client"], scheme=scope["scheme"])

    wrapped: ASGIApp = app
    for middleware in reversed(proxy_middleware(settings_factory(**settings_values))):
        wrapped = middleware.cls(wrapped, *middleware.args, **middleware.kwargs)
    scope = {"type": "http", "scheme": "http", "client": (peer, 5000), "headers": FORWARDED, "path": "/"}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    asyncio.run(wrapped(scope, receive, send))  # type: ignore[arg-type]
    return seen["client"][0], seen["scheme"]


def test_proxy_middleware_absent_without_trusted_proxies(settings_factory: SettingsFactory) -> None:
    assert proxy_middleware(settings_factory()) == []


def test_forwarded_headers_ignored_without_trusted_proxies(settings_factory: SettingsFactory) -> None:
    assert seen_by_app({}, settings_factory, "10.0.0.5") == ("10.0.0.5", "http")


def test_forwarded_headers_honoured_from_trusted_proxy(settings_factory: SettingsFactory) -> None:
    values = {"WOPI_TRUSTED_PROXIES": "10.0.0.5"}
    assert seen_by_app(values, settings_factory, "10.0.0.5") == ("203.0.113.9", "https")


@pytest.mark.parametrize("peer", [pytest.param("10.0.0.6", id="other-address"), pytest.param("192.0.2.1", id="public")])
def test_forwarded_headers_ignored_from_untrusted_peer(settings_factory: SettingsFactory, peer: str) -> None:
    values = {"WOPI_TRUSTED_PROXIES": "10.0.0.5"}
    assert seen_by_app(values, settings_factory, peer) == (peer, "http")


def test_forwarded_headers_honoured_from_trusted_network(settings_factory: SettingsFactory) -> None:
    values = {"WOPI_TRUSTED_PROXIES": "10.1.0.0/16, 127.0.0.1"}
    assert seen_by_app(values, settings_factory, "10.1.2.3") == ("203.0.113.9", "https")
