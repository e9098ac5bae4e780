"""WOPI operations end to end through the Starlette app, with a real Redis-compatible server."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import SettingsFactory
from tests.integration.wopi_client import WopiClient, wopi_client
from wopi_core.models import Permission, User
from wopi_core.tokens import issue_token

JSON_LOCK = '{"S":"1f3c8a0e-7b1d-4c2e-9e55-0d6c2f1a9b77","E":2,"M":"Word","P":"0"}'
OTHER_LOCK = '{"S":"99999999-0000-4c2e-9e55-0d6c2f1a9b77","E":2,"M":"Word","P":"0"}'


@pytest.fixture
def client(settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis) -> Iterator[WopiClient]:
    with wopi_client(settings_factory(WOPI_REDIS_URL=redis_url)) as wopi:
        yield wopi


def content_of(client: WopiClient, file_id: str) -> bytes:
    response = client.get_file(file_id)
    assert response.status_code == 200
    return response.content


@pytest.mark.parametrize("body", [pytest.param(b"", id="missing"), pytest.param("", id="empty")])
@pytest.mark.parametrize("initial", [pytest.param(b"original", id="non-empty"), pytest.param(b"", id="zero-byte")])
def test_put_file_locked_without_lock_header_returns_409(client: WopiClient, body: object, initial: bytes) -> None:
    file_id = client.add_file(content=initial)
    assert client.lock(file_id, "A").status_code == 200
    headers = {} if body == b"" else {"X_WOPI_Lock": ""}
    response = client.put_file(file_id, b"new content", **headers)
    assert response.status_code == 409
    assert response.headers["X-WOPI-Lock"] == "A"
    assert content_of(client, file_id) == initial


def test_get_lock_on_unlocked_file_returns_empty_header(client: WopiClient) -> None:
    file_id = client.add_file()
    response = client.override(file_id, "GET_LOCK")
    assert response.status_code == 200
    assert "X-WOPI-Lock" in response.headers
    assert response.headers["X-WOPI-Lock"] == ""


@pytest.mark.parametrize("override", ["UNLOCK", "REFRESH_LOCK"])
def test_unlocked_file_lock_op_409(client: WopiClient, override: str) -> None:
    file_id = client.add_file()
    response = client.override(file_id, override, X_WOPI_Lock="A")
    assert response.status_code == 409
    assert "X-WOPI-Lock" in response.headers
    assert response.headers["X-WOPI-Lock"] == ""


def test_put_file_unlocked_non_empty_returns_409(client: WopiClient) -> None:
    file_id = client.add_file(content=b"original")
    response = client.put_file(file_id, b"new")
    assert response.status_code == 409
    assert response.headers["X-WOPI-Lock"] == ""
    assert content_of(client, file_id) == b"original"


def test_put_file_unlocked_zero_byte_file_succeeds(client: WopiClient) -> None:
    file_id = client.add_file(content=b"")
    response = client.put_file(file_id, b"template")
    assert response.status_code == 200
    assert content_of(client, file_id) == b"template"


def test_lock_with_json_lock_id_same_id_refreshes(client: WopiClient, redis_client: redis.Redis) -> None:
    file_id = client.add_file()
    assert client.lock(file_id, JSON_LOCK).status_code == 200
    redis_client.pexpire(f"wopi:lock:{file_id}", 5000)
    response = client.lock(file_id, JSON_LOCK)
    assert response.status_code == 200
    assert "X-WOPI-Lock" not in response.headers
    assert redis_client.pttl(f"wopi:lock:{file_id}") > 5000


def test_lock_other_id_409(client: WopiClient) -> None:
    file_id = client.add_file()
    assert client.lock(file_id, JSON_LOCK).status_code == 200
    response = client.lock(file_id, OTHER_LOCK)
    assert response.status_code == 409
    assert response.headers["X-WOPI-Lock"].encode("latin-1") == JSON_LOCK.encode("latin-1")


def test_lock_id_of_1024_characters_round_trips(client: WopiClient) -> None:
    file_id = client.add_file()
    long_lock = ("L" * 1023) + "Z"
    assert client.lock(file_id, long_lock).status_code == 200
    assert client.override(file_id, "GET_LOCK").headers["X-WOPI-Lock"] == long_lock


def test_lock_id_longer_than_1024_returns_400(client: WopiClient) -> None:
    file_id = client.add_file()
    assert client.lock(file_id, "L" * 1025).status_code == 400


@pytest.mark.parametrize("override", ["LOCK", "UNLOCK", "REFRESH_LOCK"])
def test_lock_operation_without_lock_id_returns_400(client: WopiClient, override: str) -> None:
    file_id = client.add_file()
    assert client.override(file_id, override).status_code == 400


def test_relock_wrong_old_lock_409(client: WopiClient) -> None:
    file_id = client.add_file()
    assert client.lock(file_id, "A").status_code == 200
    response = client.override(file_id, "LOCK", X_WOPI_Lock="C", X_WOPI_OldLock="B")
    assert response.status_code == 409
    assert response.headers["X-WOPI-Lock"] == "A"
    assert client.override(file_id, "GET_LOCK").headers["X-WOPI-Lock"] == "A"


def test_unlock_and_relock_with_current_lock_replaces_it(client: WopiClient) -> None:
    file_id = client.add_file()
    assert client.lock(file_id, "A").status_code == 200
    assert client.override(file_id, "LOCK", X_WOPI_Lock="B", X_WOPI_OldLock="A").status_code == 200
    assert client.override(file_id, "GET_LOCK").headers["X-WOPI-Lock"] == "B"
    stale = client.override(file_id, "UNLOCK", X_WOPI_Lock="A")
    assert stale.status_code == 409
    assert stale.headers["X-WOPI-Lock"] == "B"


def test_lock_expiry_and_refresh(settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis) -> None:
    with wopi_client(settings_factory(WOPI_REDIS_URL=redis_url, WOPI_LOCK_TTL="2")) as client:
        file_id = client.add_file()
        assert client.lock(file_id, "A").status_code == 200
        time.sleep(1.2)
        assert client.override(file_id, "REFRESH_LOCK", X_WOPI_Lock="A").status_code == 200
        time.sleep(1.2)
        assert client.override(file_id, "GET_LOCK").headers["X-WOPI-Lock"] == "A"
        time.sleep(1.2)
        assert client.override(file_id, "GET_LOCK").headers["X-WOPI-Lock"] == ""
        assert client.lock(file_id, "B").status_code == 200


def test_get_file_too_large_412(client: WopiClient) -> None:
    file_id = client.add_file(content=b"0123456789")
    assert client.get_file(file_id, X_WOPI_MaxExpectedSize="9").status_code == 412
    assert client.get_file(file_id, X_WOPI_MaxExpectedSize="10").status_code == 200


def test_get_file_invalid_max_size_400(client: WopiClient) -> None:
    file_id = client.add_file()
    assert client.get_file(file_id, X_WOPI_MaxExpectedSize="ten").status_code == 400


def test_save_yields_new_item_version(client: WopiClient) -> None:
    file_id = client.add_file(content=b"v0")
    assert client.lock(file_id, "A").status_code == 200
    seen = {client.check_file_info(file_id).json()["Version"]}
    for body in (b"v1", b"v2", b"v0"):
        response = client.put_file(file_id, body, X_WOPI_Lock="A")
        assert response.status_code == 200
        version = response.headers["X-WOPI-ItemVersion"]
        assert version not in seen
        seen.add(version)
        info = client.check_file_info(file_id).json()
        assert info["Version"] == version
        assert info["Size"] == len(body)
        assert info["SHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
        get = client.get_file(file_id)
        assert get.content == body
        assert get.headers["X-WOPI-ItemVersion"] == version


def test_lock_and_unlock_report_unchanged_item_version(client: WopiClient) -> None:
    file_id = client.add_file()
    version = client.check_file_info(file_id).json()["Version"]
    assert client.lock(file_id, "A").headers["X-WOPI-ItemVersion"] == version
    assert client.override(file_id, "UNLOCK", X_WOPI_Lock="A").headers["X-WOPI-ItemVersion"] == version


def test_access_token_ttl_is_future_epoch_milliseconds(client: WopiClient) -> None:
    issued = issue_token(client.settings, "f", User("u", "U"), Permission.EDIT)
    now_ms = time.time() * 1000
    assert issued.access_token_ttl > now_ms
    assert issued.access_token_ttl < now_ms + 24 * 3600 * 1000


def test_check_file_info_reports_required_properties(client: WopiClient) -> None:
    file_id = client.add_file(name="Résumé – 日本語 🚀.docx", content=b"abc")
    response = client.check_file_info(file_id)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    info = response.json()
    assert info["BaseFileName"] == "Résumé – 日本語 🚀.docx"
    assert info["OwnerId"] == "u-owner"
    assert info["UserId"] == "u-editor"
    assert info["UserFriendlyName"] == "Ed Itor"
    assert info["Size"] == 3
    assert isinstance(info["Version"], str)
    assert info["UserCanWrite"] is True
    assert info["ReadOnly"] is False
    assert info["SupportsLocks"] is True
    assert info["FileExtension"] == ".docx"
    assert info["LastModifiedTime"].endswith("Z")
    assert None not in info.values()


def test_view_token_reports_read_only(client: WopiClient) -> None:
    file_id = client.add_file()
    info = client.check_file_info(file_id, client.token(file_id, Permission.VIEW)).json()
    assert info["UserCanWrite"] is False
    assert info["ReadOnly"] is True


def test_view_token_put_file_401(client: WopiClient) -> None:
    file_id = client.add_file(content=b"")
    view = client.token(file_id, Permission.VIEW)
    assert client.put_file(file_id, b"new", token=view).status_code == 401
    assert content_of(client, file_id) == b""


@pytest.mark.parametrize("override", ["LOCK", "UNLOCK", "REFRESH_LOCK", "GET_LOCK"])
def test_view_token_lock_family_401(client: WopiClient, override: str) -> None:
    file_id = client.add_file()
    assert client.lock(file_id, "A").status_code == 200
    view = client.token(file_id, Permission.VIEW)
    assert client.override(file_id, override, token=view, X_WOPI_Lock="A").status_code == 401
    assert client.override(file_id, "GET_LOCK").headers["X-WOPI-Lock"] == "A"


def test_token_for_another_file_returns_401(client: WopiClient) -> None:
    first, second = client.add_file(), client.add_file()
    assert client.check_file_info(first, client.token(second)).status_code == 401


def test_tampered_token_returns_401(client: WopiClient) -> None:
    file_id = client.add_file()
    header, payload, signature = client.token(file_id).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["prm"] = "edit"
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert client.check_file_info(file_id, f"{header}.{forged}.{signature}").status_code == 401


def test_expired_token_returns_401(client: WopiClient) -> None:
    file_id = client.add_file()
    expired = issue_token(client.settings, file_id, User("u", "U"), Permission.EDIT, now=time.time() - 86400)
    assert client.check_file_info(file_id, expired.access_token).status_code == 401


def test_missing_token_returns_401(client: WopiClient) -> None:
    file_id = client.add_file()
    assert client.http.get(f"/wopi/files/{file_id}").status_code == 401


def test_unknown_file_returns_404(client: WopiClient) -> None:
    assert client.check_file_info("0" * 32).status_code == 404
    assert client.get_file("0" * 32).status_code == 404
    assert client.lock("0" * 32, "A").status_code == 404


@pytest.mark.parametrize("override", ["NOT_AN_OVERRIDE", "", "GET_WOPI_SRC_WITH_ACCESS_TOKEN"])
def test_unsupported_override_returns_501(client: WopiClient, override: str) -> None:
    file_id = client.add_file()
    assert client.override(file_id, override).status_code == 501


def test_put_file_over_limit_413(settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis) -> None:
    with wopi_client(settings_factory(WOPI_REDIS_URL=redis_url, WOPI_MAX_FILE_SIZE="100")) as client:
        file_id = client.add_file(content=b"")
        assert client.put_file(file_id, b"x" * 101).status_code == 413
        assert content_of(client, file_id) == b""
        assert client.put_file(file_id, b"x" * 100).status_code == 200


def test_put_file_succeeds_for_user_other_than_locker(client: WopiClient) -> None:
    file_id = client.add_file()
    assert client.lock(file_id, "A").status_code == 200
    other = client.token(file_id, user=User("u-second", "Second"))
    assert client.put_file(file_id, b"by second", token=other, X_WOPI_Lock="A").status_code == 200
    assert client.check_file_info(file_id).json()["Size"] == len(b"by second")


def test_access_token_accepted_from_authorization_header(client: WopiClient) -> None:
    file_id = client.add_file()
    token = client.token(file_id)
    response = client.http.get(f"/wopi/files/{file_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_boolean_and_header_names_case_insensitive(client: WopiClient) -> None:
    file_id = client.add_file()
    response = client.http.post(
        f"/wopi/files/{file_id}",
        params={"access_token": client.token(file_id)},
        headers={"x-wopi-override": "lock", "x-wopi-lock": "A"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "suffix"), [("PUT", ""), ("DELETE", ""), ("PUT", "/contents"), ("PATCH", "/contents")]
)
def test_file_path_other_methods_get_405(client: WopiClient, method: str, suffix: str) -> None:
    file_id = client.add_file(content=b"original")
    token = client.token(file_id)
    response = client.http.request(method, f"/wopi/files/{file_id}{suffix}", params={"access_token": token})
    assert response.status_code == 405
    assert content_of(client, file_id) == b"original"


def test_head_check_file_info_sends_headers_only(client: WopiClient) -> None:
    file_id = client.add_file()
    response = client.http.head(f"/wopi/files/{file_id}", params={"access_token": client.token(file_id)})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b""
