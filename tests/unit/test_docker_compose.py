"""docker-compose.yml, .env.example and the Dockerfile agree with each other and with the settings loader.

No Docker engine runs here, so the compose file is parsed and its variables are substituted the way Compose
does it, with the values from .env.example and generated placeholders for the secrets left empty there.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from wopi_core.settings import VARIABLES, Mode, ProofKeyMode, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_PATH = ROOT / "docker-compose.yml"
ENV_EXAMPLE_PATH = ROOT / ".env.example"
DOCKERFILE_PATH = ROOT / "Dockerfile"

WOPIHOST_SERVICES = ("api", "worker", "beat")
HEALTHCHECKED_SERVICES = ("minio", "redis", "api", "worker", "beat")
SHARED_SETTINGS = (
    "WOPI_MODE",
    "WOPI_JWT_SECRET",
    "WOPI_REDIS_URL",
    "WOPI_S3_ENDPOINT",
    "WOPI_S3_ACCESS_KEY",
    "WOPI_S3_SECRET_KEY",
    "WOPI_S3_BUCKET",
)
REQUIRED_SECRETS = ("WOPI_JWT_SECRET", "WOPI_API_KEY", "WOPI_S3_SECRET_KEY", "MINIO_ROOT_PASSWORD")
PLACEHOLDER_DISCOVERY_URL = "https://office.example.com/hosting/discovery"

REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:?[-?])(?P<argument>[^}]*))?\}")


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """Substitute ${NAME}, ${NAME:-default} and ${NAME:?message} as Compose does; `$$` becomes `$`."""

    def replace(match: re.Match[str]) -> str:
        name, operator, argument = match["name"], match["operator"], match["argument"] or ""
        value = environ.get(name)
        unset = value is None or (value == "" and operator is not None and operator.startswith(":"))
        if operator is not None and operator.endswith("?") and unset:
            raise KeyError(f"{name}: {argument}")
        if operator is not None and operator.endswith("-") and unset:
            return argument
        return value or ""

    pieces = text.split("$$")
    return "$".join(REFERENCE.sub(replace, piece) for piece in pieces)


def substitute(node: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, environ)
    if isinstance(node, list):
        return [substitute(item, environ) for item in node]
    if isinstance(node, dict):
        return {key: substitute(value, environ) for key, value in node.items()}
    return node


def read_env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE_PATH.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, _, value = stripped.partition("=")
        values[name.strip()] = value.strip()
    return values


def required_names() -> set[str]:
    """Return the variables that the compose file references with `:?`, so that Compose stops without them."""
    text = COMPOSE_PATH.read_text()
    return {match["name"] for match in REFERENCE.finditer(text) if (match["operator"] or "").endswith("?")}


def placeholder_environment() -> dict[str, str]:
    """Return .env.example with each empty required value filled: random secrets, an example discovery URL."""
    environ = read_env_example()
    for name in required_names():
        if environ.get(name):
            continue
        environ[name] = PLACEHOLDER_DISCOVERY_URL if name == "WOPI_DISCOVERY_URL" else secrets.token_urlsafe(48)
    return environ


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """Return a service's environment as a dict, whether the file writes it as a mapping or a list."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return {name: value for name, _, value in (str(item).partition("=") for item in raw)}
    return {str(name): "" if value is None else str(value) for name, value in raw.items()}


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_PATH.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any]) -> dict[str, Any]:
    substituted = substitute(raw_compose, placeholder_environment())
    assert isinstance(substituted, dict)
    return substituted


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def test_compose_defines_expected_services(services: dict[str, Any]) -> None:
    assert set(services) == {"minio", "minio-setup", "redis", "api", "worker", "beat", "flower"}


@pytest.mark.parametrize(
    ("service", "image_prefix"),
    [
        pytest.param("minio", "minio/minio", id="minio"),
        pytest.param("minio-setup", "minio/mc", id="minio-setup"),
        pytest.param("redis", "redis:7-alpine", id="redis"),
        pytest.param("flower", "mher/flower", id="flower"),
    ],
)
def test_compose_third_party_images(services: dict[str, Any], service: str, image_prefix: str) -> None:
    assert str(services[service]["image"]).startswith(image_prefix)


@pytest.mark.parametrize("service", WOPIHOST_SERVICES)
def test_compose_services_build_image(services: dict[str, Any], service: str) -> None:
    assert services[service]["build"] == "."


@pytest.mark.parametrize(
    ("service", "command"),
    [
        pytest.param("api", ["api", "--host", "0.0.0.0", "--port", "8000"], id="api"),
        pytest.param("worker", ["worker"], id="worker"),
        pytest.param("beat", ["beat"], id="beat"),
    ],
)
def test_compose_service_commands(services: dict[str, Any], service: str, command: list[str]) -> None:
    assert services[service]["command"] == command


def test_flower_in_monitoring_profile(services: dict[str, Any]) -> None:
    assert services["flower"]["profiles"] == ["monitoring"]


def test_compose_wopi_names_known(raw_compose: dict[str, Any]) -> None:
    used = {
        name
        for service in raw_compose["services"].values()
        for name in environment_of(service)
        if name.startswith("WOPI_")
    }
    unknown = sorted(used - set(VARIABLES))
    assert used
    assert unknown == []


