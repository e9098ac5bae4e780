"""Container and ecosystem operations, and the file operations that lead into them.

Container tokens bind ``container:<id>``, ecosystem tokens ``ecosystem`` (see wopi_core.hierarchy).
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wopi_api.routes.common import authorize, header_flag, require_edit
from wopi_api.routes.file_ops import free_name, overwrite_exact_target
from wopi_api.state import app_state
from wopi_core.errors import (
    InvalidContainerName,
    InvalidFileName,
    NameTaken,
    UnsupportedOperation,
)
from wopi_core.hierarchy import (
    ECOSYSTEM_RESOURCE,
    child_file_entry,
    container_info_body,
    container_pointer,
    container_resource,
    ecosystem_url,
    matches_extension_filter,
    new_file_body,
)
from wopi_core.models import (
    HEADER_FILE_EXTENSION_FILTER_LIST,
    HEADER_OVERRIDE,
    HEADER_OVERWRITE_RELATIVE_TARGET,
    HEADER_RELATIVE_TARGET,
    HEADER_REQUESTED_NAME,
    HEADER_SUGGESTED_TARGET,
    ROOT_CONTAINER,
    ContainerInfo,
    FileInfo,
)
from wopi_core.names import check_container_name, decode_utf7
from wopi_core.relative import Target, parse_target
from wopi_core.storage.base import StorageBackend, container_ancestors
from wopi_core.tokens import TokenClaims

Handler = Callable[[Request], Awaitable[Response]]


async def _container(request: Request, operation: str) -> tuple[TokenClaims, ContainerInfo]:
    """Authorize a call on /wopi/containers/{container_id} and return the claims and the container (404)."""
    container_id = request.path_params["container_id"]
    claims = await authorize(request, operation, container_resource(container_id))
    info = await run_in_threadpool(app_state(request)["storage"].stat_container, container_id)
    return claims, info


async def check_container_info(request: Request) -> Response:
    """CheckContainerInfo: 200 with Name and the user's rights; 401; 404 unknown container."""
    claims, info = await _container(request, "CheckContainerInfo")
    return JSONResponse(container_info_body(info, claims))


async def enumerate_children(request: Request) -> Response:
    """EnumerateChildren: 200 with ChildContainers and ChildFiles (filtered by X-WOPI-FileExtensionFilterList)."""
    claims, info = await _container(request, "EnumerateChildren")
    settings = app_state(request)["settings"]
    containers, files = await run_in_threadpool(app_state(request)["storage"].list_children, info.container_id)
    filter_list = request.headers.get(HEADER_FILE_EXTENSION_FILTER_LIST, "")
    return JSONResponse(
        {
            "ChildContainers": [container_pointer(settings, child, claims) for child in containers],
            "ChildFiles": [
                child_file_entry(settings, child, claims)
                for child in files
                if matches_extension_filter(child.name, filter_list)
            ],
        }
    )


async def enumerate_container_ancestors(request: Request) -> Response:
    """EnumerateAncestors (containers): 200 with AncestorsWithRootFirst, empty for the root; 401; 404."""
    claims, info = await _container(request, "EnumerateAncestors")
    return await _ancestors_response(request, claims, info.container_id, include_self=False)


async def enumerate_file_ancestors(request: Request) -> Response:
    """EnumerateAncestors (files): 200 with the file's containers, root first; 401; 404."""
    file_id = request.path_params["file_id"]
    claims = await authorize(request, "EnumerateAncestors", file_id)
    info = await run_in_threadpool(app_state(request)["storage"].stat, file_id)
    return await _ancestors_response(request, claims, info.container_id, include_self=True)


async def _ancestors_response(
    request: Request, claims: TokenClaims, container_id: str, *, include_self: bool
) -> Response:
    state = app_state(request)
    storage = state["storage"]
    chain = await run_in_threadpool(container_ancestors, storage, container_id)
    if include_self:
        chain.append(await run_in_threadpool(storage.stat_container, container_id))
    pointers = [container_pointer(state["settings"], item, claims) for item in chain]
    return JSONResponse({"AncestorsWithRootFirst": pointers})


