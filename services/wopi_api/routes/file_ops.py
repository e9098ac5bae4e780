"""File operations beyond reading and saving: PutRelativeFile, RenameFile, DeleteFile, PutUserInfo, GetShareUrl."""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wopi_api.body import RequestBodyReader
from wopi_api.routes.common import authorize, header_flag, header_int, require_edit
from wopi_api.state import AppState, app_state
from wopi_api.storage_io import breadcrumb_container
from wopi_core.dialects import COOL_STATUS_DOCUMENT_CHANGED, collabora_properties
from wopi_core.errors import BadRequest, FileTooLarge, InvalidFileName, LockMismatch, NameTaken, UnsupportedOperation
from wopi_core.hierarchy import host_urls, new_file_body
from wopi_core.models import (
    HEADER_FILE_CONVERSION,
    HEADER_LOCK,
    HEADER_OVERWRITE_RELATIVE_TARGET,
    HEADER_RELATIVE_TARGET,
    HEADER_REQUESTED_NAME,
    HEADER_SERVER_ERROR,
    HEADER_SIZE,
    HEADER_SUGGESTED_TARGET,
    HEADER_URL_TYPE,
    FileInfo,
    Permission,
)
from wopi_core.names import check_file_name, decode_utf7, split_extension
from wopi_core.relative import ExpectedSizeReader, Target, first_free_name, parse_target
from wopi_core.storage.base import Readable, StorageBackend
from wopi_core.tokens import TokenClaims
from wopi_core.urls import host_page_url

BREADCRUMB_BRAND_NAME = "wopihost"
logger = logging.getLogger(__name__)

SHARE_URL_ACTIONS = {"ReadOnly": (Permission.VIEW, "view"), "ReadWrite": (Permission.EDIT, "edit")}
CREATE_ATTEMPTS = 5


def share_url_types(can_write: bool) -> list[str]:
    """Return the GetShareUrl URL types offered to a user: ReadWrite only to one who may write."""
    return ["ReadOnly", "ReadWrite"] if can_write else ["ReadOnly"]


async def file_info_extras(state: AppState, info: FileInfo, claims: TokenClaims) -> dict[str, Any]:
    """Return the CheckFileInfo properties that need more than the file record: UserInfo, host page URLs,
    breadcrumb and the Collabora Online extensions."""
    user_info = await state["user_info"].get(claims.user.user_id)
    container = await breadcrumb_container(state["storage"], info.container_id)
    extras: dict[str, Any] = {
        "BreadcrumbBrandName": BREADCRUMB_BRAND_NAME,
        "BreadcrumbDocName": info.name,
        "BreadcrumbFolderName": container.name,
        "IsEduUser": False,
        "LicenseCheckForEditIsEnabled": False,
    }
    if user_info:
        extras["UserInfo"] = user_info
    extras.update(host_urls(state["settings"], info.file_id, claims))
    extras.update(collabora_properties(info, claims))
    return extras


def document_changed_response(current: FileInfo) -> Response:
    """Return the 409 response, with COOLStatusCode 1010, for a PutFile whose X-COOL-WOPI-Timestamp is out of date."""
    logger.info("rejected a save: file %s changed after the client loaded it", current.file_id)
    return JSONResponse(
        {"COOLStatusCode": COOL_STATUS_DOCUMENT_CHANGED},
        status_code=409,
        headers={HEADER_SERVER_ERROR: "the file changed since the client loaded it"},
    )


async def put_relative_file(request: Request) -> Response:
    """PutRelativeFile: 200 with Name, Url, HostViewUrl, HostEditUrl; 400 bad name or headers; 409 name
    taken (with X-WOPI-ValidRelativeTarget) or target locked (X-WOPI-Lock); 413 too large."""
    file_id = request.path_params["file_id"]
    claims = await authorize(request, "PutRelativeFile", file_id)
    require_edit(claims)
    state = app_state(request)
    settings, storage = state["settings"], state["storage"]
    source = await run_in_threadpool(storage.stat, file_id)
    target = parse_target(
        request.headers.get(HEADER_SUGGESTED_TARGET),
        request.headers.get(HEADER_RELATIVE_TARGET),
        overwrite=header_flag(request, HEADER_OVERWRITE_RELATIVE_TARGET),
        source_name=source.name,
    )
    declared = header_int(request, HEADER_SIZE)
    if declared is not None and declared > settings.max_file_size:
        raise FileTooLarge(f"{HEADER_SIZE} {declared} is more than the limit of {settings.max_file_size}")
    body = ExpectedSizeReader(RequestBodyReader(request), declared)
    if target.exact:
        overwritten = await overwrite_exact_target(
            state, source.container_id, target, claims.user.user_id, body, settings.max_file_size
        )
        if overwritten is not None:
            return JSONResponse(new_file_body(settings, overwritten, claims))
    conversion = HEADER_FILE_CONVERSION in request.headers
    info = await run_in_threadpool(_create, storage, target, source, body, claims.user.user_id, settings.max_file_size)
    if conversion:
        request.scope["wopi.log"]["conversion"] = True
    return JSONResponse(new_file_body(settings, info, claims))


def free_name(storage: StorageBackend, container_id: str, name: str) -> str:
    """Return name, or its first numbered variant that no entry of the container uses."""
    return first_free_name(name, lambda candidate: storage.name_taken(container_id, candidate))


