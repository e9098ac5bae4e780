"""The embedded default: `wopihost serve` with no configuration runs every part and stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
import redis

from tests.integration.served_host import ServedHost


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_runs_embedded_stack_and_stops_cleanly(tmp_path: Path, stop_signal: signal.Signals) -> None:
    host = ServedHost(data_dir=tmp_path / "data", environ={"WOPI_PROOF_KEYS": "off"})
    host.start()
    try:
        ready = httpx.get(f"{host.base_url}/readyz", timeout=5).json()
        assert ready["checks"] == {"redis": "ok", "storage": "ok", "discovery": "ok: not configured"}
        assert (tmp_path / "data" / "jwt-secret").exists()
    finally:
        code = host.stop(stop_signal)
    log = host.log()
    assert code in (0, 130, 128 + stop_signal.value), log
    assert "worker stopped" in log
    assert "bundled Valkey server stopped" in log


def test_files_add_records_first_version_through_worker(tmp_path: Path) -> None:
    host = ServedHost(data_dir=tmp_path / "data", environ={"WOPI_PROOF_KEYS": "off"})
    host.start()
    try:
        source = tmp_path / "added.docx"
        source.write_bytes(b"first content")
        file_id = host.add_file(source, "added.docx")
        assert history_has(host, file_id, "1"), host.log()
    finally:
        host.stop()


def test_serve_records_saved_version_through_worker(tmp_path: Path) -> None:
    host = ServedHost(data_dir=tmp_path / "data", environ={"WOPI_PROOF_KEYS": "off"})
    host.start()
    try:
        source = tmp_path / "new.docx"
        source.write_bytes(b"")
        file_id = host.add_file(source, "new.docx")
        token = host.token(file_id)
        response = httpx.post(
            f"{token['wopi_src']}/contents",
            params={"access_token": str(token["access_token"])},
            headers={"X-WOPI-Override": "PUT"},
            content=b"first save",
            timeout=10,
        )
        assert response.status_code == 200
        version = response.headers["X-WOPI-ItemVersion"]
        assert history_has(host, file_id, version), host.log()
    finally:
        host.stop()


def test_cut_off_upload_keeps_previous_version_and_token_stays_out_of_logs(tmp_path: Path) -> None:
    host = ServedHost(data_dir=tmp_path / "data", environ={"WOPI_PROOF_KEYS": "off"})
    host.start()
    try:
        source = tmp_path / "kept.docx"
        source.write_bytes(b"")
        file_id = host.add_file(source, "kept.docx")
        token = str(host.token(file_id)["access_token"])
        contents = f"/wopi/files/{file_id}/contents"
        first = httpx.post(
            f"{host.base_url}{contents}",
            params={"access_token": token},
            headers={"X-WOPI-Override": "PUT"},
            content=b"previous",
            timeout=10,
        )
        assert first.status_code == 200
        lock = httpx.post(
            f"{host.base_url}/wopi/files/{file_id}",
            params={"access_token": token},
            headers={"X-WOPI-Override": "LOCK", "X-WOPI-Lock": "L"},
            timeout=10,
        )
        assert lock.status_code == 200
        request = (
            f"POST {contents}?access_token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "X-WOPI-Override: PUT\r\nX-WOPI-Lock: L\r\nContent-Length: 100000\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", host.port), timeout=10) as connection:
            connection.sendall(request + b"partial body that never ends")
        time.sleep(1)
        current = httpx.get(f"{host.base_url}{contents}", params={"access_token": token}, timeout=10)
        assert current.content == b"previous"
        assert current.headers["X-WOPI-ItemVersion"] == first.headers["X-WOPI-ItemVersion"]
    finally:
        host.stop()
    log = host.log()
    assert f"/wopi/files/{file_id}/contents" in log
    assert token not in log
    assert token.split(".")[2] not in log


def test_cli_finds_running_host_through_runtime_file(tmp_path: Path) -> None:
    host = ServedHost(data_dir=tmp_path / "data", environ={"WOPI_PROOF_KEYS": "off"})
    host.start()
    try:
        source = tmp_path / "found.docx"
        source.write_bytes(b"")
        file_id = host.add_file(source, "found.docx")
        environ = {key: value for key, value in host.env().items() if not key.startswith("WOPI_")}
        environ["WOPI_DATA_DIR"] = str(host.data_dir)
        command = [sys.executable, "-m", "wopi_api.cli", "token", file_id, "--user", "u1"]
        result = subprocess.run(command, env=environ, capture_output=True, check=True, timeout=60)
        token = json.loads(result.stdout)
        assert token["wopi_src"] == f"{host.base_url}/wopi/files/{file_id}"
        info = httpx.get(str(token["wopi_src"]), params={"access_token": token["access_token"]}, timeout=10)
        assert info.status_code == 200
    finally:
        host.stop()
    assert not (host.data_dir / "runtime.json").exists()


def test_serve_restarts_a_worker_that_exits(tmp_path: Path) -> None:
    host = ServedHost(data_dir=tmp_path / "data", environ={"WOPI_PROOF_KEYS": "off"})
    host.start()
    try:
        first = wait_for_workers(host, 1)
        assert len(first) == 1
        os.kill(first[0], signal.SIGKILL)
        wait_for_workers(host, 2)
        log = host.log()
        assert "worker exited unexpectedly" in log
        assert len(worker_pids(log)) == 2
    finally:
        host.stop()
    assert "worker stopped" in host.log()
    assert processes_using(host.data_dir) == []


def processes_using(data_dir: Path) -> list[int]:
    """Return the pids of processes whose environment names data_dir, such as leftover worker processes."""
    marker = f"WOPI_DATA_DIR={data_dir.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def history_has(host: ServedHost, file_id: str, version: str) -> bool:
    """Wait up to 30 s for the worker to record the version in the served host's history."""
    url = json.loads((host.data_dir / "runtime.json").read_text())["redis_url"]
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if client.hexists(f"wopi:history:{file_id}", version):
                return True
            time.sleep(0.2)
        return False
    finally:
        client.close()


def wait_for_workers(host: ServedHost, count: int) -> list[int]:
    """Wait until the log names count started workers (log lines are written in batches)."""
    deadline = time.monotonic() + 30
    while len(worker_pids(host.log())) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return worker_pids(host.log())


def worker_pids(log: str) -> list[int]:
    return [int(match) for match in re.findall(r"worker started pid=(\d+)", log)]
