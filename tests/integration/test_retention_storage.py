"""Retention against real storage and Redis: marked versions leave storage, the current and kept ones stay."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import redis

from tests.conftest import SettingsFactory
from wopi_core.errors import FileNotFound
from wopi_core.history import HistoryStore, reconcile, record_stored_version, utc_now
from wopi_core.retention import EXPIRED, RetentionPolicy, apply_retention
from wopi_core.storage.base import StorageBackend
from wopi_core.versions import describe_versions
from wopi_workers import context
from wopi_workers.tasks import retention as retention_tasks

LIMIT = 1024 * 1024
KEEP_TWO = RetentionPolicy(keep_count=2)


@pytest.fixture
def store(redis_client: redis.Redis) -> HistoryStore:
    return HistoryStore(redis_client)


def _recorded_file(storage: StorageBackend, store: HistoryStore, count: int) -> tuple[str, list[str]]:
    """Create a file with count versions, record each in the history, and return its id and versions."""
    file_id = storage.create_file("plan.docx", "u-owner", io.BytesIO(b"v0"), max_size=LIMIT).file_id
    for number in range(1, count):
        storage.write(file_id, io.BytesIO(f"v{number}".encode()), modified_by="u-1", max_size=LIMIT)
    versions = storage.list_versions(file_id)
    for info in versions:
        record_stored_version(store, info)
    return file_id, [info.version for info in versions]


def _stored(storage: StorageBackend, file_id: str) -> list[str]:
    return [info.version for info in storage.list_versions(file_id)]


def _content(storage: StorageBackend, file_id: str, version: str | None = None) -> bytes:
    _info, chunks = storage.open_content(file_id, version)
    return b"".join(chunks)


def test_apply_retention_removes_expired_versions_from_storage(storage: StorageBackend, store: HistoryStore) -> None:
    file_id, versions = _recorded_file(storage, store, 5)

    outcome = apply_retention(storage, store, file_id, KEEP_TWO, utc_now())

    assert outcome.removed == versions[:3]
    assert _stored(storage, file_id) == versions[3:]


def test_apply_retention_leaves_removed_versions_unreadable(storage: StorageBackend, store: HistoryStore) -> None:
    file_id, versions = _recorded_file(storage, store, 4)

    apply_retention(storage, store, file_id, KEEP_TWO, utc_now())

    with pytest.raises(FileNotFound):
        storage.open_content(file_id, versions[0])


def test_apply_retention_keeps_current_and_kept_versions_readable(storage: StorageBackend, store: HistoryStore) -> None:
    file_id, versions = _recorded_file(storage, store, 4)

    apply_retention(storage, store, file_id, KEEP_TWO, utc_now())

    assert _content(storage, file_id) == b"v3"
    assert _content(storage, file_id, versions[2]) == b"v2"


def test_apply_retention_keeps_marks_of_removed_versions(storage: StorageBackend, store: HistoryStore) -> None:
    file_id, versions = _recorded_file(storage, store, 4)

    apply_retention(storage, store, file_id, KEEP_TWO, utc_now())

    assert store.marks(file_id) == {versions[0]: EXPIRED, versions[1]: EXPIRED}


def test_apply_retention_second_run_changes_nothing(storage: StorageBackend, store: HistoryStore) -> None:
    file_id, versions = _recorded_file(storage, store, 4)
    apply_retention(storage, store, file_id, KEEP_TWO, utc_now())

    outcome = apply_retention(storage, store, file_id, KEEP_TWO, utc_now())

    assert outcome.marked == {}
    assert outcome.removed == []
    assert _stored(storage, file_id) == versions[2:]


def test_retention_finishes_interrupted_run(storage: StorageBackend, store: HistoryStore) -> None:
    file_id, versions = _recorded_file(storage, store, 4)
    store.set_marks(file_id, {versions[0]: EXPIRED, versions[1]: EXPIRED})

    outcome = apply_retention(storage, store, file_id, KEEP_TWO, utc_now())

    assert outcome.marked == {}
    assert outcome.removed == versions[:2]


def test_retention_keeps_marked_current(storage: StorageBackend, store: HistoryStore) -> None:
    file_id, versions = _recorded_file(storage, store, 2)
    store.set_marks(file_id, {versions[1]: EXPIRED})

    outcome = apply_retention(storage, store, file_id, RetentionPolicy(keep_count=5), utc_now())

    assert outcome.removed == []
    assert _content(storage, file_id) == b"v1"


def test_apply_retention_keeps_versions_newer_than_days(storage: StorageBackend, store: HistoryStore) -> None:
    file_id, versions = _recorded_file(storage, store, 3)

    outcome = apply_retention(storage, store, file_id, RetentionPolicy(keep_days=1), utc_now() + timedelta(days=2))

    assert outcome.removed == versions[:2]
    assert _stored(storage, file_id) == versions[2:]


def test_reconcile_after_retention(storage: StorageBackend, store: HistoryStore) -> None:
    file_id, versions = _recorded_file(storage, store, 4)
    apply_retention(storage, store, file_id, KEEP_TWO, utc_now())

    report = reconcile(storage, store)
    listed = describe_versions(store.list(file_id), store.marks(file_id), storage.stat(file_id).version)

    assert report.recorded == 0
    assert [v["version"] for v in listed] == [versions[3], versions[2]]


def test_retention_task_removes_versions_beyond_count(
    storage: StorageBackend,
    store: HistoryStore,
    redis_client: redis.Redis,
    settings_factory: SettingsFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    file_id, versions = _recorded_file(storage, store, 4)
    settings = settings_factory(WOPI_VERSION_RETENTION_COUNT="1")
    monkeypatch.setattr(context, "_current", None)
    context.configure(settings, storage=storage, redis_client=redis_client)

    marked = retention_tasks.apply()

    assert marked == 3
    assert _stored(storage, file_id) == versions[3:]