async def overwrite_exact_target(
    state: AppState, container_id: str, target: Target, user_id: str, source: Readable, max_size: int
) -> FileInfo | None:
    """Write source over the file an exact target names, or return None when the container has no such file.

    Raise NameTaken, with a free alternative name, unless the request allows overwriting, and LockMismatch
    when the file to overwrite is locked. The overwritten file keeps its id.
    """
    check_file_name(target.name)
    storage = state["storage"]
    existing = await run_in_threadpool(storage.find_file, container_id, target.name)
    if existing is None:
        return None
    if not target.overwrite:
        alternative = await run_in_threadpool(free_name, storage, container_id, target.name)
        raise NameTaken(f"a file named {target.name!r} exists", valid_target=alternative)
    current_lock = await state["locks"].get(existing.file_id)
    if current_lock:
        raise LockMismatch(current_lock, "the file to overwrite is locked")
    return await run_in_threadpool(storage.write, existing.file_id, source, modified_by=user_id, max_size=max_size)


def _create(
    storage: StorageBackend, target: Target, source: FileInfo, body: Readable, owner_id: str, max_size: int
) -> FileInfo:
    """Create the new file next to source; in the suggested mode retry with a fresh name on a clash."""
    container_id = source.container_id
    for _attempt in range(CREATE_ATTEMPTS):
        name = target.name if target.exact else free_name(storage, container_id, target.name)
        try:
            return storage.create_file(
                name, owner_id, body, max_size=max_size, container_id=container_id, exclusive=True
            )
        except NameTaken as exc:
            if target.exact:
                raise NameTaken(exc.message, valid_target=free_name(storage, container_id, name)) from exc
    raise NameTaken(f"no free name like {target.name!r} could be taken")


async def rename_file(request: Request) -> Response:
    """RenameFile: 200 with {"Name": new name without extension}; 400 invalid name (X-WOPI-InvalidFileNameError);
    404; 409 locked by another lock id (X-WOPI-Lock)."""
    file_id = request.path_params["file_id"]
    claims = await authorize(request, "RenameFile", file_id)
    require_edit(claims)
    state = app_state(request)
    storage = state["storage"]
    current = await run_in_threadpool(storage.stat, file_id)
    await state["locks"].check_change(file_id, request.headers.get(HEADER_LOCK))
    raw = request.headers.get(HEADER_REQUESTED_NAME)
    if raw is None:
        raise InvalidFileName(f"{HEADER_REQUESTED_NAME} is missing")
    stem = decode_utf7(raw, HEADER_REQUESTED_NAME, InvalidFileName)
    name = stem + split_extension(current.name)[1]
    check_file_name(name)
    info = await run_in_threadpool(_rename, storage, current, name)
    return JSONResponse({"Name": split_extension(info.name)[0]})


def _rename(storage: StorageBackend, current: FileInfo, name: str) -> FileInfo:
    """Rename to name, or to its first free numbered variant when another entry has the name."""
    for _attempt in range(CREATE_ATTEMPTS):
        taken = lambda candidate: (  # noqa: E731
            candidate.casefold() != current.name.casefold() and storage.name_taken(current.container_id, candidate)
        )
        try:
            return storage.rename(current.file_id, first_free_name(name, taken), exclusive=True)
        except NameTaken:
            continue
    raise NameTaken(f"no free name like {name!r} could be taken")


async def delete_file(request: Request) -> Response:
    """DeleteFile: 200 deleted; 404 unknown file; 409 while locked (X-WOPI-Lock)."""
    file_id = request.path_params["file_id"]
    claims = await authorize(request, "DeleteFile", file_id)
    require_edit(claims)
    state = app_state(request)
    await run_in_threadpool(state["storage"].stat, file_id)
    await state["locks"].check_change(file_id, None)
    await run_in_threadpool(state["storage"].delete, file_id)
    return Response()


async def put_user_info(request: Request) -> Response:
    """PutUserInfo: 200 stored for the token's user; 400 longer than 1024 characters; 404 unknown file."""
    file_id = request.path_params["file_id"]
    claims = await authorize(request, "PutUserInfo", file_id)
    state = app_state(request)
    await run_in_threadpool(state["storage"].stat, file_id)
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("UserInfo must be UTF-8 text") from exc
    await state["user_info"].put(claims.user.user_id, text)
    return Response()


async def get_share_url(request: Request) -> Response:
    """GetShareUrl: 200 with {"ShareUrl"} for ReadOnly, or ReadWrite when the token may write; 501 otherwise."""
    file_id = request.path_params["file_id"]
    claims = await authorize(request, "GetShareUrl", file_id)
    state = app_state(request)
    await run_in_threadpool(state["storage"].stat, file_id)
    url_type = request.headers.get(HEADER_URL_TYPE, "").strip()
    if url_type not in share_url_types(claims.can_write):
        raise UnsupportedOperation(f"{HEADER_URL_TYPE} {url_type!r} is not supported")
    permission, action = SHARE_URL_ACTIONS[url_type]
    url = host_page_url(
        state["settings"], file_id, claims.user, permission, action=action, expires_at=claims.expires_at
    )
    return JSONResponse({"ShareUrl": url})
