"""Fixtures every test level shares: settings built from a dict and free loopback ports."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from wopi_core.settings import Settings, load_settings

SettingsFactory = Callable[..., Settings]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def settings_factory(tmp_path: Path) -> SettingsFactory:
    """Build Settings from WOPI_* values, with a fresh data directory and a fixed secret by default."""

    def build(environ: Mapping[str, str] | None = None, **values: str) -> Settings:
        merged = {
            "WOPI_DATA_DIR": str(tmp_path / "data"),
            "WOPI_JWT_SECRET": "test-secret-0123456789abcdefghijklmnopqrstuvwxyz",
            "WOPI_PROOF_KEYS": "off",
        }
        merged.update(environ or {})
        merged.update(values)
        return load_settings(merged)

    return build
