"""A small HTTP/1.1 load generator: keep-alive connections on asyncio, spread over several processes.

Every request on a run is the same pre-built byte string, and responses are parsed only as far as the status
line and the body framing, so one client process can send far more requests per second than one uvicorn
process can serve. Each process reports its latencies and its own CPU time, so the caller can tell
whether the client or the server was the busy side.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import statistics
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field

CONNECT_TIMEOUT = 5.0
RESPONSE_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Target:
    """One request, replayed on every connection: host, port and the full request bytes."""

    host: str
    port: int
    request: bytes


@dataclass(slots=True)
class RunResult:
    """Measurements of one load run, summed over its client processes."""

    completed: int = 0
    wall_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: array[float] = field(default_factory=lambda: array("d"))
    failures: list[str] = field(default_factory=list)

    @property
    def requests_per_second(self) -> float:
        return self.completed / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """Latency at the given fraction (0.5 for the median), in milliseconds, by nearest rank."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
        return ordered[index] * 1000.0

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000.0 if self.latencies else float("nan")

    @property
    def unexpected(self) -> int:
        """Responses whose status is not 200, plus connections that failed."""
        return sum(count for status, count in self.statuses.items() if status != 200) + len(self.failures)


def build_request(method: str, path: str, host: str, port: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    """Serialise one HTTP/1.1 keep-alive request. The path includes the query string."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one response, discard its body and return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = -1
    chunked = False
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value.strip())
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        await _discard_chunked(reader)
    elif length > 0:
        await _discard(reader, length)
    return status


async def _discard(reader: asyncio.StreamReader, length: int) -> None:
    remaining = length
    while remaining > 0:
        chunk = await reader.read(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionError("connection closed inside a response body")
        remaining -= len(chunk)


async def _discard_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Trailers, if any, end with an empty line.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return
        await _discard(reader, size + 2)


class _Budget:
    """Request budget of one client process, shared by its connections on one event loop."""

    def __init__(self, count: int, deadline: float) -> None:
        self.count = count
        self.deadline = deadline

    def take(self) -> bool:
        if self.count <= 0 or time.monotonic() >= self.deadline:
            return False
        self.count -= 1
        return True


async def _connection(
    target: Target, budget: _Budget, latencies: array[float], statuses: Counter[int], failures: list[str]
) -> None:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port), CONNECT_TIMEOUT)
    try:
        while budget.take():
            started = time.perf_counter()
            writer.write(target.request)
            try:
                status = await asyncio.wait_for(read_response(reader), RESPONSE_TIMEOUT)
            except (TimeoutError, OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                failures.append(type(exc).__name__)
                return
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _client(
    target: Target, connections: int, count: int, start_at: float, duration: float
) -> tuple[array[float], Counter[int], list[str], float]:
    latencies: array[float] = array("d")
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    # Sleep until the common start so that every process begins its timed loop together.
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    budget = _Budget(count, time.monotonic() + duration)
    tasks = [_connection(target, budget, latencies, statuses, failures) for _ in range(connections)]
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, BaseException):
            failures.append(type(outcome).__name__)
    return latencies, statuses, failures, time.monotonic()


def _client_process(
    target: Target,
    connections: int,
    count: int,
    start_at: float,
    duration: float,
    pipe: multiprocessing.connection.Connection,
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    cpu_before = time.process_time()
    latencies, statuses, failures, finished = asyncio.run(_client(target, connections, count, start_at, duration))
    pipe.send((latencies.tobytes(), dict(statuses), failures, finished, time.process_time() - cpu_before))
    pipe.close()


def split(total: int, parts: int) -> list[int]:
    """Split total into parts whole numbers that differ by at most one."""
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def run_load(target: Target, concurrency: int, requests: int, duration: float, processes: int) -> RunResult:
    """Send at most `requests` requests over `concurrency` connections for at most `duration` seconds."""
    processes = max(1, min(processes, concurrency))
    context = multiprocessing.get_context("fork")
    start_at = time.monotonic() + 0.3 + 0.05 * processes
    workers: list[tuple[multiprocessing.process.BaseProcess, multiprocessing.connection.Connection]] = []
    try:
        for connections, count in zip(split(concurrency, processes), split(requests, processes), strict=True):
            receiver, sender = context.Pipe(duplex=False)
            spawned = context.Process(
                target=_client_process, args=(target, connections, count, start_at, duration, sender), daemon=True
            )
            spawned.start()
            sender.close()
            workers.append((spawned, receiver))
        result = RunResult()
        last_finish = start_at
        for process, receiver in workers:
            # A client stops by its own deadline; allow for the start delay and one slow final response.
            if not receiver.poll(duration + RESPONSE_TIMEOUT + 10.0):
                result.failures.append(f"client process {process.pid} did not report")
                continue
            raw, statuses, failures, finished, cpu = receiver.recv()
            latencies: array[float] = array("d")
            latencies.frombytes(raw)
            result.latencies.extend(latencies)
            result.statuses.update(statuses)
            result.failures.extend(failures)
            result.client_cpu_seconds += cpu
            last_finish = max(last_finish, finished)
        result.completed = len(result.latencies)
        result.wall_seconds = last_finish - start_at
        return result
    finally:
        for process, receiver in workers:
            receiver.close()
            process.join(timeout=5.0)
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, 9)
                process.join(timeout=5.0)