@pytest.mark.parametrize("service", HEALTHCHECKED_SERVICES)
def test_compose_service_has_healthcheck(services: dict[str, Any], service: str) -> None:
    test = services[service].get("healthcheck", {}).get("test")
    assert test
    assert test[0] in ("CMD", "CMD-SHELL")


def test_redis_healthcheck_pings(services: dict[str, Any]) -> None:
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_api_healthcheck_polls_healthz(services: dict[str, Any]) -> None:
    test = services["api"]["healthcheck"]["test"]
    assert test[1] == "python"
    assert "http://127.0.0.1:8000/healthz" in test[-1]


def test_api_publishes_port_8000(services: dict[str, Any]) -> None:
    ports = [str(port) for port in services["api"]["ports"]]
    assert "8000:8000" in ports


def test_minio_setup_versions_bucket(services: dict[str, Any]) -> None:
    setup = services["minio-setup"]
    script = "\n".join(setup["command"])
    bucket = environment_of(setup)["WOPI_S3_BUCKET"]
    assert 'mc mb --ignore-existing "local/$WOPI_S3_BUCKET"' in script
    assert 'mc version enable "local/$WOPI_S3_BUCKET"' in script
    assert bucket == environment_of(services["api"])["WOPI_S3_BUCKET"]


def test_minio_setup_creates_user(services: dict[str, Any]) -> None:
    setup_env = environment_of(services["minio-setup"])
    api_env = environment_of(services["api"])
    script = "\n".join(services["minio-setup"]["command"])
    assert 'mc admin user add local "$WOPI_S3_ACCESS_KEY" "$WOPI_S3_SECRET_KEY"' in script
    assert setup_env["WOPI_S3_ACCESS_KEY"] == api_env["WOPI_S3_ACCESS_KEY"]
    assert setup_env["WOPI_S3_SECRET_KEY"] == api_env["WOPI_S3_SECRET_KEY"]


@pytest.mark.parametrize("name", SHARED_SETTINGS)
def test_compose_services_share_setting(services: dict[str, Any], name: str) -> None:
    values = {service: environment_of(services[service]).get(name) for service in WOPIHOST_SERVICES}
    assert values["api"]
    assert values["worker"] == values["api"]
    assert values["beat"] == values["api"]


def test_compose_uses_own_redis_minio(services: dict[str, Any]) -> None:
    environ = environment_of(services["api"])
    assert environ["WOPI_REDIS_URL"] == "redis://redis:6379/0"
    assert environ["WOPI_S3_ENDPOINT"] == "http://minio:9000"


@pytest.mark.parametrize("service", WOPIHOST_SERVICES)
def test_compose_services_wait_dependencies(services: dict[str, Any], service: str) -> None:
    depends_on = services[service]["depends_on"]
    assert depends_on["redis"]["condition"] == "service_healthy"
    assert depends_on["minio-setup"]["condition"] == "service_completed_successfully"


def test_minio_setup_waits_for_minio(services: dict[str, Any]) -> None:
    assert services["minio-setup"]["depends_on"]["minio"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", WOPIHOST_SERVICES)
def test_compose_production_settings_load(services: dict[str, Any], service: str) -> None:
    settings = load_settings(environment_of(services[service]))
    assert settings.mode is Mode.PRODUCTION
    assert settings.behind_tls is True
    assert settings.storage_kind == "s3"
    assert settings.proof_keys is ProofKeyMode.ENFORCE


def test_compose_requires_every_secret() -> None:
    assert set(REQUIRED_SECRETS) <= required_names()


@pytest.mark.parametrize("name", REQUIRED_SECRETS)
def test_compose_requires_secret(raw_compose: dict[str, Any], name: str) -> None:
    environ = placeholder_environment()
    del environ[name]
    with pytest.raises(KeyError, match=name):
        substitute(raw_compose, environ)


def test_env_example_documents_variables() -> None:
    referenced = {match["name"] for match in REFERENCE.finditer(COMPOSE_PATH.read_text())}
    assert sorted(referenced - set(read_env_example())) == []


def test_env_example_leaves_secrets_empty() -> None:
    environ = read_env_example()
    assert [name for name in REQUIRED_SECRETS if environ[name]] == []


def test_dockerfile_builds_from_python_slim() -> None:
    assert "FROM python:3.11-slim" in DOCKERFILE_PATH.read_text().splitlines()


def test_dockerfile_runs_non_root() -> None:
    lines = DOCKERFILE_PATH.read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")


def test_dockerfile_entrypoint_is_wopihost() -> None:
    assert 'ENTRYPOINT ["wopihost"]' in DOCKERFILE_PATH.read_text().splitlines()


@pytest.mark.parametrize("service", WOPIHOST_SERVICES)
def test_python_healthcheck_compiles(services: dict[str, Any], service: str) -> None:
    test = services[service]["healthcheck"]["test"]
    assert test[1:3] == ["python", "-c"]
    compile(test[3], f"<{service} healthcheck>", "exec")
