"""Dispatch of POST /wopi/files/{file_id} on X-WOPI-Override through one table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from wopi_api.routes import file_ops, locks
from wopi_api.routes.common import authorize
from wopi_core.errors import UnsupportedOperation
from wopi_core.models import HEADER_OLD_LOCK, HEADER_OVERRIDE

Handler = Callable[[Request], Awaitable[Response]]


async def lock_or_relock(request: Request) -> Response:
    """LOCK is Lock, or UnlockAndRelock when X-WOPI-OldLock is present."""
    if HEADER_OLD_LOCK in request.headers:
        return await locks.unlock_and_relock(request)
    return await locks.lock(request)


def unsupported(operation: str, reason: str) -> Handler:
    """Build a handler that authorizes the call, then answers 501 for an operation the host does not offer."""

    async def handler(request: Request) -> Response:
        await authorize(request, operation, request.path_params["file_id"])
        raise UnsupportedOperation(f"{operation} is not supported: {reason}")

    return handler


FILE_OVERRIDES: dict[str, Handler] = {
    "LOCK": lock_or_relock,
    "GET_LOCK": locks.get_lock,
    "REFRESH_LOCK": locks.refresh_lock,
    "UNLOCK": locks.unlock,
    "PUT_RELATIVE": file_ops.put_relative_file,
    "RENAME_FILE": file_ops.rename_file,
    "DELETE": file_ops.delete_file,
    "PUT_USER_INFO": file_ops.put_user_info,
    "GET_SHARE_URL": file_ops.get_share_url,
}


async def file_override(request: Request) -> Response:
    """POST /wopi/files/{file_id}: run the operation X-WOPI-Override names; 501 for an unknown override."""
    override = request.headers.get(HEADER_OVERRIDE, "").strip().upper()
    handler = FILE_OVERRIDES.get(override)
    if handler is None:
        await authorize(request, f"Override:{override or 'missing'}", request.path_params["file_id"])
        raise UnsupportedOperation(f"{HEADER_OVERRIDE} {override!r} is not supported")
    return await handler(request)
