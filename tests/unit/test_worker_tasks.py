"""The worker tasks' own behaviour, with the task functions called directly and no broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from celery import Celery
from celery.exceptions import Retry

from tests.conftest import SettingsFactory
from wopi_core.errors import StorageUnavailable
from wopi_core.events import TASK_RECORD_VERSION
from wopi_core.models import VersionInfo
from wopi_core.storage.local import LocalStorage
from wopi_workers import context
from wopi_workers.app import create_celery_app
from wopi_workers.tasks import history as history_tasks

UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"


class UnavailableStorage(LocalStorage):
    """A backend whose every listing fails as an unreachable S3 endpoint would."""

    def list_versions(self, file_id: str) -> list[VersionInfo]:
        raise StorageUnavailable("storage is down")


@pytest.fixture
def worker_app(settings_factory: SettingsFactory) -> Iterator[Celery]:
    app = create_celery_app(settings_factory(WOPI_REDIS_URL=UNREACHABLE_REDIS))
    try:
        yield app
    finally:
        app.close()


def test_record_version_retries_when_storage_is_unavailable(
    worker_app: Celery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context.configure(context.current().settings, storage=UnavailableStorage(tmp_path / "files"))
    task = worker_app.tasks[TASK_RECORD_VERSION]
    calls: list[dict[str, Any]] = []

    def fake_retry(**kwargs: Any) -> NoReturn:
        calls.append(kwargs)
        raise Retry("retrying", when=kwargs.get("countdown"))

    monkeypatch.setattr(task, "retry", fake_retry)
    with pytest.raises(Retry):
        task.run(file_id="abc", version_id="1")
    assert isinstance(calls[0]["exc"], StorageUnavailable)


def test_record_version_retry_countdown_is_bounded(
    worker_app: Celery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context.configure(context.current().settings, storage=UnavailableStorage(tmp_path / "files"))
    task = worker_app.tasks[TASK_RECORD_VERSION]
    countdowns: list[float] = []

    def fake_retry(**kwargs: Any) -> NoReturn:
        countdowns.append(kwargs["countdown"])
        raise Retry("retrying")

    monkeypatch.setattr(task, "retry", fake_retry)
    with pytest.raises(Retry):
        task.run(file_id="abc", version_id="1")
    assert 0 <= countdowns[0] <= history_tasks.RETRY_BACKOFF_MAX


def test_record_version_for_deleted_file_finishes_without_retry(
    worker_app: Celery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context.configure(context.current().settings, storage=LocalStorage(tmp_path / "files"))
    task = worker_app.tasks[TASK_RECORD_VERSION]

    def fail_retry(**kwargs: Any) -> NoReturn:
        raise AssertionError("a deleted file must not be retried")

    monkeypatch.setattr(task, "retry", fail_retry)
    assert task.run(file_id="0123abcd", version_id="1") == "file_gone"


def test_record_version_acks_late_finite_retries(worker_app: Celery) -> None:
    task = worker_app.tasks[TASK_RECORD_VERSION]
    assert (task.acks_late, task.max_retries) == (True, history_tasks.MAX_RETRIES)


def test_context_current_without_configure_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "_current", None)
    with pytest.raises(RuntimeError, match="create_celery_app"):
        context.current()
