"""Access tokens: compact JWTs bound to one file, one user and one permission, with an expiry."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import jwt

from wopi_core.errors import InvalidToken
from wopi_core.models import Permission, User
from wopi_core.settings import Settings

ISSUER = "wopihost"
AUDIENCE = "wopi"
LAUNCH_AUDIENCE = "wopihost-launch"
"""Audience of launch grants, so that a grant is never accepted as an access token, nor the reverse."""
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "fid", "prm"]
LEEWAY_SECONDS = 30
TOKEN_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class TokenClaims:
    file_id: str
    user: User
    permission: Permission
    expires_at: int
    """Expiry in seconds since the epoch."""

    @property
    def can_write(self) -> bool:
        return self.permission is Permission.EDIT

    @property
    def access_token_ttl(self) -> int:
        """The WOPI access_token_ttl: the expiry instant in milliseconds since the epoch."""
        return self.expires_at * 1000


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    access_token_ttl: int
    """Expiry instant in milliseconds since the epoch, as WOPI clients expect it."""


def issue_token(
    settings: Settings,
    file_id: str,
    user: User,
    permission: Permission,
    *,
    expires_at: int | None = None,
    now: float | None = None,
) -> IssuedToken:
    """Sign a token for one file and user; expires_at caps it (tokens minted inside a WOPI call)."""
    issued = int(now if now is not None else time.time())
    expiry = issued + settings.token_ttl
    if expires_at is not None:
        expiry = min(expiry, expires_at)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user.user_id,
        "name": user.display_name,
        "fid": file_id,
        "prm": permission.value,
        "iat": issued,
        "exp": expiry,
    }
    token = jwt.encode(claims, settings.jwt_secret.get(), algorithm=settings.jwt_algorithm)
    return IssuedToken(access_token=token, access_token_ttl=expiry * 1000)


def verify_token(settings: Settings, token: str, file_id: str | None) -> TokenClaims:
    """Check signature, algorithm, expiry, issuer and audience, and that the token is for file_id.

    Raise InvalidToken (401) for any failure; file_id None skips the file binding (container calls).
    """
    if not token:
        raise InvalidToken("missing access token")
    claims = _decode_access_token(settings.jwt_secret.get(), settings.jwt_algorithm, token)
    # A cached decode was checked for expiry when it was first seen, so check again on every use.
    if claims.expires_at + LEEWAY_SECONDS < time.time():
        raise InvalidToken("access token expired")
    if file_id is not None and claims.file_id != file_id:
        raise InvalidToken("access token was issued for another file")
    return claims


# WOPI clients send the same token on every call of an editing session, and checking the HMAC and
# parsing the claims is the largest cost of a CheckFileInfo. Only tokens that verified are cached.
@functools.lru_cache(maxsize=TOKEN_CACHE_SIZE)
def _decode_access_token(secret: str, algorithm: str, token: str) -> TokenClaims:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("access token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid access token ({type(exc).__name__})") from exc
    try:
        permission = Permission(claims["prm"])
    except ValueError as exc:
        raise InvalidToken("access token carries an unknown permission") from exc
    user = User(user_id=str(claims["sub"]), display_name=str(claims.get("name") or claims["sub"]))
    return TokenClaims(file_id=str(claims["fid"]), user=user, permission=permission, expires_at=int(claims["exp"]))


@dataclass(frozen=True, slots=True)
class LaunchGrant:
    file_id: str
    user: User
    permission: Permission
    action: str
    expires_at: int


def issue_launch_grant(
    settings: Settings,
    file_id: str,
    user: User,
    permission: Permission,
    *,
    action: str,
    expires_at: int | None = None,
) -> str:
    """Sign a grant that lets a browser open the host page for one file, user and action."""
    expiry = int(time.time()) + settings.token_ttl
    if expires_at is not None:
        expiry = min(expiry, expires_at)
    secret, algorithm = settings.jwt_secret.get(), settings.jwt_algorithm
    return _signed_launch_grant(secret, algorithm, file_id, user, permission, action, expiry)


# CheckFileInfo returns HostViewUrl and HostEditUrl on every call, capped at the expiry of the
# request's token, so the same arguments recur for a whole session and one signature serves them all.
@functools.lru_cache(maxsize=TOKEN_CACHE_SIZE)
def _signed_launch_grant(
    secret: str, algorithm: str, file_id: str, user: User, permission: Permission, action: str, expiry: int
) -> str:
    claims = {
        "iss": ISSUER,
        "aud": LAUNCH_AUDIENCE,
        "sub": user.user_id,
        "name": user.display_name,
        "fid": file_id,
        "prm": permission.value,
        "act": action,
        "iat": int(time.time()),
        "exp": expiry,
    }
    return jwt.encode(claims, secret, algorithm=algorithm)


def verify_launch_grant(settings: Settings, grant: str, file_id: str) -> LaunchGrant:
    """Check a launch grant like an access token, for the launch audience; raise InvalidToken."""
    try:
        claims = jwt.decode(
            grant,
            settings.jwt_secret.get(),
            algorithms=[settings.jwt_algorithm],
            audience=LAUNCH_AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": [*REQUIRED_CLAIMS, "act"]},
        )
        permission = Permission(claims["prm"])
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise InvalidToken(f"invalid or expired launch link ({type(exc).__name__})") from exc
    if claims["fid"] != file_id:
        raise InvalidToken("the launch link was issued for another file")
    user = User(user_id=str(claims["sub"]), display_name=str(claims.get("name") or claims["sub"]))
    return LaunchGrant(file_id, user, permission, str(claims["act"]), int(claims["exp"]))
