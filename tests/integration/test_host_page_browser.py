"""The host page in headless Chromium: it posts access_token and access_token_ttl into the WOPI client's frame.

A local HTTP server plays the WOPI client: discovery points its action URLs there, and it records the form
fields the host page posts. The host runs as `wopihost api` on a free loopback port.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
import redis

from tests.conftest import free_port
from tests.proof_signing import client_keys, discovery_xml
from wopi_core.settings import load_settings
from wopi_core.storage import create_storage

API_KEY = "browser-test-api-key-0123456789"
JWT_SECRET = "browser-test-secret-0123456789abcdefghijklmnopq"
STARTUP_SECONDS = 60.0
BROWSER_SECONDS = 90.0
CHROMIUM_NAMES = ("chromium", "chromium-browser")
# Keep the browser from reaching any address other than the two local servers of this test.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
    "--metrics-recording-only",
    "--safebrowsing-disable-auto-update",
    "--virtual-time-budget=10000",
    "--dump-dom",
)


@dataclass
class Recorded:
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]


@dataclass
class FakeWopiClient:
    """Answers the action URL like a WOPI client's frame would, recording each POSTed form."""

    posts: list[Recorded] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                parts = urlsplit(self.path)
                owner.posts.append(Recorded(parts.path, parse_qs(parts.query), parse_qs(body)))
                owner.received.set()
                self._answer(200, b"<!doctype html><title>client</title><p>frame loaded</p>")

            def do_GET(self) -> None:
                self._answer(404, b"")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def chromium_binary() -> str | None:
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


@pytest.fixture
def fake_client() -> Iterator[tuple[FakeWopiClient, str]]:
    recorder = FakeWopiClient()
    server = ThreadingHTTPServer(("127.0.0.1", 0), recorder.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def host(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, fake_client: tuple[FakeWopiClient, str]
) -> Iterator[tuple[str, dict[str, str]]]:
    """Run `wopihost api` with discovery whose action URLs point at the fake WOPI client."""
    discovery = tmp_path / "discovery.xml"
    discovery.write_bytes(discovery_xml(client_keys(), action_origin=fake_client[1]))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    environ = {key: value for key, value in os.environ.items() if not key.startswith("WOPI_")}
    environ.update(
        WOPI_REDIS_URL=redis_url,
        WOPI_DISCOVERY_URL=str(discovery),
        WOPI_DATA_DIR=str(tmp_path / "data"),
        WOPI_JWT_SECRET=JWT_SECRET,
        WOPI_API_KEY=API_KEY,
        WOPI_BASE_URL=base_url,
        WOPI_PROOF_KEYS="off",
    )
    log_path = tmp_path / "api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "wopi_api.cli", "api", "--port", str(port)],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(base_url, process, log_path)
        yield base_url, environ
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"wopihost api exited early:\n{log_path.read_text(errors='replace')[-4000:]}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"wopihost api was not ready:\n{log_path.read_text(errors='replace')[-4000:]}")


def _load_in_chromium(binary: str, url: str, profile: Path) -> None:
    subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
        capture_output=True,
        timeout=BROWSER_SECONDS,
        check=False,
    )


def test_host_page_in_chromium_posts_working_token_into_frame(
    host: tuple[str, dict[str, str]], fake_client: tuple[FakeWopiClient, str], tmp_path: Path
) -> None:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary on PATH; install the Debian package `chromium` to run this test")
    base_url, environ = host
    recorder, _ = fake_client
    storage = create_storage(load_settings(environ))
    file_id = storage.create_file("report.docx", "u-owner", io.BytesIO(b"hello"), max_size=1024).file_id
    session = httpx.post(
        f"{base_url}/api/v1/files/{file_id}/sessions",
        json={"user_id": "u-7", "display_name": "Browser User", "permission": "edit"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    ).json()

    _load_in_chromium(binary, session["host_page_url"], tmp_path / "profile")
    assert recorder.received.wait(timeout=10), "the host page did not POST to the WOPI client's action URL"

    posted = recorder.posts[0]
    token = posted.form["access_token"][0]
    info = httpx.get(f"{base_url}/wopi/files/{file_id}", params={"access_token": token}, timeout=10)
    ttl = int(posted.form["access_token_ttl"][0])
    assert posted.path == "/we/wordeditorframe/edit.aspx"
    assert posted.query["wopisrc"] == [f"{base_url}/wopi/files/{file_id}"]
    assert info.status_code == 200
    assert info.json()["UserId"] == "u-7"
    assert ttl > time.time() * 1000
