"""POST /api/v1/files/{file_id}/sessions: an embedding application requests a session that opens a file for one user."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wopi_api.api_auth import check_api_key, json_error
from wopi_api.discovery_access import current_discovery
from wopi_api.middleware import describe_call
from wopi_api.state import app_state
from wopi_core.errors import FileNotFound
from wopi_core.launch import (
    TICKET_TTL_SECONDS,
    LaunchError,
    client_action_url,
    create_ticket,
    find_client_action,
    make_launch_request,
    ticket_host_page_url,
)
from wopi_core.tokens import issue_token
from wopi_core.urls import wopi_src

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
FIELDS = ("user_id", "display_name", "permission", "action", "language")
NO_DISCOVERY_MESSAGE = (
    "no WOPI discovery is loaded: set WOPI_DISCOVERY_URL to the WOPI client's discovery URL "
    "(for example https://onenote.officeapps.live.com/hosting/discovery) and run `wopihost discovery refresh`"
)


async def create_session(request: Request) -> Response:
    """Create an editing session: 201 with access token, action URL and a single-use host page URL.

    401 wrong API key; 403 no API key configured; 400 body not JSON; 422 invalid field or no discovery
    action for the file; 404 unknown file; 503 no discovery loaded.
    """
    file_id = request.path_params["file_id"]
    describe_call(request.scope, "CreateSession", file_id)
    rejection = check_api_key(request)
    if rejection is not None:
        return rejection
    body = await _read_json(request)
    if isinstance(body, Response):
        return body
    state = app_state(request)
    settings = state["settings"]
    try:
        launch = make_launch_request(file_id, **body)
        info = await run_in_threadpool(state["storage"].stat, file_id)
    except LaunchError as exc:
        return _reject(422, str(exc), file_id)
    except FileNotFound:
        return _reject(404, f"file not found: {file_id}", file_id)

    discovery = await current_discovery(request)
    if discovery is None:
        return _reject(503, NO_DISCOVERY_MESSAGE, file_id)
    try:
        action = find_client_action(discovery, launch.action, info.name)
    except LaunchError as exc:
        return _reject(422, str(exc), file_id)

    issued = issue_token(settings, file_id, launch.user, launch.permission)
    ticket = await create_ticket(state["redis"], launch)
    logger.info("session created file_id=%s user_id=%s action=%s", file_id, launch.user.user_id, launch.action)
    return JSONResponse(
        {
            "file_id": file_id,
            "access_token": issued.access_token,
            "access_token_ttl": issued.access_token_ttl,
            "action": launch.action,
            "action_url": client_action_url(settings, action, file_id, language=launch.language),
            "wopi_src": wopi_src(settings, file_id),
            "host_page_url": ticket_host_page_url(settings, file_id, ticket),
            "host_page_url_expires_in": TICKET_TTL_SECONDS,
        },
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


def _reject(status_code: int, message: str, file_id: str) -> Response:
    logger.info("session rejected file_id=%s status=%s reason=%s", file_id, status_code, message)
    return json_error(status_code, message)


async def _read_json(request: Request) -> dict[str, str] | Response:
    """Return the body's known fields as strings, or a 400/422 response explaining what is wrong."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return json_error(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data: Any = json.loads(raw or b"{}")
    except ValueError:
        return json_error(400, "the request body is not valid JSON")
    if not isinstance(data, dict):
        return json_error(400, "the request body must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        return json_error(422, f"unknown fields: {', '.join(unknown)}; expected {', '.join(FIELDS)}")
    for name, value in data.items():
        if not isinstance(value, str):
            return json_error(422, f"{name}: expected a string")
    if "user_id" not in data:
        return json_error(422, "user_id: required")
    return {name: value for name, value in data.items() if isinstance(value, str)}
