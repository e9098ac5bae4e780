"""Settings read once from WOPI_* environment variables into a frozen, validated dataclass."""

from __future__ import annotations

import enum
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from wopi_core.errors import ConfigError

logger = logging.getLogger(__name__)

T = TypeVar("T")

PLACEHOLDER_SECRETS = frozenset({"changethis", "changeme", "secret", "password"})
JWT_ALGORITHMS = ("HS256", "HS384", "HS512")
SECRET_FILE_NAME = "jwt-secret"
MIN_SECRET_LENGTH = 32


VARIABLES = (
    "WOPI_MODE",
    "WOPI_JWT_SECRET",
    "WOPI_JWT_ALGORITHM",
    "WOPI_TOKEN_TTL",
    "WOPI_BASE_URL",
    "WOPI_DISCOVERY_URL",
    "WOPI_DISCOVERY_REFRESH",
    "WOPI_RECONCILE_INTERVAL",
    "WOPI_REDIS_URL",
    "WOPI_REDIS_TIMEOUT",
    "WOPI_BROKER_URL",
    "WOPI_S3_ENDPOINT",
    "WOPI_S3_ACCESS_KEY",
    "WOPI_S3_SECRET_KEY",
    "WOPI_S3_BUCKET",
    "WOPI_S3_REGION",
    "WOPI_DATA_DIR",
    "WOPI_PROOF_KEYS",
    "WOPI_LOCK_TTL",
    "WOPI_MAX_FILE_SIZE",
    "WOPI_API_KEY",
    "WOPI_BEHIND_TLS",
    "WOPI_TRUSTED_PROXIES",
    "WOPI_LOG_LEVEL",
    "WOPI_VERSION_RETENTION_COUNT",
    "WOPI_VERSION_RETENTION_DAYS",
    "WOPI_VERSION_COALESCE",
)
"""Every environment variable load_settings reads."""


