"""Two front-end processes on one Redis agree on every lock."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import redis

from tests.conftest import free_port
from wopi_core.models import Permission, User
from wopi_core.settings import load_settings
from wopi_core.storage.local import LocalStorage
from wopi_core.tokens import issue_token

SECRET = "multi-process-secret-0123456789abcdefghijklmnop"
CONTENDERS = 16


@pytest.fixture
def front_ends(tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> Iterator[list[str]]:
    environ = {
        "WOPI_REDIS_URL": redis_url,
        "WOPI_DATA_DIR": str(tmp_path / "data"),
        "WOPI_JWT_SECRET": SECRET,
        "WOPI_PROOF_KEYS": "off",
        "PATH": "/usr/bin:/bin",
    }
    processes, urls = [], []
    for _ in range(2):
        port = free_port()
        command = [sys.executable, "-m", "wopi_api.cli", "api", "--port", str(port)]
        processes.append(subprocess.Popen(command, env=environ, stderr=subprocess.DEVNULL))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            wait_until_ready(url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)


def wait_until_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"front-end at {url} did not start")


def new_file(tmp_path: Path) -> tuple[str, str]:
    settings = load_settings({"WOPI_DATA_DIR": str(tmp_path / "data"), "WOPI_JWT_SECRET": SECRET})
    info = LocalStorage(tmp_path / "data" / "files").create_file("shared.docx", "owner", io.BytesIO(b"x"), max_size=100)
    token = issue_token(settings, info.file_id, User("u", "U"), Permission.EDIT).access_token
    return info.file_id, token


def lock(url: str, file_id: str, token: str, lock_id: str) -> httpx.Response:
    return httpx.post(
        f"{url}/wopi/files/{file_id}",
        params={"access_token": token},
        headers={"X-WOPI-Override": "LOCK", "X-WOPI-Lock": lock_id},
        timeout=10,
    )


def test_lock_taken_on_one_front_end_blocks_the_other(front_ends: list[str], tmp_path: Path) -> None:
    first, second = front_ends
    file_id, token = new_file(tmp_path)
    assert lock(first, file_id, token, "lock-A").status_code == 200
    conflict = lock(second, file_id, token, "lock-B")
    assert conflict.status_code == 409
    assert conflict.headers["X-WOPI-Lock"] == "lock-A"


def test_concurrent_locks_across_front_ends_have_one_winner(front_ends: list[str], tmp_path: Path) -> None:
    file_id, token = new_file(tmp_path)
    barrier = threading.Barrier(CONTENDERS)
    statuses: dict[str, int] = {}

    def contend(index: int) -> None:
        url = front_ends[index % 2]
        barrier.wait()
        statuses[f"lock-{index}"] = lock(url, file_id, token, f"lock-{index}").status_code

    threads = [threading.Thread(target=contend, args=(index,)) for index in range(CONTENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [lock_id for lock_id, status in statuses.items() if status == 200]
    assert len(statuses) == CONTENDERS
    assert len(winners) == 1
    assert sorted(set(statuses.values())) == [200, 409]
    current = httpx.post(
        f"{front_ends[1]}/wopi/files/{file_id}",
        params={"access_token": token},
        headers={"X-WOPI-Override": "GET_LOCK"},
        timeout=10,
    )
    assert current.headers["X-WOPI-Lock"] == winners[0]
