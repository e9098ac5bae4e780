"""Access tokens: binding to file, user and permission; every invalid form gives InvalidToken."""

from __future__ import annotations

import time
from types import SimpleNamespace

import jwt
import pytest

from tests.conftest import SettingsFactory
from wopi_core import tokens
from wopi_core.errors import InvalidToken
from wopi_core.models import Permission, User
from wopi_core.tokens import AUDIENCE, ISSUER, issue_token, verify_token

USER = User("u-1", "Ana")


def test_issue_and_verify_round_trip(settings_factory: SettingsFactory) -> None:
    settings = settings_factory()
    issued = issue_token(settings, "file-1", USER, Permission.EDIT)
    claims = verify_token(settings, issued.access_token, "file-1")
    assert claims.user == USER
    assert claims.permission is Permission.EDIT
    assert claims.can_write is True
    assert claims.access_token_ttl == issued.access_token_ttl


def test_access_token_ttl_is_expiry_in_epoch_milliseconds(settings_factory: SettingsFactory) -> None:
    settings = settings_factory(WOPI_TOKEN_TTL="600")
    now = time.time()
    issued = issue_token(settings, "f", USER, Permission.VIEW, now=now)
    assert issued.access_token_ttl == (int(now) + 600) * 1000


def test_expires_at_caps_the_lifetime(settings_factory: SettingsFactory) -> None:
    settings = settings_factory()
    cap = int(time.time()) + 60
    issued = issue_token(settings, "f", USER, Permission.EDIT, expires_at=cap)
    assert issued.access_token_ttl == cap * 1000


def test_token_for_other_file_is_rejected(settings_factory: SettingsFactory) -> None:
    settings = settings_factory()
    issued = issue_token(settings, "file-1", USER, Permission.EDIT)
    with pytest.raises(InvalidToken, match="another file"):
        verify_token(settings, issued.access_token, "file-2")


def test_expired_token_is_rejected(settings_factory: SettingsFactory) -> None:
    settings = settings_factory(WOPI_TOKEN_TTL="10")
    issued = issue_token(settings, "f", USER, Permission.EDIT, now=time.time() - 3600)
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(settings, issued.access_token, "f")


def test_token_signed_with_other_secret_is_rejected(settings_factory: SettingsFactory) -> None:
    issued = issue_token(settings_factory(WOPI_JWT_SECRET="x" * 40), "f", USER, Permission.EDIT)
    with pytest.raises(InvalidToken):
        verify_token(settings_factory(), issued.access_token, "f")


def test_unsigned_token_is_rejected(settings_factory: SettingsFactory) -> None:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "fid": "f", "prm": "edit", "iat": now, "exp": now + 60}
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(InvalidToken):
        verify_token(settings_factory(), unsigned, "f")


def test_token_with_other_algorithm_is_rejected(settings_factory: SettingsFactory) -> None:
    settings = settings_factory(WOPI_JWT_SECRET="s" * 64)
    issued = issue_token(
        settings_factory(WOPI_JWT_ALGORITHM="HS512", WOPI_JWT_SECRET="s" * 64), "f", USER, Permission.EDIT
    )
    with pytest.raises(InvalidToken):
        verify_token(settings, issued.access_token, "f")


def test_token_missing_required_claim_is_rejected(settings_factory: SettingsFactory) -> None:
    settings = settings_factory()
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "iat": now, "exp": now + 60}
    token = jwt.encode(claims, settings.jwt_secret.get(), algorithm="HS256")
    with pytest.raises(InvalidToken):
        verify_token(settings, token, "f")


def test_empty_token_is_rejected(settings_factory: SettingsFactory) -> None:
    with pytest.raises(InvalidToken, match="missing"):
        verify_token(settings_factory(), "", "f")


def test_cached_token_is_rejected_once_expired(
    settings_factory: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_factory(WOPI_TOKEN_TTL="60")
    issued = issue_token(settings, "f", USER, Permission.EDIT)
    assert verify_token(settings, issued.access_token, "f").user == USER
    later = time.time() + 3600
    monkeypatch.setattr(tokens, "time", SimpleNamespace(time=lambda: later))
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(settings, issued.access_token, "f")


def test_cached_token_still_checks_file_binding(settings_factory: SettingsFactory) -> None:
    settings = settings_factory()
    issued = issue_token(settings, "file-1", USER, Permission.EDIT)
    verify_token(settings, issued.access_token, "file-1")
    with pytest.raises(InvalidToken, match="another file"):
        verify_token(settings, issued.access_token, "file-2")
