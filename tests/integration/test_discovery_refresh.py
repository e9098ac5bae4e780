"""Discovery refresh into Redis: directly, through the worker task, and through a real worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from tests.conftest import SettingsFactory
from tests.proof_signing import client_keys, discovery_xml
from wopi_api.events import EventPublisher
from wopi_core.discovery_store import DISCOVERY_KEY, load_cached, read_status, refresh_discovery
from wopi_core.events import TASK_REFRESH_DISCOVERY
from wopi_workers import context
from wopi_workers.app import create_celery_app

WAIT_SECONDS = 30.0


class DiscoveryServer:
    """A local HTTP server that serves a discovery document, or fails with 500 once told to."""

    def __init__(self) -> None:
        self.body = discovery_xml(client_keys())
        self.failing = False
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                status = 500 if owner.failing else 200
                body = b"down" if owner.failing else owner.body
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hosting/discovery"


@pytest.fixture
def discovery_server() -> Iterator[DiscoveryServer]:
    server = DiscoveryServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def worker_app(
    settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis, discovery_server: DiscoveryServer
) -> Iterator[Celery]:
    settings = settings_factory(WOPI_REDIS_URL=redis_url, WOPI_DISCOVERY_URL=discovery_server.url)
    app = create_celery_app(settings)
    context.configure(settings, redis_client=redis_client)
    try:
        yield app
    finally:
        app.close()


def _wait_for(condition: Callable[[], bool], what: str, log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; worker output:\n{log.read_text(errors='replace')[-4000:]}")


def test_refresh_discovery_caches_document(redis_client: redis.Redis, discovery_server: DiscoveryServer) -> None:
    refresh_discovery(redis_client, discovery_server.url)
    cached = load_cached(redis_client)
    assert cached is not None and cached.find_action("edit", "docx") is not None


def test_refresh_discovery_failure_keeps_last_good_copy(
    redis_client: redis.Redis, discovery_server: DiscoveryServer
) -> None:
    refresh_discovery(redis_client, discovery_server.url, now=1000.0)
    good = redis_client.get(DISCOVERY_KEY)
    discovery_server.failing = True
    refresh_discovery(redis_client, discovery_server.url, now=2000.0)
    assert redis_client.get(DISCOVERY_KEY) == good


def test_refresh_discovery_failure_is_counted(redis_client: redis.Redis, discovery_server: DiscoveryServer) -> None:
    refresh_discovery(redis_client, discovery_server.url, now=1000.0)
    discovery_server.failing = True
    refresh_discovery(redis_client, discovery_server.url, now=2000.0)
    refresh_discovery(redis_client, discovery_server.url, now=3000.0)
    status = read_status(redis_client)
    assert status.failures == 2
    assert status.fetched_at == 1000.0
    assert "HTTP 500" in status.last_error


def test_refresh_discovery_failure_returns_none(redis_client: redis.Redis, discovery_server: DiscoveryServer) -> None:
    discovery_server.failing = True
    assert refresh_discovery(redis_client, discovery_server.url) is None


def test_refresh_task_stores_discovery(worker_app: Celery, redis_client: redis.Redis) -> None:
    stored = worker_app.tasks[TASK_REFRESH_DISCOVERY].run()
    assert stored
    assert load_cached(redis_client) is not None


def test_refresh_task_failure_keeps_copy(
    worker_app: Celery, redis_client: redis.Redis, discovery_server: DiscoveryServer
) -> None:
    task = worker_app.tasks[TASK_REFRESH_DISCOVERY]
    task.run()
    good = redis_client.get(DISCOVERY_KEY)
    discovery_server.failing = True
    stored = task.run()
    assert not stored
    assert redis_client.get(DISCOVERY_KEY) == good
    assert read_status(redis_client).failures == 1


def test_refresh_task_without_discovery_url_does_nothing(
    settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis
) -> None:
    app = create_celery_app(settings_factory(WOPI_REDIS_URL=redis_url))
    try:
        assert not app.tasks[TASK_REFRESH_DISCOVERY].run()
        assert redis_client.exists(DISCOVERY_KEY) == 0
    finally:
        app.close()


def test_worker_refresh_on_request(
    settings_factory: SettingsFactory,
    redis_url: str,
    redis_client: redis.Redis,
    discovery_server: DiscoveryServer,
    tmp_path: Path,
) -> None:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("WOPI_")}
    environ.update(
        WOPI_REDIS_URL=redis_url,
        WOPI_DISCOVERY_URL=discovery_server.url,
        WOPI_DATA_DIR=str(tmp_path / "data"),
        WOPI_JWT_SECRET="worker-test-secret-0123456789abcdefghijklmnop",
    )
    log = tmp_path / "worker.log"
    publisher = EventPublisher(settings_factory(WOPI_REDIS_URL=redis_url))
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "wopi_api.cli", "worker"],
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        assert publisher.refresh_discovery()
        _wait_for(lambda: redis_client.exists(DISCOVERY_KEY) == 1, "the first refresh", log)
        good = redis_client.get(DISCOVERY_KEY)
        discovery_server.failing = True
        assert publisher.refresh_discovery()
        _wait_for(lambda: read_status(redis_client).failures == 1, "the failed refresh to be counted", log)
        assert redis_client.get(DISCOVERY_KEY) == good
    finally:
        publisher.close()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
