"""`wopihost open` and `wopihost discovery show|refresh`, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from tests.conftest import SettingsFactory
from tests.integration.wopi_client import WopiClient, wopi_client
from tests.proof_signing import client_keys, discovery_xml
from wopi_core.discovery_store import DISCOVERY_KEY, read_status
from wopi_core.launch import TICKET_KEY_PREFIX

JWT_SECRET = "cli-test-secret-0123456789abcdefghijklmnopqrstuv"
BASE_URL = "https://wopi.example.test"


@pytest.fixture
def environ(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> dict[str, str]:
    discovery = tmp_path / "discovery.xml"
    discovery.write_bytes(discovery_xml(client_keys()))
    values = {key: value for key, value in os.environ.items() if not key.startswith("WOPI_")}
    values.update(
        WOPI_REDIS_URL=redis_url,
        WOPI_DISCOVERY_URL=str(discovery),
        WOPI_DATA_DIR=str(tmp_path / "data"),
        WOPI_JWT_SECRET=JWT_SECRET,
        WOPI_BASE_URL=BASE_URL,
        WOPI_PROOF_KEYS="off",
    )
    return values


@pytest.fixture
def client(settings_factory: SettingsFactory, environ: dict[str, str]) -> Iterator[WopiClient]:
    settings = settings_factory({key: value for key, value in environ.items() if key.startswith("WOPI_")})
    with wopi_client(settings) as made:
        yield made


def wopihost(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wopi_api.cli", *args], env=environ, capture_output=True, text=True, timeout=60
    )


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_discovery_refresh_stores_and_prints_discovery(environ: dict[str, str], redis_client: redis.Redis) -> None:
    result = wopihost(environ, "discovery", "refresh")
    assert result.returncode == 0
    assert "edit: docx wopitest" in result.stdout
    assert redis_client.exists(DISCOVERY_KEY) == 1


def test_discovery_show_prints_fingerprints_and_age(environ: dict[str, str]) -> None:
    wopihost(environ, "discovery", "refresh")
    output = wopihost(environ, "discovery", "show").stdout
    assert "proof key: SHA256:" in output
    assert "old proof key: SHA256:" in output
    assert "min ago)" in output


def test_discovery_show_without_cache_exits_1(environ: dict[str, str]) -> None:
    result = wopihost(environ, "discovery", "show")
    assert result.returncode == 1
    assert "discovery refresh" in result.stdout


def test_discovery_refresh_failure_keeps_copy_and_exits_1(
    environ: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    wopihost(environ, "discovery", "refresh")
    good = redis_client.get(DISCOVERY_KEY)
    result = wopihost(environ | {"WOPI_DISCOVERY_URL": str(tmp_path / "missing.xml")}, "discovery", "refresh")
    assert result.returncode == 1
    assert redis_client.get(DISCOVERY_KEY) == good
    assert read_status(redis_client).failures == 1


def test_open_prints_single_use_host_page_url(
    environ: dict[str, str], client: WopiClient, redis_client: redis.Redis
) -> None:
    file_id = client.add_file("report.docx")
    wopihost(environ, "discovery", "refresh")
    url = wopihost(environ, "open", file_id, "--user", "u-1").stdout.strip()
    ticket = parse_qs(urlsplit(url).query)["ticket"][0]
    assert url.startswith(f"{BASE_URL}/host/files/{file_id}?ticket=")
    assert redis_client.exists(TICKET_KEY_PREFIX + ticket) == 1


def test_open_url_loads_host_page_once(environ: dict[str, str], client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    wopihost(environ, "discovery", "refresh")
    path = local_path(wopihost(environ, "open", file_id, "--user", "u-1", "--action", "view").stdout.strip())
    statuses = [client.http.get(path).status_code for _ in range(2)]
    assert statuses == [200, 410]


def test_open_view_action_targets_view_url(environ: dict[str, str], client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    wopihost(environ, "discovery", "refresh")
    path = local_path(wopihost(environ, "open", file_id, "--user", "u-1", "--action", "view").stdout.strip())
    assert "/we/wordeditorframe/view.aspx?" in client.http.get(path).text


def test_open_unknown_file_exits_1(environ: dict[str, str]) -> None:
    wopihost(environ, "discovery", "refresh")
    result = wopihost(environ, "open", "no-such-file", "--user", "u-1")
    assert result.returncode == 1
    assert result.stdout == ""


def test_open_without_discovery_explains_what_to_set(
    environ: dict[str, str], client: WopiClient, redis_client: redis.Redis
) -> None:
    file_id = client.add_file("report.docx")
    # Starting the app cached discovery; removing it shows what a user without discovery sees.
    redis_client.delete(DISCOVERY_KEY)
    result = wopihost(environ, "open", file_id, "--user", "u-1")
    assert result.returncode == 2
    assert "WOPI_DISCOVERY_URL" in result.stderr
    assert "cannot open the file: no WOPI discovery is cached" in result.stderr


def test_open_without_redis_prints_signed_link(environ: dict[str, str], client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    without_redis = {key: value for key, value in environ.items() if key != "WOPI_REDIS_URL"}
    url = wopihost(without_redis, "open", file_id, "--user", "u-1").stdout.strip()
    assert client.http.get(local_path(url)).status_code == 200
