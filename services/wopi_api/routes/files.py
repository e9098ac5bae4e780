"""CheckFileInfo, GetFile and PutFile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from wopi_api.body import RequestBodyReader
from wopi_api.middleware import CORRELATION_SCOPE_KEY
from wopi_api.responses import FastJSONResponse
from wopi_api.routes.common import authorize, header_int, require_edit
from wopi_api.routes.file_ops import document_changed_response, file_info_extras, share_url_types
from wopi_api.state import app_state
from wopi_api.storage_io import stat_file
from wopi_core.dialects import changed_outside, wopi_time
from wopi_core.errors import FileTooLarge, LargerThanExpected, UnsupportedOperation
from wopi_core.events import FileSaved, lock_digest
from wopi_core.history import DISPLAY_NAMES_KEY
from wopi_core.models import (
    HEADER_ITEM_VERSION,
    HEADER_LOCK,
    HEADER_MAX_EXPECTED_SIZE,
    HEADER_OVERRIDE,
    FileInfo,
)
from wopi_core.names import split_extension
from wopi_core.tokens import TokenClaims

# Without X-WOPI-MaxExpectedSize there is no limit below the largest signed 32-bit integer.
DEFAULT_MAX_EXPECTED_SIZE = 2**31 - 1
FILE_NAME_MAX_LENGTH = 250


def check_file_info_body(info: FileInfo, claims: TokenClaims, base_url: str) -> dict[str, Any]:
    """Build the CheckFileInfo JSON for one file and the token's user."""
    parts = urlsplit(base_url)
    can_write = claims.can_write
    return {
        "BaseFileName": info.name,
        "OwnerId": info.owner_id,
        "Size": info.size,
        "UserId": claims.user.user_id,
        "UserFriendlyName": claims.user.display_name,
        "Version": info.version,
        "SHA256": info.sha256,
        "LastModifiedTime": wopi_time(info.modified_at),
        "FileExtension": split_extension(info.name)[1],
        "FileNameMaxLength": FILE_NAME_MAX_LENGTH,
        "UserCanWrite": can_write,
        "ReadOnly": not can_write,
        "UserCanRename": can_write,
        "UserCanNotWriteRelative": not can_write,
        "SupportsUpdate": True,
        "SupportsLocks": True,
        "SupportsGetLock": True,
        "SupportsExtendedLockLength": True,
        "SupportsRename": True,
        "SupportsDeleteFile": True,
        "SupportsUserInfo": True,
        "SupportsContainers": True,
        "SupportsEcosystem": True,
        "SupportedShareUrlTypes": share_url_types(can_write),
        "IsAnonymousUser": False,
        "PostMessageOrigin": f"{parts.scheme}://{parts.netloc}",
    }


async def check_file_info(request: Request) -> Response:
    """CheckFileInfo: 200 with the file's properties; 401 bad token; 404 unknown file; 500 bad proof."""
    file_id = request.path_params["file_id"]
    claims = await authorize(request, "CheckFileInfo", file_id)
    state = app_state(request)
    info = await stat_file(state["storage"], file_id)
    body = check_file_info_body(info, claims, state["settings"].base_url)
    body.update(await file_info_extras(state, info, claims))
    return FastJSONResponse(body)


async def get_file(request: Request) -> Response:
    """GetFile: 200 with the streamed bytes and X-WOPI-ItemVersion; 401, 404, 412 when too large."""
    file_id = request.path_params["file_id"]
    await authorize(request, "GetFile", file_id)
    limit = header_int(request, HEADER_MAX_EXPECTED_SIZE)
    storage = app_state(request)["storage"]
    info = await stat_file(storage, file_id)
    max_size = DEFAULT_MAX_EXPECTED_SIZE if limit is None else limit
    if info.size > max_size:
        raise LargerThanExpected(f"the file is {info.size} bytes, more than {HEADER_MAX_EXPECTED_SIZE} {max_size}")
    version, chunks = await run_in_threadpool(storage.open_content, file_id, info.version)
    headers = {HEADER_ITEM_VERSION: version.version, "Content-Length": str(version.size)}
    return StreamingResponse(_closing(chunks), media_type="application/octet-stream", headers=headers)


def _closing(chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


async def put_file(request: Request) -> Response:
    """PutFile: 200 with the new X-WOPI-ItemVersion; 401, 404, 409 lock mismatch, 413 too large, 501."""
    file_id = request.path_params["file_id"]
    claims = await authorize(request, "PutFile", file_id)
    override = request.headers.get(HEADER_OVERRIDE, "").strip().upper()
    if override != "PUT":
        raise UnsupportedOperation(f"{HEADER_OVERRIDE} {override!r} is not supported on the contents endpoint")
    require_edit(claims)
    state = app_state(request)
    settings, storage = state["settings"], state["storage"]
    declared = header_int(request, "Content-Length")
    if declared is not None and declared > settings.max_file_size:
        raise FileTooLarge(f"the body is {declared} bytes, more than the limit of {settings.max_file_size}")
    current = await stat_file(storage, file_id)
    await state["locks"].check_write(file_id, request.headers.get(HEADER_LOCK), current.size)
    if changed_outside(request.headers, current):
        return document_changed_response(current)
    # The worker that records this version reads the author's display name from here.
    await state["redis"].hset(DISPLAY_NAMES_KEY, claims.user.user_id, claims.user.display_name)
    reader = RequestBodyReader(request)
    info = await run_in_threadpool(
        storage.write, file_id, reader, modified_by=claims.user.user_id, max_size=settings.max_file_size
    )
    event = FileSaved(
        file_id=file_id,
        version_id=info.version,
        correlation_id=request.scope.get(CORRELATION_SCOPE_KEY, ""),
        session_id=request.headers.get("X-WOPI-SessionId", ""),
        lock_id=lock_digest(request.headers.get(HEADER_LOCK, "")),
    )
    # Collabora Online takes the new LastModifiedTime from this body for its next X-COOL-WOPI-Timestamp.
    return FastJSONResponse(
        {"LastModifiedTime": wopi_time(info.modified_at)},
        headers={HEADER_ITEM_VERSION: info.version},
        background=BackgroundTask(state["publisher"].file_saved, event),
    )
