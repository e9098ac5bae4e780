"""The embedded default: `wopihost serve` with no configuration runs every part and stops cleanly."""

from __future__ import annotations

import signal
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
        assert ready["checks"] == {"redis": "ok", "storage": "ok"}
        assert (tmp_path / "data" / "jwt-secret").exists()
    finally:
        code = host.stop(stop_signal)
    log = host.log()
    assert code in (0, 130, 128 + stop_signal.value), log
    assert "worker stopped" in log
    assert "bundled Valkey server stopped" in log


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
        redis_url = next(line for line in host.log().splitlines() if "bundled Valkey server started" in line)
        url = redis_url.split("url=")[1].split()[0].rstrip('",')
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not client.hexists(f"wopi:history:{file_id}", version):
            time.sleep(0.2)
        assert client.hexists(f"wopi:history:{file_id}", version), host.log()
        client.close()
    finally:
        host.stop()
