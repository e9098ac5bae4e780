"""The sessions API and the host page it links to, over a real Redis-compatible server."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from tests.conftest import SettingsFactory
from tests.integration.wopi_client import WopiClient, wopi_client
from tests.proof_signing import client_keys, discovery_xml
from wopi_core.launch import TICKET_KEY_PREFIX
from wopi_core.models import Permission, User
from wopi_core.storage import create_storage
from wopi_core.urls import host_page_url

API_KEY = "test-api-key-0123456789"
PUBLIC_BASE = "https://wopi.example.test"
ACTION_ORIGIN = "https://office.example.test"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def discovery_file(tmp_path: Path) -> Path:
    path = tmp_path / "discovery.xml"
    path.write_bytes(discovery_xml(client_keys(), action_origin=ACTION_ORIGIN))
    return path


@pytest.fixture
def client(
    settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis, discovery_file: Path
) -> Iterator[WopiClient]:
    settings = settings_factory(
        WOPI_REDIS_URL=redis_url,
        WOPI_DISCOVERY_URL=str(discovery_file),
        WOPI_BASE_URL=PUBLIC_BASE,
        WOPI_API_KEY=API_KEY,
    )
    with wopi_client(settings) as made:
        yield made


def create_session(client: WopiClient, file_id: str, **body: str) -> dict[str, object]:
    response = client.http.post(f"/api/v1/files/{file_id}/sessions", json={"user_id": "u-1", **body}, headers=AUTH)
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def local_path(url: object) -> str:
    """Turn a public host page URL into the path and query the test client requests."""
    parts = urlsplit(str(url))
    return f"{parts.path}?{parts.query}"


def form_field(page: str, name: str) -> str:
    match = re.search(rf'<input name="{name}" value="([^"]*)"', page)
    assert match is not None, f"no {name} input in the page"
    return html.unescape(match.group(1))


def form_action(page: str) -> str:
    match = re.search(r'<form id="office_form"[^>]* action="([^"]*)"', page)
    assert match is not None, "no form in the page"
    return html.unescape(match.group(1))


def test_create_session_returns_token_and_urls(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    session = create_session(client, file_id, display_name="Ana", permission="edit")
    assert set(session) >= {"access_token", "access_token_ttl", "action_url", "host_page_url"}


def test_create_session_token_opens_check_file_info(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    session = create_session(client, file_id, display_name="Ana")
    info = client.check_file_info(file_id, str(session["access_token"])).json()
    assert info["UserId"] == "u-1"
    assert info["UserFriendlyName"] == "Ana"
    assert info["UserCanWrite"]


def test_create_session_action_url_carries_wopisrc(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    session = create_session(client, file_id)
    query = parse_qs(urlsplit(str(session["action_url"])).query)
    assert query["wopisrc"] == [f"{PUBLIC_BASE}/wopi/files/{file_id}"]


def test_create_session_edit_uses_edit_action(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    session = create_session(client, file_id, permission="edit")
    assert str(session["action_url"]).startswith(f"{ACTION_ORIGIN}/we/wordeditorframe/edit.aspx")


def test_create_session_view_permission_uses_view_action(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    session = create_session(client, file_id, permission="view")
    assert str(session["action_url"]).startswith(f"{ACTION_ORIGIN}/we/wordeditorframe/view.aspx")


def test_create_session_view_permission_token_cannot_write(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    session = create_session(client, file_id, permission="view")
    assert client.check_file_info(file_id, str(session["access_token"])).json()["UserCanWrite"] is False


def test_create_session_host_page_url_has_ticket_not_token(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    session = create_session(client, file_id)
    query = parse_qs(urlsplit(str(session["host_page_url"])).query)
    assert set(query) == {"ticket"}
    assert str(session["access_token"]) not in str(session["host_page_url"])


def test_create_session_host_page_url_uses_base_url(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    session = create_session(client, file_id)
    assert str(session["host_page_url"]).startswith(f"{PUBLIC_BASE}/host/files/{file_id}?ticket=")


def test_create_session_ticket_expires_in_about_a_minute(client: WopiClient, redis_client: redis.Redis) -> None:
    file_id = client.add_file("report.docx")
    session = create_session(client, file_id)
    ticket = parse_qs(urlsplit(str(session["host_page_url"])).query)["ticket"][0]
    assert 0 < redis_client.ttl(TICKET_KEY_PREFIX + ticket) <= 60


def test_create_session_language_fills_ui_and_data_language(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    session = create_session(client, file_id, language="de-DE")
    query = parse_qs(urlsplit(str(session["action_url"])).query)
    assert query["ui"] == ["de-DE"]
    assert query["rs"] == ["de-DE"]


def test_create_session_with_wrong_api_key_returns_401(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    response = client.http.post(
        f"/api/v1/files/{file_id}/sessions", json={"user_id": "u-1"}, headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 401
    assert "error" in response.json()


def test_create_session_without_authorization_returns_401(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    response = client.http.post(f"/api/v1/files/{file_id}/sessions", json={"user_id": "u-1"})
    assert response.status_code == 401


def test_create_session_without_configured_key_returns_403(
    settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis, discovery_file: Path
) -> None:
    settings = settings_factory(WOPI_REDIS_URL=redis_url, WOPI_DISCOVERY_URL=str(discovery_file))
    with wopi_client(settings) as unconfigured:
        file_id = unconfigured.add_file("report.docx")
        response = unconfigured.http.post(
            f"/api/v1/files/{file_id}/sessions", json={"user_id": "u-1"}, headers={"Authorization": "Bearer "}
        )
    assert response.status_code == 403
    assert "WOPI_API_KEY" in response.json()["error"]


def test_create_session_for_unknown_file_returns_404(client: WopiClient) -> None:
    response = client.http.post("/api/v1/files/no-such-file/sessions", json={"user_id": "u-1"}, headers=AUTH)
    assert response.status_code == 404


def test_create_session_without_discovery_returns_503(
    settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis
) -> None:
    settings = settings_factory(WOPI_REDIS_URL=redis_url, WOPI_API_KEY=API_KEY)
    with wopi_client(settings) as undiscovered:
        file_id = undiscovered.add_file("report.docx")
        response = undiscovered.http.post(f"/api/v1/files/{file_id}/sessions", json={"user_id": "u-1"}, headers=AUTH)
    assert response.status_code == 503
    assert "WOPI_DISCOVERY_URL" in response.json()["error"]


def test_create_session_for_extension_without_action_returns_422(client: WopiClient) -> None:
    file_id = client.add_file("notes.xyz")
    response = client.http.post(f"/api/v1/files/{file_id}/sessions", json={"user_id": "u-1"}, headers=AUTH)
    assert response.status_code == 422
    assert ".xyz" in response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing-user"),
        pytest.param({"user_id": "u-1", "permission": "owner"}, id="unknown-permission"),
        pytest.param({"user_id": "u-1", "permission": "view", "action": "edit"}, id="edit-action-view-permission"),
        pytest.param({"user_id": "u/1"}, id="slash-in-user-id"),
        pytest.param({"user_id": "u-1", "language": "en US"}, id="bad-language"),
        pytest.param({"user_id": "u-1", "colour": "red"}, id="unknown-field"),
        pytest.param({"user_id": 7}, id="user-id-not-a-string"),
    ],
)
def test_create_session_rejects_invalid_body_with_422(client: WopiClient, body: dict[str, object]) -> None:
    file_id = client.add_file("report.docx")
    response = client.http.post(f"/api/v1/files/{file_id}/sessions", json=body, headers=AUTH)
    assert response.status_code == 422


def test_create_session_rejects_body_that_is_not_json(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    response = client.http.post(f"/api/v1/files/{file_id}/sessions", content=b"user=u-1", headers=AUTH)
    assert response.status_code == 400


def test_host_page_posts_token_into_action_url(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    page = client.http.get(local_path(create_session(client, file_id)["host_page_url"])).text
    token = form_field(page, "access_token")
    assert client.check_file_info(file_id, token).status_code == 200


def test_host_page_form_targets_edit_action(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    page = client.http.get(local_path(create_session(client, file_id)["host_page_url"])).text
    assert form_action(page).startswith(f"{ACTION_ORIGIN}/we/wordeditorframe/edit.aspx?")


def test_host_page_view_session_targets_view_action(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    page = client.http.get(local_path(create_session(client, file_id, permission="view")["host_page_url"])).text
    assert form_action(page).startswith(f"{ACTION_ORIGIN}/we/wordeditorframe/view.aspx?")


def test_host_page_access_token_ttl_is_epoch_milliseconds(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    page = client.http.get(local_path(create_session(client, file_id)["host_page_url"])).text
    ttl = int(form_field(page, "access_token_ttl"))
    assert time.time() * 1000 < ttl < (time.time() + 11 * 3600) * 1000


def test_host_page_sends_no_cache_headers(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    response = client.http.get(local_path(create_session(client, file_id)["host_page_url"]))
    headers = response.headers
    assert headers["Cache-Control"] == "no-cache, no-store"
    assert headers["Expires"] == "-1"
    assert headers["Pragma"] == "no-cache"


def csp_nonce(policy: str) -> str:
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    script, style = directives["script-src"], directives["style-src"]
    assert script == style
    assert script.startswith("'nonce-")
    assert script.endswith("'")
    return script[len("'nonce-") : -1]


def test_host_page_policy_allows_own_code_only(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    response = client.http.get(local_path(create_session(client, file_id)["host_page_url"]))
    policy = response.headers["Content-Security-Policy"]
    nonce = csp_nonce(policy)
    assert "default-src 'none'" in policy
    assert "base-uri 'none'" in policy
    assert "object-src 'none'" in policy
    assert f'<script nonce="{nonce}">' in response.text
    assert f'<style nonce="{nonce}">' in response.text
    assert response.text.count("<script") == 1


def test_host_page_nonce_changes_per_page(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    first = client.http.get(local_path(create_session(client, file_id)["host_page_url"]))
    second = client.http.get(local_path(create_session(client, file_id)["host_page_url"]))
    assert csp_nonce(first.headers["Content-Security-Policy"]) != csp_nonce(second.headers["Content-Security-Policy"])


def test_host_error_page_has_policy(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    response = client.http.get(f"/host/files/{file_id}?ticket=made-up-ticket-0123456789")
    nonce = csp_nonce(response.headers["Content-Security-Policy"])
    assert f'<style nonce="{nonce}">' in response.text


def test_host_page_has_viewport_and_favicon(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    page = client.http.get(local_path(create_session(client, file_id)["host_page_url"])).text
    assert 'name="viewport"' in page
    assert f'href="{ACTION_ORIGIN}/word.ico"' in page


def test_host_page_creates_iframe_from_script(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    page = client.http.get(local_path(create_session(client, file_id)["host_page_url"])).text
    assert "<iframe" not in page
    assert 'createElement("iframe")' in page


def test_host_page_reused_ticket_shows_error_page(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    path = local_path(create_session(client, file_id)["host_page_url"])
    client.http.get(path)
    second = client.http.get(path)
    assert second.status_code == 410
    assert "already been used" in second.text


def test_host_page_expired_ticket_shows_error_page(client: WopiClient, redis_client: redis.Redis) -> None:
    file_id = client.add_file("report.docx")
    url = str(create_session(client, file_id)["host_page_url"])
    ticket = parse_qs(urlsplit(url).query)["ticket"][0]
    redis_client.delete(TICKET_KEY_PREFIX + ticket)
    response = client.http.get(local_path(url))
    assert response.status_code == 410
    assert "expired" in response.text


def test_host_page_error_page_is_html_without_token(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    response = client.http.get(f"/host/files/{file_id}?ticket=made-up-ticket-0123456789")
    assert response.headers["content-type"].startswith("text/html")
    assert "access_token" not in response.text


def test_host_page_without_ticket_or_grant_returns_400(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    assert client.http.get(f"/host/files/{file_id}").status_code == 400


def test_host_page_ticket_for_other_file_returns_400(client: WopiClient) -> None:
    first = client.add_file("report.docx")
    second = client.add_file("other.docx")
    ticket_query = urlsplit(str(create_session(client, first)["host_page_url"])).query
    assert client.http.get(f"/host/files/{second}?{ticket_query}").status_code == 400


def test_host_page_forwards_wd_parameters(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    path = local_path(create_session(client, file_id)["host_page_url"])
    page = client.http.get(path + "&wdPreviousSession=abc&wdOrigin=ms%20teams&other=1").text
    query = parse_qs(urlsplit(form_action(page)).query)
    assert query.get("wdPreviousSession") == ["abc"]
    assert query.get("wdOrigin") == ["ms teams"]
    assert "other" not in query


def test_host_page_language_from_accept_language(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    path = local_path(create_session(client, file_id)["host_page_url"])
    page = client.http.get(path, headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}).text
    assert parse_qs(urlsplit(form_action(page)).query)["ui"] == ["fr-FR"]


def test_host_page_session_language_wins_over_accept_language(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    path = local_path(create_session(client, file_id, language="nl-NL")["host_page_url"])
    page = client.http.get(path, headers={"Accept-Language": "fr-FR"}).text
    assert parse_qs(urlsplit(form_action(page)).query)["ui"] == ["nl-NL"]


def test_host_page_escapes_file_name(client: WopiClient) -> None:
    file_id = client.add_file("Tom & Jerry's notes.docx")
    page = client.http.get(local_path(create_session(client, file_id)["host_page_url"])).text
    assert "<title>Tom &amp; Jerry&#x27;s notes.docx</title>" in page


def test_host_page_for_deleted_file_returns_404(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    path = local_path(create_session(client, file_id)["host_page_url"])
    create_storage(client.settings).delete(file_id)
    assert client.http.get(path).status_code == 404


def test_host_page_grant_opens_page_more_than_once(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    url = host_page_url(client.settings, file_id, User("u-2", "Bo"), Permission.VIEW, action="view")
    statuses = [client.http.get(local_path(url)).status_code for _ in range(2)]
    assert statuses == [200, 200]


def test_host_page_grant_view_targets_view_action(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    url = host_page_url(client.settings, file_id, User("u-2", "Bo"), Permission.VIEW, action="view")
    page = client.http.get(local_path(url)).text
    assert form_action(page).startswith(f"{ACTION_ORIGIN}/we/wordeditorframe/view.aspx?")


def test_host_page_invalid_grant_returns_401(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    assert client.http.get(f"/host/files/{file_id}?grant=not.a.grant").status_code == 401


def test_post_message_origin_matches_host_page_origin(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    session = create_session(client, file_id)
    parts = urlsplit(str(session["host_page_url"]))
    info = client.check_file_info(file_id, str(session["access_token"])).json()
    assert info["PostMessageOrigin"] == f"{parts.scheme}://{parts.netloc}"
