"""Settings loading: defaults, validation messages, masking, and the generated development secret."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from wopi_core.errors import ConfigError
from wopi_core.settings import VARIABLES, Mode, ProofKeyMode, Secret, load_settings, resolve_jwt_secret

PRODUCTION = {
    "WOPI_MODE": "production",
    "WOPI_JWT_SECRET": "p" * 48,
    "WOPI_API_KEY": "k" * 32,
    "WOPI_BASE_URL": "https://wopi.example.com",
    "WOPI_REDIS_URL": "redis://redis:6379/0",
}


def test_load_settings_defaults_to_embedded_development() -> None:
    settings = load_settings({})
    assert settings.mode is Mode.DEVELOPMENT
    assert settings.lock_ttl == 1800
    assert settings.redis_url == ""
    assert settings.storage_kind == "local"
    assert settings.proof_keys is ProofKeyMode.WARN


def test_load_settings_reports_every_invalid_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"WOPI_LOCK_TTL": "30m", "WOPI_PROOF_KEYS": "maybe", "WOPI_BASE_URL": "ftp://x"})
    message = str(caught.value)
    assert "WOPI_LOCK_TTL: expected a positive whole number of seconds, got '30m'" in message
    assert "WOPI_PROOF_KEYS: expected one of enforce, warn, off" in message
    assert "WOPI_BASE_URL: expected an absolute http or https URL" in message
    assert len(caught.value.problems) == 3


def test_production_defaults_to_enforcing_proof_keys() -> None:
    assert load_settings(PRODUCTION).proof_keys is ProofKeyMode.ENFORCE


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"WOPI_JWT_SECRET": ""}, "WOPI_JWT_SECRET: missing", id="no-secret"),
        pytest.param({"WOPI_JWT_SECRET": "changethis"}, "placeholder secret", id="placeholder"),
        pytest.param({"WOPI_JWT_SECRET": "short"}, "at least 32 characters", id="short"),
        pytest.param({"WOPI_API_KEY": ""}, "WOPI_API_KEY: missing", id="no-api-key"),
        pytest.param({"WOPI_BASE_URL": "http://wopi.example.com"}, "needs an https URL", id="plain-http"),
    ],
)
def test_production_rejects_unsafe_settings(change: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings({**PRODUCTION, **change})


def test_production_accepts_http_behind_tls_proxy() -> None:
    settings = load_settings({**PRODUCTION, "WOPI_BASE_URL": "http://wopi.internal", "WOPI_BEHIND_TLS": "true"})
    assert settings.behind_tls is True


def test_s3_endpoint_requires_credentials() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"WOPI_S3_ENDPOINT": "http://127.0.0.1:9000"})
    assert any("WOPI_S3_ACCESS_KEY" in problem for problem in caught.value.problems)
    assert any("WOPI_S3_SECRET_KEY" in problem for problem in caught.value.problems)


def test_secret_repr_is_masked() -> None:
    settings = load_settings({"WOPI_JWT_SECRET": "very-secret-value-0123456789abcdef"})
    assert "very-secret" not in repr(settings)
    assert isinstance(settings.jwt_secret, Secret)
    assert settings.jwt_secret.get() == "very-secret-value-0123456789abcdef"


def test_generated_secret_is_kept_with_owner_only_permissions(tmp_path: Path) -> None:
    settings = load_settings({"WOPI_DATA_DIR": str(tmp_path)})
    first = resolve_jwt_secret(settings)
    second = resolve_jwt_secret(settings)
    path = tmp_path / "jwt-secret"
    assert first.jwt_secret.get() == second.jwt_secret.get()
    assert len(first.jwt_secret.get()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_generated_secret_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings({"WOPI_DATA_DIR": str(tmp_path)})
    resolve_jwt_secret(settings)
    resolve_jwt_secret(settings)
    warnings = [record for record in caplog.records if "WOPI_JWT_SECRET is not set" in record.getMessage()]
    assert len(warnings) == 1


def test_variables_lists_every_name_read() -> None:
    source = (Path(__file__).resolve().parents[2] / "shared" / "wopi_core" / "settings.py").read_text()
    read = set(re.findall(r'\("(WOPI_[A-Z0-9_]+)"', source))
    assert read
    assert read <= set(VARIABLES)
