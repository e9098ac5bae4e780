"""Opening a document: launch tickets, the WOPI client's action URL and the host page language.

A launch ticket is a random id kept in Redis for about a minute. It names one file, user, permission,
action and language, and the host page consumes it exactly once (GETDEL), so a host page URL handed to a
browser is useless after its first load and never carries an access token.
"""

from __future__ import annotations

import enum
import json
import mimetypes
import re
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import redis
import redis.asyncio as aioredis

from wopi_core.action_urls import forward_wd_params, resolve_action_url
from wopi_core.discovery import Action, Discovery
from wopi_core.models import Permission, User
from wopi_core.names import split_extension
from wopi_core.settings import Settings
from wopi_core.urls import HOST_PAGE_PATH, wopi_src

TICKET_TTL_SECONDS = 60
"""How long a launch ticket waits for its host page load."""
USED_MARKER_TTL_SECONDS = 3600
"""How long a consumed ticket id is kept, so that a second load reports "already used" rather than "expired"."""
TICKET_KEY_PREFIX = "wopi:launch:ticket:"
USED_KEY_PREFIX = "wopi:launch:used:"

HOST_CAPABILITIES = frozenset({"locks", "update"})
"""Requirement groups of discovery actions that this host implements (PutFile, PutRelativeFile, the lock family)."""
WRITE_ACTIONS = frozenset({"edit", "editnew", "convert"})
"""Actions that change the file and so need edit permission."""

_ACTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,31}$")
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$")
_TICKET_ID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
FORBIDDEN_USER_ID_CHARACTERS = frozenset('<>"#{}^[]`\\/')


class LaunchError(ValueError):
    """A launch request that cannot be served. The message explains the reason to the person who sent it."""


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """A request to open one file for one user, with a permission, a discovery action and a language."""

    file_id: str
    user: User
    permission: Permission
    action: str
    language: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "file_id": self.file_id,
                "user_id": self.user.user_id,
                "display_name": self.user.display_name,
                "permission": self.permission.value,
                "action": self.action,
                "language": self.language,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> LaunchRequest:
        data = json.loads(text)
        return cls(
            file_id=str(data["file_id"]),
            user=User(user_id=str(data["user_id"]), display_name=str(data["display_name"])),
            permission=Permission(data["permission"]),
            action=str(data["action"]),
            language=str(data.get("language") or ""),
        )


class TicketState(enum.StrEnum):
    """The reason a ticket could not be consumed."""

    USED = "used"
    UNKNOWN = "unknown"
    """Expired, or never issued: Redis cannot tell these apart once the key has gone."""


def make_launch_request(
    file_id: str,
    user_id: str,
    display_name: str = "",
    permission: str = Permission.EDIT.value,
    action: str = "",
    language: str = "",
) -> LaunchRequest:
    """Validate the fields of a launch request and raise LaunchError naming the first invalid one.

    The action defaults to "edit" for edit permission and "view" otherwise.
    """
    user_id = user_id.strip()
    if not user_id:
        raise LaunchError("user_id: required")
    if len(user_id) > 256 or any(c in FORBIDDEN_USER_ID_CHARACTERS or ord(c) < 32 for c in user_id):
        raise LaunchError('user_id: at most 256 characters, none of < > " # { } ^ [ ] ` \\ / or control characters')
    try:
        granted = Permission(permission)
    except ValueError as exc:
        raise LaunchError(f"permission: expected view or edit, got {permission!r}") from exc
    chosen = action or ("edit" if granted is Permission.EDIT else "view")
    if not _ACTION_NAME.match(chosen):
        raise LaunchError(f"action: expected a discovery action name such as view or edit, got {chosen!r}")
    if chosen in WRITE_ACTIONS and granted is not Permission.EDIT:
        raise LaunchError(f"action: {chosen} needs edit permission")
    if language and not _LANGUAGE_TAG.match(language):
        raise LaunchError(f"language: expected a language tag such as en-US, got {language!r}")
    user = User(user_id=user_id, display_name=display_name.strip() or user_id)
    return LaunchRequest(file_id=file_id, user=user, permission=granted, action=chosen, language=language)


