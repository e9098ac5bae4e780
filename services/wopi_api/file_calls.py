"""The WOPI file calls every editing session makes, handled ahead of Starlette's router.

CheckFileInfo, GetFile, PutFile and the lock overrides on ``/wopi/files/{file_id}`` are nearly all of a
WOPI host's traffic. Under load, reaching a handler through Starlette's exception middleware, router and
route costs about a tenth of a CheckFileInfo (benchmarks/RESULTS.md). FileCallMiddleware therefore sends
these calls from one table straight to their handlers, and renders a WopiError with the app's own
handler. The same table gives the Starlette routes, which handle whatever the middleware passes on:
HEAD, other methods (405), and any request under a root path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from wopi_api.errors import handle_wopi_error
from wopi_api.routes import files, overrides
from wopi_core.errors import WopiError

Handler = Callable[[Request], Awaitable[Response]]

FILES_PREFIX = "/wopi/files/"

FILE_HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", ""): files.check_file_info,
    ("POST", ""): overrides.file_override,
    ("GET", "/contents"): files.get_file,
    ("POST", "/contents"): files.put_file,
}
"""(method, what follows the file id in the path) -> handler."""


def file_routes() -> list[Route]:
    """Return FILE_HANDLERS as Starlette routes."""
    return [
        Route(f"{FILES_PREFIX}{{file_id}}{suffix}", handler, methods=[method])
        for (method, suffix), handler in FILE_HANDLERS.items()
    ]


def match_file_call(handlers: dict[tuple[str, str], Handler], method: str, path: str) -> tuple[Handler, str] | None:
    """Return the handler and file id of a call in handlers, as their routes would match it, else None."""
    if not path.startswith(FILES_PREFIX):
        return None
    file_id, slash, rest = path[len(FILES_PREFIX) :].partition("/")
    handler = handlers.get((method, slash + rest))
    return (handler, file_id) if handler is not None and file_id else None


class FileCallMiddleware:
    """Pure ASGI middleware that handles the calls in FILE_HANDLERS and passes on everything else.

    Exceptions other than WopiError propagate, as they do from a route, so that the server error
    middleware returns 500 and the server logs the traceback.
    """

    def __init__(self, app: ASGIApp, handlers: dict[tuple[str, str], Handler] = FILE_HANDLERS) -> None:
        self.app = app
        self._handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette's router removes a root path before it matches, so requests under one go to it.
        found = None
        if scope["type"] == "http" and not scope.get("root_path"):
            found = match_file_call(self._handlers, scope["method"], scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        handler, file_id = found
        scope["path_params"] = {"file_id": file_id}
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except WopiError as exc:
            response = await handle_wopi_error(request, exc)
        await response(scope, receive, send)
