"""UserInfo cached in each front-end and invalidated across processes through Redis pub/sub."""

from __future__ import annotations

import time

import redis

from tests.conftest import SettingsFactory
from tests.integration.wopi_client import WopiClient, wopi_client


def user_info_seen(client: WopiClient, file_id: str) -> str:
    info = client.check_file_info(file_id).json()
    return str(info.get("UserInfo", ""))


def wait_until_subscribed(client: WopiClient) -> None:
    """Wait until the front-end trusts its cache, so that the next read is kept in memory."""
    cache = client.http.app_state["user_info"]
    deadline = time.monotonic() + 5
    while not cache.subscribed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cache.subscribed


def test_put_user_info_reaches_other_front_end(
    settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis
) -> None:
    settings = settings_factory(WOPI_REDIS_URL=redis_url)
    with wopi_client(settings) as first, wopi_client(settings) as second:
        file_id = first.add_file()
        wait_until_subscribed(second)
        assert user_info_seen(second, file_id) == ""
        response = first.http.post(
            f"/wopi/files/{file_id}",
            params={"access_token": first.token(file_id)},
            headers={"X-WOPI-Override": "PUT_USER_INFO"},
            content=b'{"firstRun":false}',
        )
        assert response.status_code == 200
        assert user_info_seen(first, file_id) == '{"firstRun":false}'
        deadline = time.monotonic() + 5
        while user_info_seen(second, file_id) != '{"firstRun":false}' and time.monotonic() < deadline:
            time.sleep(0.05)
        assert user_info_seen(second, file_id) == '{"firstRun":false}'