async def get_container_ecosystem(request: Request) -> Response:
    """GetEcosystem (containers): 200 with the Ecosystem URL and a token for it."""
    claims, _ = await _container(request, "GetEcosystem")
    return JSONResponse({"Url": ecosystem_url(app_state(request)["settings"], claims)})


async def get_file_ecosystem(request: Request) -> Response:
    """GetEcosystem (files): 200 with the Ecosystem URL and a token for it; 401; 404."""
    file_id = request.path_params["file_id"]
    claims = await authorize(request, "GetEcosystem", file_id)
    await run_in_threadpool(app_state(request)["storage"].stat, file_id)
    return JSONResponse({"Url": ecosystem_url(app_state(request)["settings"], claims)})


async def check_ecosystem(request: Request) -> Response:
    """CheckEcosystem: 200 with the host's ecosystem capabilities; 401."""
    await authorize(request, "CheckEcosystem", ECOSYSTEM_RESOURCE)
    return JSONResponse({"SupportsContainers": True})


async def get_root_container(request: Request) -> Response:
    """GetRootContainer: 200 with a ContainerPointer to the root container and its ContainerInfo; 401."""
    claims = await authorize(request, "GetRootContainer", ECOSYSTEM_RESOURCE)
    settings = app_state(request)["settings"]
    return JSONResponse(
        {
            "ContainerPointer": container_pointer(settings, ROOT_CONTAINER, claims),
            "ContainerInfo": container_info_body(ROOT_CONTAINER, claims),
        }
    )


async def ecosystem_override(request: Request) -> Response:
    """POST /wopi/ecosystem: GetFileWopiSrc is reserved by the protocol for future use, so it returns 501."""
    await authorize(request, "GetFileWopiSrc", ECOSYSTEM_RESOURCE)
    override = request.headers.get(HEADER_OVERRIDE, "").strip().upper()
    raise UnsupportedOperation(f"{HEADER_OVERRIDE} {override!r} is not supported: GetFileWopiSrc is reserved")


def _target(request: Request, source_name: str, invalid: type[InvalidFileName | InvalidContainerName]) -> Target:
    # Both target headers on a container create are a 501, unlike PutRelativeFile's 400.
    return parse_target(
        request.headers.get(HEADER_SUGGESTED_TARGET),
        request.headers.get(HEADER_RELATIVE_TARGET),
        overwrite=header_flag(request, HEADER_OVERWRITE_RELATIVE_TARGET),
        source_name=source_name,
        both_error=UnsupportedOperation,
        invalid_error=invalid,
    )


async def create_child_file(request: Request) -> Response:
    """CreateChildFile: 200 with Name, Url and host page URLs of a new 0-byte file; 400 invalid name
    (X-WOPI-InvalidFileNameError); 409 name taken, or the file to overwrite locked (X-WOPI-Lock); 501 both
    target headers."""
    claims, parent = await _container(request, "CreateChildFile")
    require_edit(claims)
    state = app_state(request)
    storage = state["storage"]
    target = _target(request, "", InvalidFileName)
    if target.exact:
        # Overwriting makes the existing file the new empty one; its id stays the same.
        overwritten = await overwrite_exact_target(
            state, parent.container_id, target, claims.user.user_id, io.BytesIO(b""), 0
        )
        if overwritten is not None:
            return JSONResponse(new_file_body(state["settings"], overwritten, claims))
    info = await run_in_threadpool(_create_file, storage, parent.container_id, target, claims.user.user_id)
    return JSONResponse(new_file_body(state["settings"], info, claims))


def _create_file(storage: StorageBackend, container_id: str, target: Target, owner_id: str) -> FileInfo:
    name = target.name if target.exact else free_name(storage, container_id, target.name)
    try:
        return storage.create_file(
            name, owner_id, io.BytesIO(b""), max_size=0, container_id=container_id, exclusive=True
        )
    except NameTaken as exc:
        raise NameTaken(exc.message, valid_target=free_name(storage, container_id, name)) from exc


