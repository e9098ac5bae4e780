"""The WOPI lock decision table: current lock, operation and request headers against status and X-WOPI-Lock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.integration.wopi_client import WopiClient, wopi_client
from wopi_core.settings import load_settings

ABSENT = None


@pytest.fixture(scope="module")
def client(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WopiClient]:
    settings = load_settings(
        {
            "WOPI_DATA_DIR": str(tmp_path_factory.mktemp("lock-table")),
            "WOPI_JWT_SECRET": "lock-table-secret-0123456789abcdefghijklmnop",
            "WOPI_PROOF_KEYS": "off",
            "WOPI_REDIS_URL": redis_url,
        }
    )
    with wopi_client(settings) as wopi:
        yield wopi


# current lock, override, X-WOPI-Lock, X-WOPI-OldLock, expected status, expected X-WOPI-Lock (None: absent),
# lock afterwards
TABLE = [
    pytest.param("", "LOCK", "A", ABSENT, 200, None, "A", id="lock-unlocked"),
    pytest.param("A", "LOCK", "A", ABSENT, 200, None, "A", id="lock-same-id-refreshes"),
    pytest.param("A", "LOCK", "B", ABSENT, 409, "A", "A", id="lock-locked-by-other"),
    pytest.param("", "LOCK", "", ABSENT, 400, None, "", id="lock-empty-id"),
    pytest.param("", "REFRESH_LOCK", "A", ABSENT, 409, "", "", id="refresh-unlocked"),
    pytest.param("A", "REFRESH_LOCK", "A", ABSENT, 200, None, "A", id="refresh-matching"),
    pytest.param("A", "REFRESH_LOCK", "B", ABSENT, 409, "A", "A", id="refresh-locked-by-other"),
    pytest.param("A", "REFRESH_LOCK", ABSENT, ABSENT, 400, None, "A", id="refresh-missing-id"),
    pytest.param("", "UNLOCK", "A", ABSENT, 409, "", "", id="unlock-unlocked"),
    pytest.param("A", "UNLOCK", "A", ABSENT, 200, None, "", id="unlock-matching"),
    pytest.param("A", "UNLOCK", "B", ABSENT, 409, "A", "A", id="unlock-locked-by-other"),
    pytest.param("A", "UNLOCK", "", ABSENT, 400, None, "A", id="unlock-empty-id"),
    pytest.param("", "LOCK", "B", "A", 409, "", "", id="relock-unlocked"),
    pytest.param("A", "LOCK", "B", "A", 200, None, "B", id="relock-matching"),
    pytest.param("A", "LOCK", "C", "B", 409, "A", "A", id="relock-wrong-old-lock"),
    pytest.param("A", "LOCK", "B", "", 400, None, "A", id="relock-empty-old-lock"),
    pytest.param("", "GET_LOCK", ABSENT, ABSENT, 200, "", "", id="get-lock-unlocked"),
    pytest.param("A", "GET_LOCK", ABSENT, ABSENT, 200, "A", "A", id="get-lock-locked"),
    pytest.param("A", "GET_LOCK", "B", ABSENT, 200, "A", "A", id="get-lock-ignores-header"),
]


@pytest.mark.parametrize(("current", "override", "lock", "old_lock", "status", "lock_header", "after"), TABLE)
def test_lock_table(
    client: WopiClient,
    redis_client: redis.Redis,
    current: str,
    override: str,
    lock: str | None,
    old_lock: str | None,
    status: int,
    lock_header: str | None,
    after: str,
) -> None:
    file_id = client.add_file()
    if current:
        assert client.lock(file_id, current).status_code == 200
    headers = {}
    if lock is not None:
        headers["X_WOPI_Lock"] = lock
    if old_lock is not None:
        headers["X_WOPI_OldLock"] = old_lock
    response = client.override(file_id, override, **headers)
    assert response.status_code == status
    if lock_header is None:
        assert "X-WOPI-Lock" not in response.headers
    else:
        assert response.headers["X-WOPI-Lock"] == lock_header
    assert client.override(file_id, "GET_LOCK").headers["X-WOPI-Lock"] == after
