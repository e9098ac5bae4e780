"""Microsoft's WOPI validator test cases, run against a live `wopihost serve` with proof keys enforced."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.served_host import ServedHost

REPO_ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = REPO_ROOT.parent / "shared" / "wopi-validator" / "wopivalidate.py"

pytestmark = pytest.mark.skipif(not VALIDATOR.exists(), reason=f"WOPI validator not found at {VALIDATOR}")


@pytest.fixture(scope="module")
def validator_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write a discovery document whose proof keys the validator signs with."""
    folder = tmp_path_factory.mktemp("validator")
    discovery = folder / "discovery.xml"
    subprocess.run([sys.executable, str(VALIDATOR), "--make-discovery", str(discovery)], check=True, timeout=120)
    return discovery


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, validator_keys: Path) -> Iterator[ServedHost]:
    served = ServedHost(
        data_dir=tmp_path_factory.mktemp("served") / "data",
        environ={"WOPI_PROOF_KEYS": "enforce", "WOPI_DISCOVERY_URL": str(validator_keys)},
    )
    served.start()
    try:
        yield served
    finally:
        served.stop()


def run_validator(host: ServedHost, discovery: Path, tmp_path: Path, category: str) -> subprocess.CompletedProcess[str]:
    empty = tmp_path / "empty.wopitest"
    empty.write_bytes(b"")
    file_id = host.add_file(empty, f"validator-{category}.wopitest")
    token = host.token(file_id)
    command = [
        sys.executable,
        str(VALIDATOR),
        "--wopisrc",
        str(token["wopi_src"]),
        "--token",
        str(token["access_token"]),
        "--token-ttl",
        str(token["access_token_ttl"]),
        "--category",
        category,
        "--proof-key-pem",
        str(discovery.with_suffix(".proof-key.pem")),
        "--old-proof-key-pem",
        str(discovery.with_suffix(".old-proof-key.pem")),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("category", ["OfficeOnline", "OfficeNativeClient"])
def test_validator_reports_no_failure(host: ServedHost, validator_keys: Path, tmp_path: Path, category: str) -> None:
    result = run_validator(host, validator_keys, tmp_path, category)
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert failures == [], "\n".join(failures) + "\n" + summary
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed, 0 failed" in summary
    if category == "OfficeOnline":
        proof_lines = [line for line in result.stdout.splitlines() if "ProofKeys/" in line]
        assert len(proof_lines) == 7
        assert all(line.startswith("PASS") for line in proof_lines), "\n".join(proof_lines)