async def create_child_container(request: Request) -> Response:
    """CreateChildContainer: 200 with ContainerPointer and ContainerInfo; 400 invalid name
    (X-WOPI-InvalidContainerNameError); 409 exact name taken; 501 both target headers."""
    claims, parent = await _container(request, "CreateChildContainer")
    require_edit(claims)
    state = app_state(request)
    storage = state["storage"]
    target = _target(request, "", InvalidContainerName)
    if target.exact:
        check_container_name(target.name)
    else:
        target = Target(await run_in_threadpool(free_name, storage, parent.container_id, target.name), exact=False)
    info = await run_in_threadpool(storage.create_container, target.name, parent.container_id)
    return JSONResponse(
        {
            "ContainerPointer": container_pointer(state["settings"], info, claims),
            "ContainerInfo": container_info_body(info, claims),
        }
    )


async def delete_container(request: Request) -> Response:
    """DeleteContainer: 200 removed; 404 unknown; 409 not empty or the root."""
    claims, info = await _container(request, "DeleteContainer")
    require_edit(claims)
    await run_in_threadpool(app_state(request)["storage"].delete_container, info.container_id)
    return Response()


async def rename_container(request: Request) -> Response:
    """RenameContainer: 200 with {"Name"}; 400 invalid name (X-WOPI-InvalidContainerNameError); 404;
    409 name taken or the root."""
    claims, info = await _container(request, "RenameContainer")
    require_edit(claims)
    raw = request.headers.get(HEADER_REQUESTED_NAME)
    if raw is None:
        raise InvalidContainerName(f"{HEADER_REQUESTED_NAME} is missing")
    name = decode_utf7(raw, HEADER_REQUESTED_NAME, InvalidContainerName)
    renamed = await run_in_threadpool(app_state(request)["storage"].rename_container, info.container_id, name)
    return JSONResponse({"Name": renamed.name})


async def get_container_share_url(request: Request) -> Response:
    """GetShareUrl (containers): 501, because the host has no page that shows a container."""
    await _container(request, "GetShareUrl")
    raise UnsupportedOperation("GetShareUrl is not supported for containers: the host has no container page")


CONTAINER_OVERRIDES: dict[str, Handler] = {
    "CREATE_CHILD_FILE": create_child_file,
    "CREATE_CHILD_CONTAINER": create_child_container,
    "DELETE_CONTAINER": delete_container,
    "RENAME_CONTAINER": rename_container,
    "GET_SHARE_URL": get_container_share_url,
}


async def container_override(request: Request) -> Response:
    """POST /wopi/containers/{container_id}: run the operation X-WOPI-Override names; 501 for an unknown one."""
    override = request.headers.get(HEADER_OVERRIDE, "").strip().upper()
    handler = CONTAINER_OVERRIDES.get(override)
    if handler is None:
        await _container(request, f"Override:{override or 'missing'}")
        raise UnsupportedOperation(f"{HEADER_OVERRIDE} {override!r} is not supported on containers")
    return await handler(request)


ROUTES = [
    Route("/wopi/files/{file_id}/ancestry", enumerate_file_ancestors, methods=["GET"]),
    Route("/wopi/files/{file_id}/ecosystem_pointer", get_file_ecosystem, methods=["GET"]),
    Route("/wopi/containers/{container_id}", check_container_info, methods=["GET"]),
    Route("/wopi/containers/{container_id}", container_override, methods=["POST"]),
    Route("/wopi/containers/{container_id}/children", enumerate_children, methods=["GET"]),
    Route("/wopi/containers/{container_id}/ancestry", enumerate_container_ancestors, methods=["GET"]),
    Route("/wopi/containers/{container_id}/ecosystem_pointer", get_container_ecosystem, methods=["GET"]),
    Route("/wopi/ecosystem", check_ecosystem, methods=["GET"]),
    Route("/wopi/ecosystem", ecosystem_override, methods=["POST"]),
    Route("/wopi/ecosystem/root_container_pointer", get_root_container, methods=["GET"]),
]
"""The container and ecosystem routes, and the file routes that lead into them."""
