"""Behaviour of the S3 backend that the shared contract does not cover, checked on the moto S3 server."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
import redis
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED

from tests.conftest import SettingsFactory, free_port
from tests.integration.conftest import S3_ACCESS_KEY, S3_SECRET_KEY, remove_bucket
from wopi_core import errors
from wopi_core.errors import FileNotFound, StorageUnavailable, WopiError
from wopi_core.models import ROOT_CONTAINER_ID
from wopi_core.settings import Settings
from wopi_core.storage import s3
from wopi_core.storage.base import ContentStream
from wopi_core.storage.s3 import PREFIX, S3Storage, build_http_client

LIMIT = 64 * 1024 * 1024


@pytest.fixture
def s3_settings(settings_factory: SettingsFactory, s3_endpoint: str, s3_bucket: str) -> Settings:
    return settings_factory(
        WOPI_S3_ENDPOINT=s3_endpoint,
        WOPI_S3_ACCESS_KEY=S3_ACCESS_KEY,
        WOPI_S3_SECRET_KEY=S3_SECRET_KEY,
        WOPI_S3_BUCKET=s3_bucket,
    )


@pytest.fixture
def storage(s3_settings: Settings, minio_client: Minio) -> Iterator[S3Storage]:
    yield S3Storage.from_settings(s3_settings)
    remove_bucket(minio_client, s3_settings.s3_bucket)


@pytest.fixture
def locked_storage(
    s3_settings: Settings, redis_url: str, redis_client: redis.Redis, minio_client: Minio
) -> Iterator[S3Storage]:
    """The backend as the front-end and the workers build it: with WOPI_REDIS_URL, so with the name lock."""
    yield S3Storage.from_settings(replace(s3_settings, redis_url=redis_url))
    remove_bucket(minio_client, s3_settings.s3_bucket)


def all_versions(client: Minio, bucket: str, key: str) -> list[tuple[str | None, bool]]:
    listing = client.list_objects(bucket, prefix=key, recursive=True, include_version=True)
    return [(entry.version_id, entry.is_delete_marker) for entry in listing]


def unreachable_storage() -> S3Storage:
    """A backend whose endpoint is a loopback port that nothing listens on."""
    client = Minio(
        f"127.0.0.1:{free_port()}",
        access_key=S3_ACCESS_KEY,
        secret_key=S3_SECRET_KEY,
        secure=False,
        http_client=build_http_client(),
    )
    return S3Storage(client, "wopi")


def test_from_settings_creates_bucket_with_versioning(storage: S3Storage, minio_client: Minio) -> None:
    assert minio_client.bucket_exists(storage.bucket)
    assert minio_client.get_bucket_versioning(storage.bucket).status == ENABLED


def test_ensure_bucket_on_existing_bucket_keeps_files(storage: S3Storage) -> None:
    file_id = storage.create_file("a.docx", "owner", io.BytesIO(b"data"), max_size=LIMIT).file_id

    storage.ensure_bucket()

    assert storage.stat(file_id).size == 4


def test_ensure_bucket_enables_versioning_on_plain_bucket(minio_client: Minio, s3_bucket: str) -> None:
    minio_client.make_bucket(s3_bucket)
    try:
        S3Storage(minio_client, s3_bucket).ensure_bucket()

        assert minio_client.get_bucket_versioning(s3_bucket).status == ENABLED
    finally:
        minio_client.remove_bucket(s3_bucket)


def test_object_key_and_metadata_are_ascii(storage: S3Storage, minio_client: Minio) -> None:
    info = storage.create_file("Résumé – 日本語 🚀.docx", "Jürgen", io.BytesIO(b"x"), max_size=LIMIT)

    obj = minio_client.stat_object(storage.bucket, PREFIX + info.file_id)

    assert obj.version_id == info.version
    assert obj.metadata is not None
    assert (
        obj.metadata["x-amz-meta-name"]
        == "R%C3%A9sum%C3%A9%20%E2%80%93%20%E6%97%A5%E6%9C%AC%E8%AA%9E%20%F0%9F%9A%80.docx"
    )
    assert obj.metadata["x-amz-meta-owner-id"] == "J%C3%BCrgen"
    assert obj.metadata["x-amz-meta-sha256"] == info.sha256
    assert obj.metadata["x-amz-meta-size"] == "1"


def test_each_save_is_an_object_version(storage: S3Storage, minio_client: Minio) -> None:
    file_id = storage.create_file("a.docx", "owner", io.BytesIO(b"1"), max_size=LIMIT).file_id
    storage.write(file_id, io.BytesIO(b"2"), modified_by="editor", max_size=LIMIT)

    versions = all_versions(minio_client, storage.bucket, PREFIX + file_id)

    assert len(versions) == 2
    assert [v.version for v in storage.list_versions(file_id)] == [v for v, _marker in reversed(versions)]


def test_large_body_is_uploaded_in_parts(storage: S3Storage, minio_client: Minio) -> None:
    data = os.urandom(12 * 1024 * 1024)
    file_id = storage.create_file("large.bin", "owner", io.BytesIO(data), max_size=LIMIT).file_id

    obj = minio_client.stat_object(storage.bucket, PREFIX + file_id)

    # A multipart object's ETag ends in "-<number of parts>".
    assert obj.etag is not None
    assert obj.etag.endswith("-2")


def test_rename_creates_object_version_with_same_content(storage: S3Storage, minio_client: Minio) -> None:
    created = storage.create_file("old.docx", "owner", io.BytesIO(b"content"), max_size=LIMIT)

    renamed = storage.rename(created.file_id, "new.docx")
    versions = storage.list_versions(created.file_id)

    assert renamed.version != created.version
    assert [v.version for v in versions] == [created.version, renamed.version]
    assert versions[0].sha256 == versions[1].sha256


def test_delete_removes_every_version_and_marker(storage: S3Storage, minio_client: Minio) -> None:
    file_id = storage.create_file("a.docx", "owner", io.BytesIO(b"1"), max_size=LIMIT).file_id
    storage.write(file_id, io.BytesIO(b"2"), modified_by="editor", max_size=LIMIT)
    storage.rename(file_id, "b.docx")

    storage.delete(file_id)

    assert all_versions(minio_client, storage.bucket, PREFIX + file_id) == []


def test_delete_leaves_file_with_longer_key_alone(storage: S3Storage, minio_client: Minio) -> None:
    file_id = storage.create_file("a.docx", "owner", io.BytesIO(b"1"), max_size=LIMIT).file_id
    neighbour = PREFIX + file_id + "0"
    minio_client.put_object(storage.bucket, neighbour, io.BytesIO(b"other"), 5)

    storage.delete(file_id)

    assert len(all_versions(minio_client, storage.bucket, neighbour)) == 1


def test_object_without_metadata_is_not_a_file(storage: S3Storage, minio_client: Minio) -> None:
    foreign_id = "f" * 32
    minio_client.put_object(storage.bucket, PREFIX + foreign_id, io.BytesIO(b"foreign"), 7)
    file_id = storage.create_file("mine.docx", "owner", io.BytesIO(b"mine"), max_size=LIMIT).file_id

    with pytest.raises(FileNotFound):
        storage.stat(foreign_id)
    assert [info.file_id for info in storage.list_files()] == [file_id]


def test_unversioned_bucket_is_rejected_on_write(minio_client: Minio, s3_bucket: str) -> None:
    minio_client.make_bucket(s3_bucket)
    storage = S3Storage(minio_client, s3_bucket)
    try:
        with pytest.raises(WopiError, match="versioning"):
            storage.create_file("a.docx", "owner", io.BytesIO(b"x"), max_size=LIMIT)
    finally:
        for entry in minio_client.list_objects(s3_bucket, recursive=True):
            minio_client.remove_object(s3_bucket, entry.object_name)
        minio_client.remove_bucket(s3_bucket)


@pytest.mark.timeout(60)
def test_open_content_releases_connection(storage: S3Storage, s3_endpoint: str) -> None:
    # One connection and a blocking pool: a response that kept its connection would hang the next request.
    http = urllib3.PoolManager(maxsize=1, block=True, timeout=urllib3.Timeout(connect=5, read=30))
    client = Minio(
        s3_endpoint.removeprefix("http://"),
        access_key=S3_ACCESS_KEY,
        secret_key=S3_SECRET_KEY,
        secure=False,
        http_client=http,
    )
    single = S3Storage(client, storage.bucket)
    file_id = single.create_file("a.bin", "owner", io.BytesIO(os.urandom(3 * 1024 * 1024)), max_size=LIMIT).file_id

    for _ in range(3):
        _info, chunks = single.open_content(file_id)
        next(chunks)
        assert isinstance(chunks, ContentStream)
        chunks.close()
        _info, chunks = single.open_content(file_id)
        assert isinstance(chunks, ContentStream)
        chunks.close()
        _info, chunks = single.open_content(file_id)
        assert sum(len(chunk) for chunk in chunks) == 3 * 1024 * 1024

    assert single.stat(file_id).size == 3 * 1024 * 1024


def test_check_unreachable_endpoint_raises_storage_unavailable() -> None:
    with pytest.raises(StorageUnavailable):
        unreachable_storage().check()


@pytest.mark.parametrize("operation", ["stat", "list_files", "ensure_bucket"])
def test_unreachable_endpoint_raises_storage_unavailable(operation: str) -> None:
    storage = unreachable_storage()

    with pytest.raises(StorageUnavailable) as caught:
        if operation == "stat":
            storage.stat("a" * 32)
        elif operation == "list_files":
            storage.list_files()
        else:
            storage.ensure_bucket()

    assert isinstance(caught.value.__cause__, urllib3.exceptions.HTTPError)


def test_check_missing_bucket_raises_storage_unavailable(minio_client: Minio) -> None:
    with pytest.raises(StorageUnavailable, match="does not exist"):
        S3Storage(minio_client, "wopi-no-such-bucket").check()


def slow_name_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every name check linger after it passes, so that racing writers without a lock both pass it."""
    check = S3Storage._require_free

    def lingering(self: S3Storage, container_id: str, name: str, *, except_id: str = "") -> None:
        check(self, container_id, name, except_id=except_id)
        time.sleep(0.5)

    monkeypatch.setattr(S3Storage, "_require_free", lingering)


