"""JSON bodies of the container and ecosystem operations, with the token-bearing URLs they hand out.

Access tokens bind one resource: a file id, ``container:<id>`` or ``ecosystem``. A token minted inside a
WOPI response keeps the user and permission of the request's token and never outlives it, so walking the
hierarchy cannot widen a view token into an edit token or extend its life.

NOTE: every token may walk to its file's container, the root and their children: the host has no
per-container access control yet, so anyone holding a token can list the whole tree with the same permission.
"""

from __future__ import annotations

import functools
from typing import Any

from wopi_core.dialects import wopi_time
from wopi_core.models import ContainerInfo, FileInfo, Permission
from wopi_core.settings import Settings
from wopi_core.tokens import TokenClaims, issue_token
from wopi_core.urls import container_src, host_page_url, with_token, wopi_src

CONTAINER_RESOURCE_PREFIX = "container:"
ECOSYSTEM_RESOURCE = "ecosystem"


def container_resource(container_id: str) -> str:
    """Return the resource id a container's access tokens carry."""
    return CONTAINER_RESOURCE_PREFIX + container_id


def ecosystem_src(settings: Settings) -> str:
    """Return the Ecosystem endpoint URL, without any access token."""
    return f"{settings.base_url}/wopi/ecosystem"


def _token(settings: Settings, resource: str, claims: TokenClaims, permission: Permission | None = None) -> str:
    granted = permission or claims.permission
    return issue_token(settings, resource, claims.user, granted, expires_at=claims.expires_at).access_token


def file_url(settings: Settings, file_id: str, claims: TokenClaims, permission: Permission | None = None) -> str:
    """Return the file's WOPISrc with a token for the caller's user, capped by the caller's token."""
    return with_token(wopi_src(settings, file_id), _token(settings, file_id, claims, permission))


def container_url(settings: Settings, container_id: str, claims: TokenClaims) -> str:
    """Return the container's WOPI URL with a token for the caller's user."""
    return with_token(container_src(settings, container_id), _token(settings, container_resource(container_id), claims))


def ecosystem_url(settings: Settings, claims: TokenClaims) -> str:
    """Return the Ecosystem endpoint URL with a token for the caller's user."""
    return with_token(ecosystem_src(settings), _token(settings, ECOSYSTEM_RESOURCE, claims))


def container_pointer(settings: Settings, info: ContainerInfo, claims: TokenClaims) -> dict[str, str]:
    """Return a {Name, Url} pointer to a container (EnumerateAncestors, GetRootContainer, ...)."""
    return {"Name": info.name, "Url": container_url(settings, info.container_id, claims)}


def host_urls(settings: Settings, file_id: str, claims: TokenClaims) -> dict[str, str]:
    """Return HostViewUrl and, for a user who may write, HostEditUrl of a file."""
    return dict(_host_urls(settings, file_id, claims))


# CheckFileInfo sends these URLs on every call of a session. Their grants expire with the request's
# token, so the same arguments give the same URLs for the token's whole life.
@functools.lru_cache(maxsize=4096)
def _host_urls(settings: Settings, file_id: str, claims: TokenClaims) -> dict[str, str]:
    user = claims.user
    urls = {
        "HostViewUrl": host_page_url(
            settings, file_id, user, Permission.VIEW, action="view", expires_at=claims.expires_at
        )
    }
    if claims.can_write:
        urls["HostEditUrl"] = host_page_url(
            settings, file_id, user, Permission.EDIT, action="edit", expires_at=claims.expires_at
        )
    return urls


def new_file_body(settings: Settings, info: FileInfo, claims: TokenClaims) -> dict[str, str]:
    """Return the PutRelativeFile / CreateChildFile response body: Name, Url with its own token, host page URLs."""
    body = {"Name": info.name, "Url": file_url(settings, info.file_id, claims)}
    body.update(host_urls(settings, info.file_id, claims))
    return body


def child_file_entry(settings: Settings, info: FileInfo, claims: TokenClaims) -> dict[str, Any]:
    """Return one ChildFiles entry of EnumerateChildren."""
    return {
        "Name": info.name,
        "Url": file_url(settings, info.file_id, claims),
        "Size": info.size,
        "Version": info.version,
        "LastModifiedTime": wopi_time(info.modified_at),
    }


def container_info_body(info: ContainerInfo, claims: TokenClaims) -> dict[str, Any]:
    """Return the CheckContainerInfo JSON of a container for the caller's user."""
    can_write = claims.can_write
    return {
        "Name": info.name,
        "UserCanCreateChildContainer": can_write,
        "UserCanCreateChildFile": can_write,
        "UserCanDelete": can_write and not info.is_root,
        "UserCanRename": can_write,
        "IsAnonymousUser": False,
        "IsEduUser": False,
        "LicenseCheckForEditIsEnabled": False,
    }


def matches_extension_filter(name: str, filter_list: str) -> bool:
    """Tell whether a file name passes X-WOPI-FileExtensionFilterList ('.doc,.docx'; empty passes all)."""
    extensions = [item.strip().casefold() for item in filter_list.split(",") if item.strip()]
    if not extensions:
        return True
    folded = name.casefold()
    return any(folded.endswith(ext if ext.startswith(".") else "." + ext) for ext in extensions)
