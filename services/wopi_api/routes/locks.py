"""The WOPI lock family: Lock, GetLock, RefreshLock, Unlock and UnlockAndRelock."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from wopi_api.routes.common import authorize, require_edit
from wopi_api.state import app_state
from wopi_api.storage_io import stat_file
from wopi_core.locks import LockStore, check_lock_id
from wopi_core.models import HEADER_ITEM_VERSION, HEADER_LOCK, HEADER_OLD_LOCK


async def _prepare(request: Request, operation: str) -> tuple[str, LockStore, str]:
    """Authorize an edit, make sure the file exists (404), and return its id, the lock store and version."""
    file_id = request.path_params["file_id"]
    claims = await authorize(request, operation, file_id)
    require_edit(claims)
    state = app_state(request)
    info = await stat_file(state["storage"], file_id)
    return file_id, state["locks"], info.version


async def lock(request: Request) -> Response:
    """Lock: 200 (also when the same id holds it: refreshed); 400 no lock id; 409 locked by another id."""
    file_id, locks, version = await _prepare(request, "Lock")
    await locks.lock(file_id, check_lock_id(request.headers.get(HEADER_LOCK)))
    return Response(headers={HEADER_ITEM_VERSION: version})


async def unlock_and_relock(request: Request) -> Response:
    """UnlockAndRelock: 200 lock replaced atomically; 400 missing ids; 409 X-WOPI-OldLock not current."""
    file_id, locks, version = await _prepare(request, "UnlockAndRelock")
    new_lock = check_lock_id(request.headers.get(HEADER_LOCK))
    old_lock = check_lock_id(request.headers.get(HEADER_OLD_LOCK), HEADER_OLD_LOCK)
    await locks.unlock_and_relock(file_id, old_lock, new_lock)
    return Response(headers={HEADER_ITEM_VERSION: version})


async def get_lock(request: Request) -> Response:
    """GetLock: always 200 with X-WOPI-Lock, empty when the file is unlocked."""
    file_id, locks, _ = await _prepare(request, "GetLock")
    return Response(headers={HEADER_LOCK: await locks.get(file_id)})


async def refresh_lock(request: Request) -> Response:
    """RefreshLock: 200 expiry restarted; 400 no lock id; 409 unlocked or locked by another id."""
    file_id, locks, _ = await _prepare(request, "RefreshLock")
    await locks.refresh(file_id, check_lock_id(request.headers.get(HEADER_LOCK)))
    return Response()


async def unlock(request: Request) -> Response:
    """Unlock: 200 lock removed; 400 no lock id; 409 unlocked or locked by another id."""
    file_id, locks, version = await _prepare(request, "Unlock")
    await locks.unlock(file_id, check_lock_id(request.headers.get(HEADER_LOCK)))
    return Response(headers={HEADER_ITEM_VERSION: version})
