"""A real Celery worker, started as a subprocess, consuming save events from a real Redis-compatible broker."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from wopi_core.dead_letters import (
    DeadLetter,
    count_dead_letters,
    list_dead_letters,
    pop_dead_letter,
    push_dead_letter,
    retry_dead_letters,
)
from wopi_core.events import TASK_RECONCILE, FileSaved
from wopi_core.history import HistoryStore, VersionRecord
from wopi_core.settings import Settings, load_settings
from wopi_core.storage import create_storage
from wopi_core.storage.base import StorageBackend
from wopi_workers import context
from wopi_workers.app import create_celery_app
from wopi_workers.tasks import reconcile as reconcile_tasks

WAIT_SECONDS = 30.0
MAX_SIZE = 1024 * 1024
JWT_SECRET = "worker-test-secret-0123456789abcdefghijklmnopqrs"
VISIBILITY_TIMEOUT = 2

# Runs in the worker subprocess. The visibility timeout is shortened so that a message left
# unacknowledged by a killed worker is handed out again within seconds. A task_prerun handler keeps
# record_version back for as long as the gate file exists, so that a test can kill the worker mid-task.
WORKER_SCRIPT = """
import os, pathlib, time
from celery.signals import task_prerun
from wopi_core.settings import load_settings
from wopi_workers.app import create_celery_app, run_worker

settings = load_settings(os.environ)
app = create_celery_app(settings)
options = dict(app.conf.broker_transport_options)
options.update(
    visibility_timeout=int(os.environ["TEST_VISIBILITY_TIMEOUT"]),
    unacked_restore_interval=1,
    unacked_restore_throttle=1,
)
app.conf.broker_transport_options = options
gate = pathlib.Path(os.environ["TEST_GATE"])


def hold(task=None, task_id=None, **kwargs):
    if task.name == "wopi.history.record_version" and gate.exists():
        (gate.parent / "started").write_text(task_id or "")
        while gate.exists():
            time.sleep(0.1)


task_prerun.connect(hold, weak=False)
run_worker(settings, beat=False, concurrency=1, loglevel="INFO", app=app)
"""


@dataclass
class WorkerEnv:
    settings: Settings
    environ: dict[str, str]
    storage: StorageBackend
    gate: Path
    log: Path


class WorkerProcess:
    """One worker subprocess in its own session, so that it and its pool children form one group."""

    def __init__(self, env: WorkerEnv) -> None:
        self._log = env.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT],
            env=env.environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        """Ask for a warm shutdown, and kill the group if it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def kill(self) -> None:
        """Kill the worker and its pool children at once, as a crash or an OOM kill would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)


@pytest.fixture
def worker_env(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> WorkerEnv:
    data_dir = tmp_path / "data"
    environ = {
        key: value for key, value in os.environ.items() if not key.startswith("WOPI_") and not key.startswith("TEST_")
    }
    environ.update(
        WOPI_REDIS_URL=redis_url,
        WOPI_DATA_DIR=str(data_dir),
        WOPI_JWT_SECRET=JWT_SECRET,
        WOPI_LOG_LEVEL="INFO",
        TEST_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        TEST_GATE=str(tmp_path / "gate"),
    )
    settings = load_settings(environ)
    return WorkerEnv(settings, environ, create_storage(settings), tmp_path / "gate", tmp_path / "worker.log")


@pytest.fixture
def start_worker(worker_env: WorkerEnv) -> Iterator[Callable[[], WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        worker = WorkerProcess(worker_env)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


@pytest.fixture
def publisher(redis_url: str) -> Iterator[Celery]:
    """A Celery client like the front-end's: it only publishes by task name."""
    client = Celery("wopi-test-publisher", broker=redis_url)
    client.conf.broker_connection_retry_on_startup = True
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def store(redis_client: redis.Redis) -> HistoryStore:
    return HistoryStore(redis_client)


def _publish(publisher: Celery, event: FileSaved) -> None:
    publisher.send_task("wopi.history.record_version", kwargs=event.kwargs())


