"""Runs `wopihost serve` as a child process on a free loopback port, as a user would start it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx

from tests.conftest import free_port

STARTUP_TIMEOUT_SECONDS = 60


@dataclass
class ServedHost:
    data_dir: Path
    environ: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path = self.data_dir.parent / "serve.log"
        command = [
            sys.executable,
            "-m",
            "wopi_api.cli",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"wopihost serve exited early; see {self.log_path}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"wopihost serve was not ready within {STARTUP_TIMEOUT_SECONDS} s:\n{self.log()}")

    def env(self) -> dict[str, str]:
        environ = {key: value for key, value in os.environ.items() if not key.startswith("WOPI_")}
        environ.update(self.environ)
        environ["WOPI_BASE_URL"] = self.base_url
        return environ

    def cli(self, *args: str) -> str:
        """Run a `wopihost` command against the same data directory and return its standard output."""
        command = [sys.executable, "-m", "wopi_api.cli", *args]
        environ = self.env() | {"WOPI_DATA_DIR": str(self.data_dir)}
        result = subprocess.run(command, env=environ, capture_output=True, check=True, timeout=60)
        return result.stdout.decode()

    def add_file(self, path: Path, name: str) -> str:
        return self.cli("files", "add", str(path), "--name", name).strip()

    def token(self, file_id: str, user: str = "validator-user") -> dict[str, object]:
        parsed: dict[str, object] = json.loads(self.cli("token", file_id, "--user", user, "--name", "Validator User"))
        return parsed

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        """Stop the host as Ctrl-C would and return its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path and self.log_path.exists() else ""
