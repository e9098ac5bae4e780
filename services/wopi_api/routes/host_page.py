"""GET /host/files/{file_id}: the host page that frames the WOPI client and posts it an access token.

A browser arrives with either a single-use `ticket` (from the sessions API or `wopihost open`) or a
reusable signed `grant` (HostViewUrl, HostEditUrl). Either way the page mints a fresh access token and
posts it, with access_token_ttl, into an iframe showing the WOPI client's action URL.
"""

from __future__ import annotations

import html
import logging
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from wopi_api.discovery_access import current_discovery
from wopi_api.middleware import describe_call
from wopi_api.state import app_state
from wopi_api.templates import markup, render
from wopi_core.errors import FileNotFound, InvalidToken
from wopi_core.launch import (
    LaunchError,
    LaunchRequest,
    TicketState,
    client_action_url,
    consume_ticket,
    find_client_action,
    language_from_accept,
)
from wopi_core.tokens import issue_token, verify_launch_grant

logger = logging.getLogger(__name__)

NO_CACHE_HEADERS = {
    "Cache-Control": "no-cache, no-store",
    "Expires": "-1",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
}
# The page runs only its own inline script and style, which carry a fresh nonce. Frames, form posts and
# images may use any http(s) origin, so that the policy cannot block a WOPI client that redirects its frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src https: http:; "
    "frame-src https: http:; form-action https: http:; base-uri 'none'; object-src 'none'"
)
TICKET_MESSAGES = {
    TicketState.USED: "This link has already been used. Open the document again from the application that sent you.",
    TicketState.UNKNOWN: "This link has expired or is not valid. Links to open a document work once, for about a "
    "minute; open the document again from the application that sent you.",
}


async def host_page(request: Request) -> Response:
    """Serve the host page that frames the WOPI client for a ticket or a grant.

    Status codes: 200 the page; 400 missing launch parameter or a ticket for another file; 401 invalid grant;
    404 file not found; 410 used or expired ticket; 422 no discovery action for the file; 503 no discovery.
    """
    file_id = request.path_params["file_id"]
    describe_call(request.scope, "HostPage", file_id)
    launch = await _launch_request(request, file_id)
    if isinstance(launch, Response):
        return launch

    state = app_state(request)
    settings = state["settings"]
    try:
        info = await run_in_threadpool(state["storage"].stat, file_id)
    except FileNotFound:
        logger.info("host page for a file that does not exist file_id=%s", file_id)
        return error_page(404, "Document not found", "The document does not exist or has been deleted.")
    discovery = await current_discovery(request)
    if discovery is None:
        logger.warning("host page requested but no discovery is loaded; set WOPI_DISCOVERY_URL file_id=%s", file_id)
        return error_page(503, "Office client unavailable", "The host has not loaded WOPI discovery yet.")
    try:
        action = find_client_action(discovery, launch.action, info.name)
    except LaunchError as exc:
        logger.info("host page has no client action file_id=%s reason=%s", file_id, exc)
        return error_page(422, "Cannot open this document", str(exc))

    language = launch.language or language_from_accept(request.headers.get("accept-language", ""))
    query = request.scope.get("query_string", b"").decode("latin-1")
    issued = issue_token(settings, file_id, launch.user, launch.permission)
    nonce = secrets.token_urlsafe(16)
    page = render(
        "host_page.html",
        nonce=nonce,
        page_language=language or "en",
        title=info.name,
        favicon_link=_favicon_link(action.fav_icon_url),
        action_url=client_action_url(settings, action, file_id, language=language, host_page_query=query),
        access_token=issued.access_token,
        access_token_ttl=issued.access_token_ttl,
    )
    logger.info("host page served file_id=%s user_id=%s action=%s", file_id, launch.user.user_id, launch.action)
    return HTMLResponse(page, headers=page_headers(nonce))


async def _launch_request(request: Request, file_id: str) -> LaunchRequest | Response:
    """Read the ticket or grant of the page URL, or return the error page that explains what is wrong."""
    ticket = request.query_params.get("ticket", "")
    grant = request.query_params.get("grant", "")
    if ticket:
        found = await consume_ticket(app_state(request)["redis"], ticket)
        if isinstance(found, TicketState):
            logger.warning("host page ticket rejected file_id=%s state=%s", file_id, found.value)
            return error_page(410, "Link no longer valid", TICKET_MESSAGES[found])
        if found.file_id != file_id:
            logger.warning("host page ticket is for another file file_id=%s", file_id)
            return error_page(400, "Link not valid", "This link was issued for another document.")
        return found
    if grant:
        try:
            checked = verify_launch_grant(app_state(request)["settings"], grant, file_id)
        except InvalidToken as exc:
            logger.warning("host page grant rejected file_id=%s reason=%s", file_id, exc.message)
            return error_page(401, "Link not valid", "This link has expired or is not valid.")
        return LaunchRequest(file_id, checked.user, checked.permission, checked.action)
    return error_page(400, "Link not valid", "The link has no ticket or grant parameter.")


def _favicon_link(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        return ""
    return markup(f'<link rel="icon" href="{html.escape(url)}">')


def page_headers(nonce: str) -> dict[str, str]:
    """Return the headers of an HTML page whose inline script and style carry nonce: no caching, and the CSP."""
    return {**NO_CACHE_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY.format(nonce=nonce)}


def error_page(status_code: int, title: str, message: str) -> HTMLResponse:
    """Render the host's HTML error page, uncached and with the same policy as the host page itself."""
    nonce = secrets.token_urlsafe(16)
    page = render("host_error.html", nonce=nonce, title=title, message=message)
    return HTMLResponse(page, status_code=status_code, headers=page_headers(nonce))
