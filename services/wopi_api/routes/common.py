"""Steps every WOPI handler shares: reading the token, checking it and the proof, and edit rights."""

from __future__ import annotations

from urllib.parse import unquote_plus

from starlette.requests import Request

from wopi_api.middleware import describe_call
from wopi_api.proofs import verify_request_proof
from wopi_api.state import app_state
from wopi_core.errors import BadRequest, InvalidToken
from wopi_core.tokens import TokenClaims, verify_token

TRUE_VALUES = frozenset({"true", "1", "yes"})


def access_token(request: Request) -> str:
    """Return the access token: the access_token query parameter, else a Bearer Authorization header."""
    token = query_access_token(request.scope.get("query_string", b""))
    if token:
        return token
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def query_access_token(query_string: bytes) -> str:
    """Return the access_token query parameter, decoded, or "" when absent.

    This reads one parameter without building the whole QueryParams mapping, which costs more than
    the rest of the token check for the long query strings WOPI clients send.
    """
    for part in query_string.split(b"&"):
        if part.startswith(b"access_token="):
            return unquote_plus(part[len(b"access_token=") :].decode("latin-1"))
    return ""


async def authorize(request: Request, operation: str, file_id: str | None) -> TokenClaims:
    """Record the call for the access log, then verify the token and the proof; raise InvalidToken."""
    describe_call(request.scope, operation, file_id or "")
    settings = app_state(request)["settings"]
    token = access_token(request)
    claims = verify_token(settings, token, file_id)
    request.scope["wopi.log"]["user_id"] = claims.user.user_id
    await verify_request_proof(request, token)
    return claims


def require_edit(claims: TokenClaims) -> None:
    """Raise InvalidToken (401) unless the token grants edit rights."""
    if not claims.can_write:
        raise InvalidToken("the access token only allows viewing")


def header_flag(request: Request, name: str) -> bool:
    """Read a WOPI Boolean header, whose value may arrive in any case ('True', 'true')."""
    return request.headers.get(name, "").strip().lower() in TRUE_VALUES


def header_int(request: Request, name: str) -> int | None:
    """Read an integer header; raise BadRequest (400) if it is present but not a whole number."""
    raw = request.headers.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return int(raw.strip())
    except ValueError as exc:
        raise BadRequest(f"{name} must be a whole number") from exc
