"""The benchmark script runs end to end against the real host in quick mode and prints every figure."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "run.py"

EXPECTED_FIGURES = (
    "CheckFileInfo req/s (c=1)",
    "CheckFileInfo p50 ms (c=1)",
    "CheckFileInfo p99 ms (c=1)",
    "CheckFileInfo req/s (c=32)",
    "CheckFileInfo p50 ms (c=32)",
    "CheckFileInfo p99 ms (c=32)",
    "GetFile 10 MB MB/s",
    "PutFile 10 MB MB/s",
    "PutFile 20 MB peak RSS growth MB",
    "GetFile 20 MB peak RSS growth MB",
)


def _host_importable() -> bool:
    try:
        return importlib.util.find_spec("wopi_api.cli") is not None
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="module")
def quick_run() -> subprocess.CompletedProcess[str]:
    if not _host_importable():
        pytest.skip("wopi_api.cli is not importable, so there is no `wopihost api` to measure")
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


@pytest.mark.timeout(150)
def test_benchmark_quick_run_exits_zero(quick_run: subprocess.CompletedProcess[str]) -> None:
    assert quick_run.returncode == 0, quick_run.stdout[-4000:] + quick_run.stderr[-4000:]


@pytest.mark.timeout(150)
@pytest.mark.parametrize("figure", EXPECTED_FIGURES)
def test_benchmark_quick_run_prints_figure(quick_run: subprocess.CompletedProcess[str], figure: str) -> None:
    assert figure in quick_run.stdout


@pytest.mark.timeout(150)
def test_benchmark_quick_run_reports_verdicts(quick_run: subprocess.CompletedProcess[str]) -> None:
    verdicts = [line for line in quick_run.stdout.splitlines() if line.rstrip().endswith(("PASS", "FAIL"))]
    assert len(verdicts) == 3, quick_run.stdout


@pytest.mark.timeout(150)
def test_benchmark_quick_run_reports_no_error(quick_run: subprocess.CompletedProcess[str]) -> None:
    assert "ERROR:" not in quick_run.stdout
