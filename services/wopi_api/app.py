"""The Starlette application factory."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from wopi_api.errors import handle_unexpected_error, handle_wopi_error
from wopi_api.lifespan import make_lifespan
from wopi_api.metrics import FrontEndMetrics
from wopi_api.middleware import CorrelationMiddleware
from wopi_api.proxies import proxy_middleware
from wopi_api.routes import admin, containers, files, health, host_page, overrides, sessions
from wopi_api.routes.common import Endpoint
from wopi_core.errors import WopiError
from wopi_core.settings import Settings


def create_app(settings: Settings) -> Starlette:
    """Build the front-end for validated settings (with a JWT secret and a Redis URL resolved)."""
    metrics = FrontEndMetrics()
    routes = [
        Route("/wopi/files/{file_id}", Endpoint(files.check_file_info), methods=["GET"]),
        Route("/wopi/files/{file_id}", Endpoint(overrides.file_override), methods=["POST"]),
        Route("/wopi/files/{file_id}/contents", Endpoint(files.get_file), methods=["GET"]),
        Route("/wopi/files/{file_id}/contents", Endpoint(files.put_file), methods=["POST"]),
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
        ],
        exception_handlers={WopiError: handle_wopi_error, Exception: handle_unexpected_error},
        lifespan=make_lifespan(settings),
    )
