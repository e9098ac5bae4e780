"""The Starlette application factory."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from wopi_api.errors import handle_unexpected_error, handle_wopi_error
from wopi_api.file_calls import FileCallMiddleware, file_routes
from wopi_api.lifespan import make_lifespan
from wopi_api.metrics import FrontEndMetrics
from wopi_api.middleware import CorrelationMiddleware
from wopi_api.proxies import proxy_middleware
from wopi_api.routes import admin, containers, health, host_page, sessions
from wopi_core.errors import WopiError
from wopi_core.settings import Settings


def create_app(settings: Settings) -> Starlette:
    """Build the front-end for validated settings (with a JWT secret and a Redis URL resolved)."""
    metrics = FrontEndMetrics()
    routes = [
        *file_routes(),
        *containers.ROUTES,
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        *admin.ROUTES,
        Route("/api/v1/files/{file_id}/sessions", sessions.create_session, methods=["POST"]),
        Route("/host/files/{file_id}", host_page.host_page, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            *proxy_middleware(settings),
            Middleware(CorrelationMiddleware, observe=metrics.observe_request),
            Middleware(FileCallMiddleware),
        ],
        exception_handlers={WopiError: handle_wopi_error, Exception: handle_unexpected_error},
        lifespan=make_lifespan(settings),
    )
