"""Launch requests, action selection, host page language and the host page template, with no servers."""

from __future__ import annotations

import pytest

from tests.conftest import SettingsFactory
from tests.proof_signing import client_keys, discovery_xml
from wopi_api.templates import markup, render
from wopi_core.discovery import Discovery, parse_discovery
from wopi_core.launch import (
    LaunchError,
    LaunchRequest,
    client_action_url,
    find_client_action,
    is_ticket_id,
    language_from_accept,
    make_launch_request,
    new_ticket_id,
)
from wopi_core.models import Permission, User


@pytest.fixture(scope="module")
def discovery() -> Discovery:
    return parse_discovery(discovery_xml(client_keys(), action_origin="https://office.example.test"))


def host_page(**values: str) -> str:
    defaults: dict[str, str] = {
        "page_language": "en",
        "title": "report.docx",
        "favicon_link": markup(""),
        "action_url": "https://office.example.test/edit.aspx?a=1&b=2",
        "access_token": "token",
        "access_token_ttl": "1",
        "nonce": "test-nonce",
    }
    return render("host_page.html", **(defaults | values))


def test_launch_default_edit_action() -> None:
    assert make_launch_request("f", "u-1").action == "edit"


def test_launch_default_view_action() -> None:
    assert make_launch_request("f", "u-1", permission="view").action == "view"


def test_launch_default_display_name() -> None:
    assert make_launch_request("f", "u-1").user == User("u-1", "u-1")


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"user_id": ""}, id="empty-user"),
        pytest.param({"user_id": "a<b"}, id="angle-bracket-in-user"),
        pytest.param({"user_id": "u", "permission": "admin"}, id="unknown-permission"),
        pytest.param({"user_id": "u", "permission": "view", "action": "editnew"}, id="editnew-needs-edit"),
        pytest.param({"user_id": "u", "action": "../edit"}, id="action-not-a-name"),
        pytest.param({"user_id": "u", "language": "en_US!"}, id="bad-language"),
    ],
)
def test_make_launch_request_rejects_invalid_field(fields: dict[str, str]) -> None:
    with pytest.raises(LaunchError):
        make_launch_request("f", **fields)


def test_launch_request_json_round_trip() -> None:
    request = LaunchRequest("f", User("u-1", "Ana"), Permission.VIEW, "view", "de-DE")
    assert LaunchRequest.from_json(request.to_json()) == request


def test_new_ticket_id_has_ticket_shape() -> None:
    assert is_ticket_id(new_ticket_id())


def test_is_ticket_id_rejects_short_value() -> None:
    assert not is_ticket_id("abc")


def test_find_client_action_for_docx_edit(discovery: Discovery) -> None:
    assert find_client_action(discovery, "edit", "Report.DOCX").name == "edit"


def test_find_client_action_for_unknown_extension_raises(discovery: Discovery) -> None:
    with pytest.raises(LaunchError, match=r"\.xyz"):
        find_client_action(discovery, "edit", "notes.xyz")


def test_client_action_url_forwards_wd_parameters(discovery: Discovery, settings_factory: SettingsFactory) -> None:
    action = find_client_action(discovery, "view", "a.docx")
    url = client_action_url(settings_factory(), action, "f1", host_page_query="ticket=t&wdOrigin=x&wdMode=1")
    assert url.endswith("&wdOrigin=x&wdMode=1")
    assert "ticket" not in url


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("fr-FR,fr;q=0.9,en;q=0.5", "fr-FR", id="first"),
        pytest.param("en;q=0.3, de-DE;q=0.8", "de-DE", id="highest-weight"),
        pytest.param("*", "", id="wildcard"),
        pytest.param("", "", id="empty"),
        pytest.param("x y z", "", id="garbage"),
    ],
)
def test_language_from_accept(header: str, expected: str) -> None:
    assert language_from_accept(header) == expected


def test_host_page_template_escapes_script_in_title() -> None:
    page = host_page(title="<script>alert(1)</script>.docx")
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.docx" in page


def test_host_page_template_escapes_quotes_in_action_url() -> None:
    page = host_page(action_url='https://office.example.test/?a="><b>')
    assert 'action="https://office.example.test/?a=&quot;&gt;&lt;b&gt;"' in page


def test_host_page_template_escapes_ampersand_in_action_url() -> None:
    assert 'action="https://office.example.test/edit.aspx?a=1&amp;b=2"' in host_page()
