"""Proof keys checked on WOPI calls against discovery keys cached in Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import SettingsFactory
from tests.integration.wopi_client import WopiClient, wopi_client
from tests.proof_signing import ClientKeys, client_keys, discovery_xml, proof_headers
from wopi_core.discovery_store import read_status

PUBLIC_BASE = "https://wopi.example.test"
INTERNAL_BASE = "http://testserver"


@pytest.fixture
def discovery_file(tmp_path: Path) -> Path:
    path = tmp_path / "discovery.xml"
    path.write_bytes(discovery_xml(client_keys()))
    return path


def make_client(settings_factory: SettingsFactory, redis_url: str, discovery: Path, mode: str) -> Iterator[WopiClient]:
    settings = settings_factory(
        WOPI_REDIS_URL=redis_url,
        WOPI_DISCOVERY_URL=str(discovery),
        WOPI_PROOF_KEYS=mode,
        WOPI_BASE_URL=PUBLIC_BASE,
    )
    with wopi_client(settings) as client:
        yield client


@pytest.fixture
def enforcing(
    settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis, discovery_file: Path
) -> Iterator[WopiClient]:
    yield from make_client(settings_factory, redis_url, discovery_file, "enforce")


def signed_check_file_info(
    client: WopiClient, file_id: str, base: str, keys: ClientKeys | None = None, age: float = 0
) -> int:
    token = client.token(file_id)
    url = f"{base}/wopi/files/{file_id}?access_token={token}"
    headers = proof_headers(token, url, keys=keys, age_seconds=age)
    return client.http.get(f"/wopi/files/{file_id}", params={"access_token": token}, headers=headers).status_code


def test_proof_over_public_url_is_accepted(enforcing: WopiClient) -> None:
    file_id = enforcing.add_file()
    assert signed_check_file_info(enforcing, file_id, PUBLIC_BASE) == 200


def test_proof_over_internal_url_is_rejected(enforcing: WopiClient) -> None:
    file_id = enforcing.add_file()
    assert signed_check_file_info(enforcing, file_id, INTERNAL_BASE) == 500


def test_request_without_proof_is_rejected_when_enforcing(enforcing: WopiClient) -> None:
    file_id = enforcing.add_file()
    response = enforcing.check_file_info(file_id)
    assert response.status_code == 500
    assert "proof" in response.headers["X-WOPI-ServerError"]


def test_proof_older_than_20_minutes_is_rejected(enforcing: WopiClient) -> None:
    file_id = enforcing.add_file()
    assert signed_check_file_info(enforcing, file_id, PUBLIC_BASE, age=21 * 60) == 500


def test_proof_signed_with_old_key_is_accepted(enforcing: WopiClient) -> None:
    file_id = enforcing.add_file()
    client_not_rotated = ClientKeys(current=client_keys().old, old=client_keys().old)
    assert signed_check_file_info(enforcing, file_id, PUBLIC_BASE, keys=client_not_rotated) == 200


def test_proof_old_signed_with_current_key_is_accepted(enforcing: WopiClient) -> None:
    file_id = enforcing.add_file()
    client_rotated = ClientKeys(
        current=rsa.generate_private_key(public_exponent=65537, key_size=2048), old=client_keys().current
    )
    assert signed_check_file_info(enforcing, file_id, PUBLIC_BASE, keys=client_rotated) == 200


def test_proof_from_unknown_keys_is_rejected(enforcing: WopiClient) -> None:
    file_id = enforcing.add_file()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert signed_check_file_info(enforcing, file_id, PUBLIC_BASE, keys=ClientKeys(stranger, stranger)) == 500


def test_discovery_is_cached_in_redis_at_start(enforcing: WopiClient, redis_client: redis.Redis) -> None:
    assert redis_client.exists("wopi:discovery") == 1
    assert read_status(redis_client).fetched_at is not None


def test_warn_mode_allows_request_without_proof(
    settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis, discovery_file: Path
) -> None:
    for client in make_client(settings_factory, redis_url, discovery_file, "warn"):
        file_id = client.add_file()
        assert client.check_file_info(file_id).status_code == 200