def _wait_for(condition: Callable[[], Any], log: Path, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    output = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    pytest.fail(f"timed out after {WAIT_SECONDS}s waiting for {what}, worker output:\n{output}")


def _task_log_lines(log: Path, text: str) -> list[dict[str, Any]]:
    """Return the worker's JSON log lines from the record_version task whose message contains text."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    return [e for e in entries if e.get("logger") == "wopi_workers.tasks.history" and text in e.get("message", "")]


def _drained(client: redis.Redis) -> bool:
    """True once no message waits in the queue and none is delivered but unacknowledged."""
    return client.llen("celery") == 0 and client.hlen("unacked") == 0


def _file_with_two_versions(storage: StorageBackend) -> str:
    info = storage.create_file("minutes.docx", "owner-1", io.BytesIO(b"draft"), max_size=MAX_SIZE)
    storage.write(info.file_id, io.BytesIO(b"final text"), modified_by="editor-2", max_size=MAX_SIZE)
    return info.file_id


def test_worker_records_published_save(
    worker_env: WorkerEnv, start_worker: Callable[[], WorkerProcess], publisher: Celery, store: HistoryStore
) -> None:
    file_id = _file_with_two_versions(worker_env.storage)
    store.set_display_name("editor-2", "Grace Hopper")
    start_worker()
    _publish(publisher, FileSaved(file_id, "2", correlation_id="corr-42", session_id="sess-7"))
    _wait_for(lambda: store.has(file_id, "2"), worker_env.log, "the version record")
    current = worker_env.storage.stat(file_id)
    [rec] = store.list(file_id)
    assert (rec.version_id, rec.author_name, rec.modified_by, rec.size, rec.sha256, rec.correlation_id) == (
        "2",
        "Grace Hopper",
        "editor-2",
        current.size,
        current.sha256,
        "corr-42",
    )


def test_worker_logs_carry_correlation_id_of_the_event(
    worker_env: WorkerEnv, start_worker: Callable[[], WorkerProcess], publisher: Celery, store: HistoryStore
) -> None:
    file_id = _file_with_two_versions(worker_env.storage)
    start_worker()
    _publish(publisher, FileSaved(file_id, "1", correlation_id="corr-log", session_id="sess-log"))
    _wait_for(lambda: _task_log_lines(worker_env.log, file_id), worker_env.log, "the task's log line")
    [entry] = _task_log_lines(worker_env.log, file_id)
    assert (entry["correlation_id"], entry["session_id"]) == ("corr-log", "sess-log")


def test_worker_records_event_delivered_three_times_once(
    worker_env: WorkerEnv,
    start_worker: Callable[[], WorkerProcess],
    publisher: Celery,
    store: HistoryStore,
    redis_client: redis.Redis,
) -> None:
    file_id = _file_with_two_versions(worker_env.storage)
    start_worker()
    for _ in range(3):
        _publish(publisher, FileSaved(file_id, "2"))
    _wait_for(
        lambda: len(_task_log_lines(worker_env.log, "record_version")) == 3 and _drained(redis_client),
        worker_env.log,
        "all three deliveries",
    )
    assert [rec.version_id for rec in store.list(file_id)] == ["2"]


def test_reconcile_recovers_save_whose_event_was_never_published(
    worker_env: WorkerEnv, start_worker: Callable[[], WorkerProcess], publisher: Celery, store: HistoryStore
) -> None:
    file_id = _file_with_two_versions(worker_env.storage)
    start_worker()
    publisher.send_task(TASK_RECONCILE)
    _wait_for(lambda: store.last_reconcile() is not None, worker_env.log, "the reconcile report")
    report = store.last_reconcile()
    assert report is not None
    assert ([rec.version_id for rec in store.list(file_id)], report.files, report.recorded) == (["1", "2"], 1, 2)


def test_worker_killed_mid_task_records_once(
    worker_env: WorkerEnv,
    start_worker: Callable[[], WorkerProcess],
    publisher: Celery,
    store: HistoryStore,
    redis_client: redis.Redis,
) -> None:
    file_id = _file_with_two_versions(worker_env.storage)
    worker_env.gate.touch()
    first = start_worker()
    _publish(publisher, FileSaved(file_id, "2"))
    started = worker_env.gate.parent / "started"
    _wait_for(started.exists, worker_env.log, "the task to start")
    first.kill()
    worker_env.gate.unlink()
    assert not store.has(file_id, "2")
    # The unacknowledged message becomes visible again once the visibility timeout has passed.
    time.sleep(VISIBILITY_TIMEOUT + 0.5)
    start_worker()
    _wait_for(lambda: store.has(file_id, "2"), worker_env.log, "the redelivered record")
    _publish(publisher, FileSaved(file_id, "2"))
    _wait_for(lambda: _drained(redis_client), worker_env.log, "the repeated event")
    assert [rec.version_id for rec in store.list(file_id)] == ["2"]


def test_failed_task_is_dead_lettered_then_retried(
    worker_env: WorkerEnv,
    start_worker: Callable[[], WorkerProcess],
    publisher: Celery,
    store: HistoryStore,
    redis_client: redis.Redis,
) -> None:
    file_id = _file_with_two_versions(worker_env.storage)
    broken = worker_env.settings.data_dir / "files" / file_id / "versions" / "9.json"
    broken.write_text("{not json")
    start_worker()
    _publish(publisher, FileSaved(file_id, "2", correlation_id="corr-dead"))
    _wait_for(lambda: count_dead_letters(redis_client) == 1, worker_env.log, "the dead letter")
    [letter] = list_dead_letters(redis_client)
    assert (letter.task, letter.kwargs["file_id"], letter.error_type) == (
        "wopi.history.record_version",
        file_id,
        "JSONDecodeError",
    )
    broken.unlink()
    retried = retry_dead_letters(redis_client, lambda name, kwargs: publisher.send_task(name, kwargs=kwargs))
    _wait_for(lambda: store.has(file_id, "2"), worker_env.log, "the retried record")
    assert (retried, count_dead_letters(redis_client)) == (1, 0)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["beat"], id="beat"),
        pytest.param(["worker", "--beat"], id="worker-with-embedded-beat"),
    ],
)
def test_beat_schedule_file_in_data_dir(worker_env: WorkerEnv, argv: list[str]) -> None:
    with worker_env.log.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "wopi_workers", *argv],
            env=worker_env.environ,
            cwd=worker_env.log.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for(
                lambda: any(worker_env.settings.data_dir.glob("celerybeat-schedule*")), worker_env.log, "the schedule"
            )
            process.send_signal(signal.SIGTERM)
            returncode = process.wait(timeout=15)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
    leftovers = list(worker_env.log.parent.glob("celerybeat-schedule*"))
    assert (returncode, leftovers) == (0, [])


T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def _record(version_id: str, modified_at: datetime, file_id: str = "f1") -> VersionRecord:
    return VersionRecord(
        file_id=file_id,
        version_id=version_id,
        size=len(version_id),
        sha256="hash-" + version_id,
        modified_at=modified_at,
        modified_by="u1",
        author_name="",
        correlation_id="",
        session_id="",
        recorded_at=modified_at,
    )


def test_history_store_record_twice_keeps_the_first(store: HistoryStore) -> None:
    first = _record("1", T0)
    store.record(first)
    added = store.record(replace(first, size=999))
    assert (added, store.list("f1")) == (False, [first])


def test_history_store_lists_oldest_first(store: HistoryStore) -> None:
    for version_id, minutes in (("b", 5), ("c", 9), ("a", 1)):
        store.record(_record(version_id, T0 + timedelta(minutes=minutes)))
    assert [rec.version_id for rec in store.list("f1")] == ["a", "b", "c"]


def test_history_store_concurrent_record_one_winner(store: HistoryStore) -> None:
    contenders = 16
    barrier = threading.Barrier(contenders)
    results: list[bool] = []
    lock = threading.Lock()

    def contend() -> None:
        barrier.wait()
        added = store.record(_record("7", T0))
        with lock:
            results.append(added)

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert (results.count(True), len(store.list("f1"))) == (1, 1)


def test_history_store_forget_removes_every_record(store: HistoryStore) -> None:
    store.record(_record("1", T0))
    store.forget("f1")
    assert (store.list("f1"), store.has("f1", "1")) == ([], False)


def test_history_store_keys_are_namespaced(store: HistoryStore, redis_client: redis.Redis) -> None:
    store.record(_record("1", T0))
    store.set_display_name("u1", "Ada")
    keys = [key.decode() if isinstance(key, bytes) else key for key in redis_client.keys("*")]
    assert keys and all(key.startswith("wopi:") for key in keys)


def test_history_store_unknown_user_has_empty_display_name(store: HistoryStore) -> None:
    assert store.display_name("nobody") == ""


def test_dead_letters_pop_returns_oldest_first(redis_client: redis.Redis) -> None:
    for name in ("wopi.first", "wopi.second"):
        push_dead_letter(redis_client, DeadLetter.from_exception(name, {}, ValueError("x")))
    popped = pop_dead_letter(redis_client)
    assert (popped.task if popped else None, count_dead_letters(redis_client)) == ("wopi.first", 1)


def test_retry_dead_letters_keeps_letter_when_publish_fails(redis_client: redis.Redis) -> None:
    push_dead_letter(redis_client, DeadLetter.from_exception("wopi.x", {"file_id": "f"}, ValueError("x")))

    def broken_publish(name: str, kwargs: dict[str, Any]) -> None:
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        retry_dead_letters(redis_client, broken_publish)
    assert [letter.kwargs for letter in list_dead_letters(redis_client)] == [{"file_id": "f"}]


def test_reconcile_task_skips_when_locked(
    worker_env: WorkerEnv, redis_client: redis.Redis, store: HistoryStore
) -> None:
    app = create_celery_app(worker_env.settings)
    context.configure(worker_env.settings, redis_client=redis_client)
    _file_with_two_versions(worker_env.storage)
    held = redis_client.lock(reconcile_tasks.LOCK_KEY, timeout=30)
    assert held.acquire(blocking=False)
    try:
        ran = app.tasks[TASK_RECONCILE].run()
    finally:
        held.release()
        app.close()
    assert (ran, store.last_reconcile()) == (False, None)