def new_ticket_id() -> str:
    return secrets.token_urlsafe(24)


def is_ticket_id(value: str) -> bool:
    """Tell whether value has the shape of a ticket id, so nothing else is looked up in Redis."""
    return bool(_TICKET_ID.match(value))


async def create_ticket(client: aioredis.Redis, request: LaunchRequest) -> str:
    """Store a single-use ticket for request and return its id."""
    ticket_id = new_ticket_id()
    await client.set(TICKET_KEY_PREFIX + ticket_id, request.to_json(), ex=TICKET_TTL_SECONDS)
    return ticket_id


def create_ticket_sync(client: redis.Redis, request: LaunchRequest) -> str:
    """Store a single-use ticket for request and return its id (for the command line)."""
    ticket_id = new_ticket_id()
    client.set(TICKET_KEY_PREFIX + ticket_id, request.to_json(), ex=TICKET_TTL_SECONDS)
    return ticket_id


async def consume_ticket(client: aioredis.Redis, ticket_id: str) -> LaunchRequest | TicketState:
    """Take a ticket out of Redis atomically and return its request, or a TicketState when it is gone.

    GETDEL hands the ticket to exactly one caller, however many host pages load it at once.
    """
    if not is_ticket_id(ticket_id):
        return TicketState.UNKNOWN
    raw = await client.getdel(TICKET_KEY_PREFIX + ticket_id)
    if raw is None:
        used = await client.exists(USED_KEY_PREFIX + ticket_id)
        return TicketState.USED if used else TicketState.UNKNOWN
    await client.set(USED_KEY_PREFIX + ticket_id, b"1", ex=USED_MARKER_TTL_SECONDS)
    return LaunchRequest.from_json(raw)


def ticket_host_page_url(settings: Settings, file_id: str, ticket_id: str) -> str:
    """Return the host page URL that redeems one ticket."""
    path = HOST_PAGE_PATH.format(file_id=quote(file_id, safe=""))
    return f"{settings.base_url}{path}?{urlencode({'ticket': ticket_id})}"


def find_client_action(discovery: Discovery, action_name: str, file_name: str) -> Action:
    """Return the discovery action for a file name, among those this host's capabilities allow.

    Extensions are looked up first. Clients that name their apps by MIME type (Collabora Online) are tried
    next. Raise LaunchError when the WOPI client offers no such action for the file.
    """
    extension = split_extension(file_name)[1]
    found = discovery.find_action(action_name, extension, capabilities=HOST_CAPABILITIES) if extension else None
    if found is None:
        mime_type = mimetypes.guess_type(file_name, strict=False)[0]
        if mime_type:
            found = discovery.find_action_for_mime_type(action_name, mime_type, capabilities=HOST_CAPABILITIES)
    if found is None:
        shown = extension or "(no extension)"
        raise LaunchError(f"the WOPI client offers no {action_name!r} action for {shown} files")
    return found


def client_action_url(
    settings: Settings, action: Action, file_id: str, *, language: str = "", host_page_query: str = ""
) -> str:
    """Fill the action's URL template for one file and forward the host page's wd* query parameters."""
    url = resolve_action_url(
        action.urlsrc,
        wopi_src(settings, file_id),
        ui_language=language or None,
        data_language=language or None,
    )
    return forward_wd_params(url, host_page_query) if host_page_query else url


def language_from_accept(header: str) -> str:
    """Return the preferred language tag of an Accept-Language header, or "" when it names none usable."""
    best = ""
    best_weight = 0.0
    for item in header.split(","):
        tag, _, parameters = item.strip().partition(";")
        tag = tag.strip()
        weight = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag != "*" and _LANGUAGE_TAG.match(tag) and weight > best_weight:
            best, best_weight = tag, weight
    return best
