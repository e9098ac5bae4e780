"""A small WOPI test client over Starlette's TestClient: files, tokens and the WOPI operations."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx2 as httpx
from starlette.testclient import TestClient

from wopi_api.app import create_app
from wopi_core.models import Permission, User
from wopi_core.settings import Settings
from wopi_core.storage import create_storage
from wopi_core.tokens import issue_token

EDITOR = User("u-editor", "Ed Itor")


@dataclass
class WopiClient:
    http: TestClient
    settings: Settings

    def add_file(self, name: str = "report.docx", content: bytes = b"hello") -> str:
        storage = create_storage(self.settings)
        return storage.create_file(name, "u-owner", io.BytesIO(content), max_size=self.settings.max_file_size).file_id

    def token(self, file_id: str, permission: Permission = Permission.EDIT, user: User = EDITOR) -> str:
        return issue_token(self.settings, file_id, user, permission).access_token

    def check_file_info(self, file_id: str, token: str | None = None) -> httpx.Response:
        return self.http.get(f"/wopi/files/{file_id}", params={"access_token": token or self.token(file_id)})

    def get_file(self, file_id: str, token: str | None = None, **headers: str) -> httpx.Response:
        return self.http.get(
            f"/wopi/files/{file_id}/contents",
            params={"access_token": token or self.token(file_id)},
            headers=_headers(headers),
        )

    def put_file(self, file_id: str, body: bytes, token: str | None = None, **headers: str) -> httpx.Response:
        return self.http.post(
            f"/wopi/files/{file_id}/contents",
            params={"access_token": token or self.token(file_id)},
            headers={"X-WOPI-Override": "PUT", **_headers(headers)},
            content=body,
        )

    def override(self, file_id: str, override: str, token: str | None = None, **headers: str) -> httpx.Response:
        return self.http.post(
            f"/wopi/files/{file_id}",
            params={"access_token": token or self.token(file_id)},
            headers={"X-WOPI-Override": override, **_headers(headers)},
        )

    def lock(self, file_id: str, lock_id: str) -> httpx.Response:
        return self.override(file_id, "LOCK", X_WOPI_Lock=lock_id)


def _headers(values: dict[str, str]) -> dict[str, str]:
    """Turn keyword names like X_WOPI_Lock into header names like X-WOPI-Lock."""
    return {name.replace("_", "-"): value for name, value in values.items()}


@contextmanager
def wopi_client(settings: Settings) -> Iterator[WopiClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        yield WopiClient(http=http, settings=settings)