class Mode(enum.StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ProofKeyMode(enum.StrEnum):
    ENFORCE = "enforce"
    WARN = "warn"
    OFF = "off"


class Secret:
    """A string whose repr is masked, so that settings can be logged or printed safely."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)

    def get(self) -> str:
        """Return the secret value itself."""
        return self._value


@dataclass(frozen=True, slots=True)
class Settings:
    mode: Mode = Mode.DEVELOPMENT
    jwt_secret: Secret = field(default_factory=lambda: Secret(""))
    jwt_algorithm: str = "HS256"
    token_ttl: int = 36000
    """Lifetime of access tokens minted by the host, in seconds (WOPI recommends 10 hours)."""
    base_url: str = "http://127.0.0.1:8000"
    """Public URL that WOPI clients call; WOPISrc, host page URLs and proof checks are built from it."""
    discovery_url: str = ""
    discovery_refresh: int = 43200
    """Seconds between scheduled discovery refreshes."""
    reconcile_interval: int = 300
    """Seconds between runs of the job that reconciles storage with the version history."""
    redis_url: str = ""
    """Empty means: start the bundled Redis-compatible server (embedded default)."""
    s3_endpoint: str = ""
    """Empty means: use the filesystem backend in data_dir."""
    s3_access_key: Secret = field(default_factory=lambda: Secret(""))
    s3_secret_key: Secret = field(default_factory=lambda: Secret(""))
    s3_bucket: str = "wopi"
    s3_region: str = ""
    data_dir: Path = Path("wopihost-data")
    proof_keys: ProofKeyMode = ProofKeyMode.WARN
    lock_ttl: int = 1800
    """Lock expiry in seconds."""
    max_file_size: int = 1024 * 1024 * 1024
    """Largest body PutFile accepts, in bytes."""
    api_key: Secret = field(default_factory=lambda: Secret(""))
    behind_tls: bool = False
    trusted_proxies: tuple[str, ...] = ()
    log_level: str = "INFO"
    redis_timeout: float = 5.0
    """Socket timeout for every Redis call, in seconds."""
    broker_url: str = ""
    """Celery broker; empty means the same server as redis_url."""
    version_retention_count: int = 0
    """Versions kept per file by the retention job; 0 keeps every version."""
    version_retention_days: int = 0
    """Age in days beyond which the retention job expires versions; 0 keeps them whatever their age."""
    version_coalesce: bool = False
    """Whether the retention job keeps only the last save of each finished editing session."""

    @property
    def storage_kind(self) -> str:
        return "s3" if self.s3_endpoint else "local"

    @property
    def celery_broker_url(self) -> str:
        """Return the broker URL Celery uses: WOPI_BROKER_URL, else WOPI_REDIS_URL."""
        return self.broker_url or self.redis_url


class _Reader:
    """Collects every problem with the environment before one ConfigError reports them all."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def parse(self, name: str, default: T, convert: Callable[[str], T], expected: str) -> T:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            return convert(raw)
        except ValueError:
            self.problems.append(f"{name}: expected {expected}, got {raw!r}")
            return default

    def positive_int(self, name: str, default: int, unit: str) -> int:
        def convert(raw: str) -> int:
            value = int(raw)
            if value <= 0:
                raise ValueError(raw)
            return value

        return self.parse(name, default, convert, f"a positive whole number of {unit}")

    def non_negative_int(self, name: str, default: int, unit: str) -> int:
        def convert(raw: str) -> int:
            value = int(raw)
            if value < 0:
                raise ValueError(raw)
            return value

        return self.parse(name, default, convert, f"a whole number of {unit}, 0 or more")

    def boolean(self, name: str, default: bool) -> bool:
        def convert(raw: str) -> bool:
            lowered = raw.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)

        return self.parse(name, default, convert, "true or false")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        def convert(raw: str) -> str:
            if raw not in choices:
                raise ValueError(raw)
            return raw

        return self.parse(name, default, convert, "one of " + ", ".join(choices))

    def url(self, name: str, default: str, schemes: tuple[str, ...]) -> str:
        def convert(raw: str) -> str:
            parts = urlsplit(raw)
            if parts.scheme not in schemes or not parts.netloc:
                raise ValueError(raw)
            return raw.rstrip("/")

        return self.parse(name, default, convert, "an absolute " + " or ".join(schemes) + " URL")


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and validate every WOPI_* variable; raise one ConfigError naming each invalid one."""
    read = _Reader(environ)
    mode = Mode(read.choice("WOPI_MODE", Mode.DEVELOPMENT.value, tuple(m.value for m in Mode)))
    production = mode is Mode.PRODUCTION
    default_proof = ProofKeyMode.ENFORCE if production else ProofKeyMode.WARN

    settings = Settings(
        mode=mode,
        jwt_secret=Secret(read.raw("WOPI_JWT_SECRET") or ""),
        jwt_algorithm=read.choice("WOPI_JWT_ALGORITHM", "HS256", JWT_ALGORITHMS),
        token_ttl=read.positive_int("WOPI_TOKEN_TTL", 36000, "seconds"),
        base_url=read.url("WOPI_BASE_URL", "http://127.0.0.1:8000", ("http", "https")),
        discovery_url=read.raw("WOPI_DISCOVERY_URL") or "",
        discovery_refresh=read.positive_int("WOPI_DISCOVERY_REFRESH", 43200, "seconds"),
        reconcile_interval=read.positive_int("WOPI_RECONCILE_INTERVAL", 300, "seconds"),
        redis_url=read.url("WOPI_REDIS_URL", "", ("redis", "rediss", "unix")),
        s3_endpoint=read.url("WOPI_S3_ENDPOINT", "", ("http", "https")),
        s3_access_key=Secret(read.raw("WOPI_S3_ACCESS_KEY") or ""),
        s3_secret_key=Secret(read.raw("WOPI_S3_SECRET_KEY") or ""),
        s3_bucket=read.raw("WOPI_S3_BUCKET") or "wopi",
        s3_region=read.raw("WOPI_S3_REGION") or "",
        data_dir=Path(read.raw("WOPI_DATA_DIR") or "wopihost-data"),
        proof_keys=ProofKeyMode(
            read.choice("WOPI_PROOF_KEYS", default_proof.value, tuple(m.value for m in ProofKeyMode))
        ),
        lock_ttl=read.positive_int("WOPI_LOCK_TTL", 1800, "seconds"),
        max_file_size=read.positive_int("WOPI_MAX_FILE_SIZE", 1024 * 1024 * 1024, "bytes"),
        api_key=Secret(read.raw("WOPI_API_KEY") or ""),
        behind_tls=read.boolean("WOPI_BEHIND_TLS", False),
        trusted_proxies=tuple(p.strip() for p in (read.raw("WOPI_TRUSTED_PROXIES") or "").split(",") if p.strip()),
        log_level=read.choice("WOPI_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        redis_timeout=read.parse("WOPI_REDIS_TIMEOUT", 5.0, float, "seconds as a number"),
        broker_url=read.url("WOPI_BROKER_URL", "", ("redis", "rediss", "unix")),
        version_retention_count=read.non_negative_int("WOPI_VERSION_RETENTION_COUNT", 0, "versions"),
        version_retention_days=read.non_negative_int("WOPI_VERSION_RETENTION_DAYS", 0, "days"),
        version_coalesce=read.boolean("WOPI_VERSION_COALESCE", False),
    )
    _check_consistency(settings, read)
    if read.problems:
        raise ConfigError(read.problems)
    return settings


def _check_consistency(settings: Settings, read: _Reader) -> None:
    production = settings.mode is Mode.PRODUCTION
    secret = settings.jwt_secret.get()
    if secret and secret.lower() in PLACEHOLDER_SECRETS and production:
        read.problems.append("WOPI_JWT_SECRET: a placeholder secret is not allowed in production; use a random value")
    elif secret and len(secret) < MIN_SECRET_LENGTH and production:
        read.problems.append(f"WOPI_JWT_SECRET: expected at least {MIN_SECRET_LENGTH} characters in production")
    if production and not secret:
        read.problems.append("WOPI_JWT_SECRET: missing; production needs a fixed secret shared by every process")
    if production and not settings.api_key:
        read.problems.append("WOPI_API_KEY: missing; production needs a key for the /api/v1 routes")
    if production and settings.base_url.startswith("http:") and not settings.behind_tls:
        read.problems.append(
            "WOPI_BASE_URL: production needs an https URL; set WOPI_BEHIND_TLS=true if a TLS proxy serves it"
        )
    if settings.s3_endpoint:
        for name, value in (
            ("WOPI_S3_ACCESS_KEY", settings.s3_access_key),
            ("WOPI_S3_SECRET_KEY", settings.s3_secret_key),
        ):
            if not value:
                read.problems.append(f"{name}: missing; needed because WOPI_S3_ENDPOINT is set")
        if not settings.s3_bucket:
            read.problems.append("WOPI_S3_BUCKET: missing; needed because WOPI_S3_ENDPOINT is set")


def resolve_jwt_secret(settings: Settings) -> Settings:
    """Return settings with a JWT secret: the configured one, or one generated once and kept in data_dir.

    The generated secret is written with owner-only permissions so that every process of an embedded
    installation (front-end, worker, CLI) signs and verifies with the same key.
    """
    if settings.jwt_secret:
        return settings
    path = settings.data_dir / SECRET_FILE_NAME
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        logger.warning(
            "WOPI_JWT_SECRET is not set: generated a secret and stored it in %s; "
            "set WOPI_JWT_SECRET for any deployment with more than one machine",
            path,
        )
    value = path.read_text().strip()
    return replace(settings, jwt_secret=Secret(value))
