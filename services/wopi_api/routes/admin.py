"""Operator routes under /api/v1, behind Bearer WOPI_API_KEY: file search, versions, locks, dead letters.

Every error is JSON: {"error": message}.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from wopi_api import admin_ops
from wopi_api.api_auth import check_api_key, json_error
from wopi_api.middleware import CORRELATION_SCOPE_KEY, describe_call
from wopi_api.state import app_state
from wopi_core.dead_letters import DEAD_LETTERS_KEY, DeadLetter
from wopi_core.errors import FileNotFound, LockMismatch
from wopi_core.index import DEFAULT_LIMIT, list_index
from wopi_core.models import HEADER_ITEM_VERSION, HEADER_LOCK
from wopi_core.versions import describe_versions

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
MAX_FIELD_LENGTH = 1024


async def _guard(request: Request, operation: str) -> Response | None:
    describe_call(request.scope, operation, request.path_params.get("file_id", ""))
    return check_api_key(request)


async def _json_body(request: Request) -> dict[str, Any] | Response:
    """Return the JSON object body (an empty body is an empty object) or a 400 response."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return json_error(400, f"the body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return json_error(400, "the body is not JSON")
    if not isinstance(body, dict):
        return json_error(400, "the body must be a JSON object")
    for key, value in body.items():
        if not isinstance(value, str) or len(value) > MAX_FIELD_LENGTH:
            return json_error(400, f"{key}: expected a string of at most {MAX_FIELD_LENGTH} characters")
    return body


async def list_files(request: Request) -> Response:
    """List files from the metadata index, ordered by name; ?search=TEXT filters names. 200, 400, 401, 403."""
    if (rejection := await _guard(request, "ListFiles")) is not None:
        return rejection
    try:
        limit = int(request.query_params.get("limit", DEFAULT_LIMIT))
    except ValueError:
        return json_error(400, "limit: expected a whole number")
    search = request.query_params.get("search", "")
    entries = await list_index(app_state(request)["redis"], search, limit)
    return JSONResponse({"files": [entry.to_dict() for entry in entries]})


async def list_versions(request: Request) -> Response:
    """List a file's versions from the history, newest first; ?all=true adds hidden ones. 200, 401, 403, 404."""
    if (rejection := await _guard(request, "ListVersions")) is not None:
        return rejection
    file_id = request.path_params["file_id"]
    state = app_state(request)
    try:
        info = await run_in_threadpool(state["storage"].stat, file_id)
    except FileNotFound:
        return json_error(404, f"file not found: {file_id}")
    records, marks = await admin_ops.read_history(state["redis"], file_id)
    include_hidden = request.query_params.get("all", "").lower() in ("1", "true", "yes")
    versions = describe_versions(records, marks, info.version, include_hidden=include_hidden)
    return JSONResponse({"file_id": file_id, "current_version": info.version, "versions": versions})


async def get_version_contents(request: Request) -> Response:
    """Stream the bytes of one version. 200, 401, 403, 404 unknown file or version."""
    if (rejection := await _guard(request, "GetVersionContents")) is not None:
        return rejection
    file_id, version = request.path_params["file_id"], request.path_params["version"]
    try:
        info, chunks = await run_in_threadpool(app_state(request)["storage"].open_content, file_id, version)
    except FileNotFound:
        return json_error(404, f"version not found: {file_id} {version}")
    headers = {HEADER_ITEM_VERSION: info.version, "Content-Length": str(info.size)}
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


async def restore_version(request: Request) -> Response:
    """Make an old version current as a new version. 200; 400 bad body; 401; 403; 404; 409 locked.

    The body may name the restoring user ({"user_id": ...}, default "admin") and the current lock
    ({"lock": ...}, or the X-WOPI-Lock header), which lets a restore through while that lock is held.
    """
    if (rejection := await _guard(request, "RestoreVersion")) is not None:
        return rejection
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    file_id, version = request.path_params["file_id"], request.path_params["version"]
    state = app_state(request)
    try:
        info = await admin_ops.restore(
            state["settings"],
            state["storage"],
            state["locks"],
            state["publisher"],
            file_id,
            version,
            user_id=body.get("user_id") or admin_ops.DEFAULT_RESTORER,
            lock_id=body.get("lock") or request.headers.get(HEADER_LOCK, ""),
            correlation_id=request.scope.get(CORRELATION_SCOPE_KEY, ""),
        )
    except LockMismatch:
        return json_error(409, "the file is locked by a WOPI client; retry once it is unlocked")
    except FileNotFound:
        return json_error(404, f"version not found: {file_id} {version}")
    return JSONResponse(
        {"file_id": file_id, "version": info.version, "restored_from": version, "size": info.size},
        headers={HEADER_ITEM_VERSION: info.version},
    )


async def list_locks(request: Request) -> Response:
    """List every WOPI lock held, with its remaining lifetime. 200, 401, 403."""
    if (rejection := await _guard(request, "ListLocks")) is not None:
        return rejection
    held = await app_state(request)["locks"].held()
    return JSONResponse(
        {"locks": [{"file_id": h.file_id, "lock": h.lock_id, "expires_in_ms": h.expires_in_ms} for h in held]}
    )


async def release_lock(request: Request) -> Response:
    """Force-release a file's lock. Body {"reason": ..., "by": ...}; reason is required. 200, 400, 401, 403."""
    if (rejection := await _guard(request, "ReleaseLock")) is not None:
        return rejection
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    reason = body.get("reason", "").strip()
    if not reason:
        return json_error(400, "reason: required, say why the lock is released")
    by = body.get("by", "").strip() or "api-key"
    file_id = request.path_params["file_id"]
    released = await admin_ops.force_unlock(app_state(request)["locks"], file_id, by=by, reason=reason)
    return JSONResponse({"file_id": file_id, "released": released})


async def list_dead_letters(request: Request) -> Response:
    """List tasks that failed for good, oldest first (at most ?limit=, default 100). 200, 400, 401, 403."""
    if (rejection := await _guard(request, "ListDeadLetters")) is not None:
        return rejection
    try:
        limit = max(int(request.query_params.get("limit", 100)), 0)
    except ValueError:
        return json_error(400, "limit: expected a whole number")
    client = app_state(request)["redis"]
    total = await client.llen(DEAD_LETTERS_KEY)
    raw = await client.lrange(DEAD_LETTERS_KEY, 0, limit - 1) if limit else []
    letters = [json.loads(DeadLetter.from_json(item).to_json()) for item in raw]
    return JSONResponse({"total": total, "dead_letters": letters})


ROUTES = [
    Route("/api/v1/files", list_files, methods=["GET"]),
    Route("/api/v1/files/{file_id}/versions", list_versions, methods=["GET"]),
    Route("/api/v1/files/{file_id}/versions/{version}/contents", get_version_contents, methods=["GET"]),
    Route("/api/v1/files/{file_id}/versions/{version}/restore", restore_version, methods=["POST"]),
    Route("/api/v1/locks", list_locks, methods=["GET"]),
    Route("/api/v1/files/{file_id}/lock", release_lock, methods=["DELETE"]),
    Route("/api/v1/dead-letters", list_dead_letters, methods=["GET"]),
]