def race(attempts: list[Callable[[], object]]) -> list[str]:
    """Run the attempts in threads at once; return 'ok' or the exception class name of each."""
    outcomes: list[str] = []

    def run(attempt: Callable[[], object]) -> None:
        try:
            attempt()
            outcomes.append("ok")
        except WopiError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


def test_name_lock_serialises_file_creates(locked_storage: S3Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_name_checks(monkeypatch)

    def create() -> object:
        return locked_storage.create_file("plan.docx", "u", io.BytesIO(b"x"), max_size=LIMIT, exclusive=True)

    assert race([create, create]) == ["NameTaken", "ok"]
    _, files = locked_storage.list_children(ROOT_CONTAINER_ID)
    assert [info.name for info in files] == ["plan.docx"]


def test_name_lock_serialises_container_names(locked_storage: S3Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    other = locked_storage.create_container("drafts", ROOT_CONTAINER_ID)
    slow_name_checks(monkeypatch)

    def create() -> object:
        return locked_storage.create_container("reports", ROOT_CONTAINER_ID)

    def rename() -> object:
        return locked_storage.rename_container(other.container_id, "Reports")

    assert race([create, rename]) == ["NameTaken", "ok"]
    containers, _ = locked_storage.list_children(ROOT_CONTAINER_ID)
    assert len([info for info in containers if info.name.lower() == "reports"]) == 1


def test_busy_name_lock_gives_503(
    locked_storage: S3Storage, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "NAMES_LOCK_WAIT_SECONDS", 0.2)
    holder = redis_client.lock(f"wopi:s3-names:{locked_storage.bucket}", timeout=30)
    assert holder.acquire(blocking=False)
    try:
        with pytest.raises(errors.StorageUnavailable):
            locked_storage.create_file("late.docx", "u", io.BytesIO(b"x"), max_size=LIMIT, exclusive=True)
    finally:
        holder.release()
    assert locked_storage.list_children(ROOT_CONTAINER_ID) == ([], [])
