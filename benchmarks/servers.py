"""Start and stop the servers a benchmark measures, and read their memory use from /proc.

Every server listens on 127.0.0.1 on a port that was free a moment before. Each one is remembered by its
process id and stopped by that id: SIGTERM, a grace period, then SIGKILL, children included.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_SECONDS = 10.0
RSS_SAMPLE_INTERVAL = 0.02


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    """Return every descendant of pid, read from /proc, or an empty list if the process is gone."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                text = Path(f"/proc/{parent}/task/{task}/children").read_text()
            except OSError:
                continue
            for child in text.split():
                found.append(int(child))
                pending.append(int(child))
    return found


@dataclass(slots=True)
class Managed:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


class Servers:
    """The processes one benchmark run started; stop_all() ends each of them by its pid."""

    def __init__(self) -> None:
        self._managed: list[Managed] = []
        self._stoppers: list[tuple[str, Callable[[], None]]] = []

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> Managed:
        with log_path.open("wb") as log:
            # A session of its own keeps a Ctrl-C in the terminal from reaching the server before we stop it.
            process = subprocess.Popen(
                list(argv), env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        managed = Managed(name, process, log_path)
        self._managed.append(managed)
        return managed

    def on_stop(self, name: str, stopper: Callable[[], None]) -> None:
        """Register a server started by other means (for example the Valkey wheel's own launcher)."""
        self._stoppers.append((name, stopper))

    def stop_all(self) -> list[str]:
        """Stop every server, newest first; return a line for each that needed SIGKILL or failed to stop."""
        problems: list[str] = []
        for managed in reversed(self._managed):
            problems.extend(_stop_process(managed))
        self._managed.clear()
        for name, stopper in reversed(self._stoppers):
            try:
                stopper()
            except Exception as exc:  # a failed stop must not keep the others running
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
        self._stoppers.clear()
        return problems


def _stop_process(managed: Managed) -> list[str]:
    process = managed.process
    if process.poll() is not None:
        return []
    descendants = children(process.pid)
    problems: list[str] = []
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        problems.append(f"{managed.name} (pid {process.pid}) ignored SIGTERM; killed")
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_GRACE_SECONDS)
    for pid in descendants:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return problems


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_http_ok(url: str, managed: Managed, timeout: float) -> None:
    """Poll url until it returns 200. Raise if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if managed.process.poll() is not None:
            raise RuntimeError(
                f"{managed.name} exited with code {managed.process.returncode}:\n{log_tail(managed.log_path)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                if response.status == 200:
                    return
                last_error = f"status {response.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"status {exc.code}"
        except OSError as exc:
            last_error = type(exc).__name__
        time.sleep(0.1)
    raise RuntimeError(f"{managed.name} did not return 200 from {url} within {timeout:.0f} s ({last_error})")


def status_kib(pid: int, field: str) -> int:
    """Read a memory figure (VmRSS, VmHWM) from /proc/<pid>/status in KiB, or 0 if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def tree_rss_kib(pid: int) -> int:
    """Return the resident memory of pid and all its descendants, in KiB."""
    return sum(status_kib(each, "VmRSS") for each in [pid, *children(pid)])


def reset_peak(pid: int) -> bool:
    """Reset VmHWM of pid to its current RSS (Linux clear_refs value 5); False where that is not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class PeakRss:
    """Samples the resident memory of a process tree in a thread, and reads VmHWM when the kernel allows.

    Use as a context manager around the work to measure; afterwards `growth_kib` is the peak minus the
    resident size just before the work started.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline_kib = 0
        self.sampled_peak_kib = 0
        self.hwm_peak_kib = 0
        self.hwm_used = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> PeakRss:
        self.hwm_used = reset_peak(self.pid) and not children(self.pid)
        self.baseline_kib = tree_rss_kib(self.pid)
        self.sampled_peak_kib = self.baseline_kib
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        if self.hwm_used:
            self.hwm_peak_kib = status_kib(self.pid, "VmHWM")

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_INTERVAL):
            self.sampled_peak_kib = max(self.sampled_peak_kib, tree_rss_kib(self.pid))

    @property
    def peak_kib(self) -> int:
        return max(self.sampled_peak_kib, self.hwm_peak_kib)

    @property
    def growth_kib(self) -> int:
        return max(0, self.peak_kib - self.baseline_kib)

    @property
    def method(self) -> str:
        return "VmHWM (reset before) and VmRSS sampling" if self.hwm_used else "VmRSS sampling every 20 ms"


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time of pid in seconds, or 0.0 if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name may contain spaces; the fields after it are fixed.
    fields = text.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
