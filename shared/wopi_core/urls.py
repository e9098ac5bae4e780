"""Public URLs the host hands out: WOPISrc, token-bearing WOPI URLs, and host page URLs.

Every URL starts with WOPI_BASE_URL, the address WOPI clients and browsers reach the host at.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from wopi_core.models import Permission, User
from wopi_core.settings import Settings
from wopi_core.tokens import issue_launch_grant

HOST_PAGE_PATH = "/host/files/{file_id}"


def wopi_src(settings: Settings, file_id: str) -> str:
    """Return the file's WOPISrc: its Files endpoint URL, without any access token."""
    return f"{settings.base_url}/wopi/files/{quote(file_id, safe='')}"


def container_src(settings: Settings, container_id: str) -> str:
    """Return the container's Containers endpoint URL, without any access token."""
    return f"{settings.base_url}/wopi/containers/{quote(container_id, safe='')}"


def with_token(url: str, access_token: str) -> str:
    """Append access_token to a WOPI URL, as token-bearing URLs in WOPI responses carry it."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{urlencode({'access_token': access_token})}"


def host_page_url(
    settings: Settings,
    file_id: str,
    user: User,
    permission: Permission,
    *,
    action: str,
    expires_at: int | None = None,
) -> str:
    """Return a reusable host page URL for one user, file and action (HostViewUrl, HostEditUrl).

    The URL carries a signed launch grant, never an access token; the host page trades the grant for
    a fresh access token. expires_at caps the grant, so a URL minted inside a WOPI call cannot outlive
    the token of that call.
    """
    grant = issue_launch_grant(settings, file_id, user, permission, action=action, expires_at=expires_at)
    path = HOST_PAGE_PATH.format(file_id=quote(file_id, safe=""))
    return f"{settings.base_url}{path}?{urlencode({'grant': grant})}"
