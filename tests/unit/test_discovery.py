"""Unit tests for wopi_core.discovery: parsing real discovery documents, action lookup and action URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from wopi_core.action_urls import forward_wd_params, resolve_action_url
from wopi_core.discovery import (
    Discovery,
    DiscoveryError,
    ProofKey,
    fetch_discovery,
    load_discovery_source,
    parse_discovery,
)


def _repo_root() -> Path:
    for directory in Path(__file__).resolve().parents:
        if (directory / "pyproject.toml").is_file():
            return directory
    raise RuntimeError("no pyproject.toml above the test module")


DISCOVERY_DIR = _repo_root().parent / "shared" / "fixtures" / "discovery"
WOPI_SRC = "https://wopi.example.test/wopi/files/f-123"
ENCODED_WOPI_SRC = quote(WOPI_SRC, safe="")

MS_EDIT_EXTENSIONS = "docm docx odp ods odt ppsx pptx xlsb xlsm xlsx"
COLLABORA_EDIT_EXTENSIONS = (
    "csv dbf dif doc docm docx dot fodp fods fodt odm odp ods odt otg oth otm otp ots ott pot potm potx ppsx ppt "
    "pptm pptx rtf slk txt xla xls xlsb xlsm xlsx"
)


def _fixture(name: str) -> bytes:
    path = DISCOVERY_DIR / name
    if not path.is_file():
        pytest.skip(f"discovery fixtures not found at {DISCOVERY_DIR}; the shared folder must sit beside the repo")
    return path.read_bytes()


def _parse_fixture(name: str) -> Discovery:
    return parse_discovery(_fixture(name))


# Per file: zones with (apps, actions) each, extensions that have an edit action, and which keys exist.
FIXTURES = [
    pytest.param(
        "office-online-production_rspace-web.xml",
        {"external-https": (8, 350)},
        MS_EDIT_EXTENSIONS + " vsdx wopitest wopitestx",
        (True, True),
        id="office-production",
    ),
    pytest.param(
        "office-online-dogfood_wopinator.xml",
        {"external-https": (8, 365)},
        MS_EDIT_EXTENSIONS + " one onetoc2 vsdx",
        (True, True),
        id="office-dogfood",
    ),
    pytest.param(
        "office-online-server-2016_wopihost.xml",
        {"internal-http": (6, 293), "external-http": (6, 293)},
        MS_EDIT_EXTENSIONS + " one onetoc2",
        (True, False),
        id="oos-2016",
    ),
    pytest.param(
        "office-online-2019-mixed_wopihost.xml",
        {"internal-http": (6, 293), "external-https": (8, 376)},
        MS_EDIT_EXTENSIONS + " one onetoc2 vsdx wopitest wopitestx",
        (True, False),
        id="oos-2019-mixed",
    ),
    pytest.param(
        "office-web-apps-2013_wopihost.xml",
        {"internal-http": (5, 185)},
        MS_EDIT_EXTENSIONS + " one onetoc2",
        (True, True),
        id="owa-2013",
    ),
    pytest.param(
        "collabora-served-demo-server_rspace-web.xml",
        {"external-http": (95, 175)},
        COLLABORA_EDIT_EXTENSIONS + " fodg odg",
        (True, True),
        id="collabora-served",
    ),
    pytest.param(
        "collabora-served-loleaflet-2021_alfresco.xml",
        {"external-http": (95, 175)},
        COLLABORA_EDIT_EXTENSIONS + " fodg odg",
        (True, True),
        id="collabora-loleaflet",
    ),
    pytest.param(
        "collabora-source-template_CollaboraOnline-online.xml",
        {"external-http": (94, 94)},
        COLLABORA_EDIT_EXTENSIONS + " odc",
        (False, False),
        id="collabora-template",
    ),
    pytest.param(
        "onlyoffice-excerpt_opencloud-test.xml",
        {"external-http": (3, 15)},
        "docx",
        (True, True),
        id="onlyoffice",
    ),
]


@pytest.mark.parametrize(("name", "zone_counts", "edit_extensions", "keys_present"), FIXTURES)
def test_parse_discovery_counts_zones_apps_and_actions(
    name: str, zone_counts: dict[str, tuple[int, int]], edit_extensions: str, keys_present: tuple[bool, bool]
) -> None:
    discovery = _parse_fixture(name)
    counted = {zone: (discovery.app_count(zone), discovery.action_count(zone)) for zone in discovery.zones}
    assert counted == zone_counts


@pytest.mark.parametrize(("name", "zone_counts", "edit_extensions", "keys_present"), FIXTURES)
def test_parse_discovery_lists_edit_extensions(
    name: str, zone_counts: dict[str, tuple[int, int]], edit_extensions: str, keys_present: tuple[bool, bool]
) -> None:
    discovery = _parse_fixture(name)
    assert discovery.extensions_for("edit") == frozenset(edit_extensions.split())


@pytest.mark.parametrize(("name", "zone_counts", "edit_extensions", "keys_present"), FIXTURES)
def test_parse_discovery_reads_current_and_old_keys(
    name: str, zone_counts: dict[str, tuple[int, int]], edit_extensions: str, keys_present: tuple[bool, bool]
) -> None:
    proof_key = _parse_fixture(name).proof_key
    assert (proof_key.current is not None, proof_key.old is not None) == keys_present


@pytest.mark.parametrize(("name", "zone_counts", "edit_extensions", "keys_present"), FIXTURES)
def test_discovery_json_round_trip_is_equal(
    name: str, zone_counts: dict[str, tuple[int, int]], edit_extensions: str, keys_present: tuple[bool, bool]
) -> None:
    discovery = _parse_fixture(name)
    assert Discovery.from_json(discovery.to_json()) == discovery


def test_parse_discovery_rejects_not_well_formed_document() -> None:
    xml = _fixture("office-online-server_knightfrank_newportg-wopi.xml")
    with pytest.raises(DiscoveryError, match="not well-formed"):
        parse_discovery(xml)


def test_parse_discovery_rejects_other_root_element() -> None:
    with pytest.raises(DiscoveryError, match="expected <wopi-discovery>"):
        parse_discovery(b"<html><body/></html>")


def test_parse_discovery_rejects_external_entity_in_attribute() -> None:
    xml = (
        b'<?xml version="1.0"?><!DOCTYPE wopi-discovery [<!ENTITY leak SYSTEM "file:///etc/hostname">]>'
        b'<wopi-discovery><net-zone name="external-https"><app name="&leak;"/></net-zone></wopi-discovery>'
    )
    with pytest.raises(DiscoveryError):
        parse_discovery(xml)


def test_parse_discovery_reads_action_attributes() -> None:
    discovery = _parse_fixture("office-online-server-2016_wopihost.xml")
    onenote_edit = next(
        action
        for action in discovery.actions
        if action.progid == "OneNote.Notebook" and action.name == "edit" and action.zone == "internal-http"
    )
    assert (onenote_edit.ext, onenote_edit.default, onenote_edit.requires, onenote_edit.app_name) == (
        "",
        True,
        frozenset({"cobalt", "containers", "update"}),
        "OneNote",
    )


def test_docx_edit_url_has_encoded_wopisrc() -> None:
    action = _parse_fixture("office-online-production_rspace-web.xml").find_action("edit", "docx")
    assert action is not None
    url = resolve_action_url(action.urlsrc, WOPI_SRC, ui_language="en-US")
    assert f"wopisrc={ENCODED_WOPI_SRC}" in url


def test_docx_edit_url_has_no_placeholder() -> None:
    action = _parse_fixture("office-online-production_rspace-web.xml").find_action("edit", "docx")
    assert action is not None
    url = resolve_action_url(action.urlsrc, WOPI_SRC, ui_language="en-US")
    assert "<" not in url
    assert ">" not in url
    assert not url.endswith(("&", "?"))


def test_find_action_production_doc_has_view() -> None:
    assert _parse_fixture("office-online-production_rspace-web.xml").find_action("view", "doc") is not None


def test_find_action_production_doc_has_no_edit() -> None:
    assert _parse_fixture("office-online-production_rspace-web.xml").find_action("edit", "doc") is None


def test_find_action_accepts_dot_and_upper_case_extension() -> None:
    discovery = _parse_fixture("office-online-production_rspace-web.xml")
    assert discovery.find_action("edit", ".DOCX") == discovery.find_action("edit", "docx")


def test_find_action_carries_app_name_and_favicon() -> None:
    action = _parse_fixture("office-online-production_rspace-web.xml").find_action("edit", "docx")
    assert action is not None
    assert (action.app_name, action.fav_icon_url.startswith("https://")) == ("Word", True)


def test_find_action_prefers_external_https_zone() -> None:
    action = _parse_fixture("office-online-2019-mixed_wopihost.xml").find_action("edit", "docx")
    assert action is not None
    assert (action.zone, action.urlsrc.startswith("https://word-edit.officeapps.live.com/")) == (
        "external-https",
        True,
    )


def test_find_action_follows_configured_zone_preference() -> None:
    discovery = _parse_fixture("office-online-2019-mixed_wopihost.xml")
    action = discovery.find_action("edit", "docx", zone_preference=("internal-http",))
    assert action is not None
    assert action.urlsrc.startswith("http://owaserver/")


def test_find_action_falls_back_to_only_zone() -> None:
    discovery = _parse_fixture("office-web-apps-2013_wopihost.xml")
    action = discovery.find_action("edit", "docx", zone_preference=("external-https",))
    assert action is not None
    assert action.zone == "internal-http"


def test_find_action_without_fallback_when_several_zones() -> None:
    discovery = _parse_fixture("office-online-server-2016_wopihost.xml")
    assert discovery.find_action("edit", "docx", zone_preference=("external-https",)) is None


def test_find_action_skips_actions_needing_missing_capabilities() -> None:
    discovery = _parse_fixture("office-online-production_rspace-web.xml")
    assert discovery.find_action("edit", "docx", capabilities={"update"}) is None


def test_find_action_keeps_actions_whose_requirements_are_met() -> None:
    discovery = _parse_fixture("office-online-production_rspace-web.xml")
    assert discovery.find_action("edit", "docx", capabilities={"update", "locks"}) is not None


def test_find_action_prefers_default_action() -> None:
    discovery = _parse_fixture("office-online-production_rspace-web.xml")
    action = discovery.find_action("view", "docx")
    assert action is not None
    assert action.default


def test_find_action_ignores_empty_extension() -> None:
    assert _parse_fixture("collabora-served-demo-server_rspace-web.xml").find_action("view", "") is None


def test_find_action_returns_none_without_urlsrc() -> None:
    assert _parse_fixture("collabora-source-template_CollaboraOnline-online.xml").find_action("edit", "docx") is None


def test_discovery_has_urlsrc_false_for_collabora_template() -> None:
    assert not _parse_fixture("collabora-source-template_CollaboraOnline-online.xml").has_urlsrc()


def test_discovery_has_urlsrc_true_for_served_collabora() -> None:
    assert _parse_fixture("collabora-served-demo-server_rspace-web.xml").has_urlsrc()


def test_find_action_for_mime_type_finds_collabora_app() -> None:
    discovery = _parse_fixture("collabora-served-demo-server_rspace-web.xml")
    action = discovery.find_action_for_mime_type("edit", "application/vnd.oasis.opendocument.text")
    assert action is not None
    assert action.urlsrc.endswith("cool.html?")


def test_collabora_served_url_appends_wopisrc() -> None:
    action = _parse_fixture("collabora-served-demo-server_rspace-web.xml").find_action("edit", "odt")
    assert action is not None
    url = resolve_action_url(action.urlsrc, WOPI_SRC)
    assert url == f"https://demo.eu.collaboraonline.com/browser/739da71/cool.html?WOPISrc={ENCODED_WOPI_SRC}"


def test_proof_key_modulus_matches_blob() -> None:
    proof_key = _parse_fixture("office-online-production_rspace-web.xml").proof_key
    from_numbers = ProofKey.from_attributes({"modulus": proof_key.modulus, "exponent": proof_key.exponent})
    from_blob = ProofKey.from_attributes({"value": proof_key.value})
    assert from_numbers.current is not None
    assert from_blob.current is not None
    assert from_numbers.current.public_numbers() == from_blob.current.public_numbers()


def test_proof_key_old_modulus_matches_blob() -> None:
    proof_key = _parse_fixture("office-online-production_rspace-web.xml").proof_key
    from_numbers = ProofKey.from_attributes(
        {"oldmodulus": proof_key.old_modulus, "oldexponent": proof_key.old_exponent}
    )
    from_blob = ProofKey.from_attributes({"oldvalue": proof_key.old_value})
    assert from_numbers.old is not None
    assert from_blob.old is not None
    assert from_numbers.old.public_numbers() == from_blob.old.public_numbers()


def test_proof_key_production_old_key_differs_from_current() -> None:
    proof_key = _parse_fixture("office-online-production_rspace-web.xml").proof_key
    assert proof_key.current is not None
    assert proof_key.old is not None
    assert proof_key.current.public_numbers() != proof_key.old.public_numbers()


def test_proof_key_from_blob_only() -> None:
    proof_key = _parse_fixture("office-web-apps-2013_wopihost.xml").proof_key
    assert proof_key.current is not None
    assert proof_key.current.key_size == 2048


def test_proof_key_rejects_blob_that_disagrees_with_modulus() -> None:
    production = _parse_fixture("office-online-production_rspace-web.xml").proof_key
    other = _parse_fixture("office-online-server-2016_wopihost.xml").proof_key
    attributes = {"modulus": production.modulus, "exponent": production.exponent, "value": other.value}
    with pytest.raises(DiscoveryError, match="differs"):
        ProofKey.from_attributes(attributes)


def test_proof_key_rejects_modulus_without_exponent() -> None:
    production = _parse_fixture("office-online-production_rspace-web.xml").proof_key
    with pytest.raises(DiscoveryError, match="only one of modulus and exponent"):
        ProofKey.from_attributes({"modulus": production.modulus})


def test_proof_key_rejects_invalid_base64() -> None:
    with pytest.raises(DiscoveryError, match="not valid Base64"):
        ProofKey.from_attributes({"value": "not*base64"})


def test_proof_key_rejects_blob_of_wrong_type() -> None:
    with pytest.raises(DiscoveryError, match="PUBLICKEYBLOB"):
        ProofKey.from_attributes({"value": "BwIAAACkAABSU0ExAAgAAAEAAQA="})


def test_proof_key_rejects_truncated_blob() -> None:
    production = _parse_fixture("office-online-production_rspace-web.xml").proof_key
    truncated = production.value[:100]
    with pytest.raises(DiscoveryError):
        ProofKey.from_attributes({"value": truncated})


def test_discovery_from_json_rejects_other_text() -> None:
    with pytest.raises(DiscoveryError):
        Discovery.from_json('{"format": 1, "zones": []}')


def test_discovery_from_json_keeps_fetched_at() -> None:
    discovery = parse_discovery(_fixture("onlyoffice-excerpt_opencloud-test.xml"), fetched_at=1_700_000_000.5)
    assert Discovery.from_json(discovery.to_json()).fetched_at == 1_700_000_000.5


MS_TEMPLATE = (
    "https://word-edit.example.test/we/wordeditorframe.aspx?<ui=UI_LLCC&><rs=DC_LLCC&><dchat=DISABLE_CHAT&>"
    "<hid=HOST_SESSION_ID&><sc=SESSION_CONTEXT&><wopisrc=WOPI_SOURCE&><IsLicensedUser=BUSINESS_USER&>"
    "<actnavid=ACTIVITY_NAVIGATION_ID&>"
)
ONLYOFFICE_TEMPLATE = (
    "https://cloud.example.test/hosting/wopi/word/edit?&<rs=DC_LLCC&><dchat=DISABLE_CHAT&><embed=EMBEDDED&>"
    "<ui=UI_LLCC&><wopisrc=WOPI_SOURCE&>&"
)


@pytest.mark.parametrize(
    ("urlsrc", "options", "expected"),
    [
        pytest.param(
            MS_TEMPLATE,
            {},
            f"https://word-edit.example.test/we/wordeditorframe.aspx?wopisrc={ENCODED_WOPI_SRC}",
            id="only-wopisrc",
        ),
        pytest.param(
            MS_TEMPLATE,
            {"ui_language": "de-DE", "data_language": "fr-FR"},
            f"https://word-edit.example.test/we/wordeditorframe.aspx?ui=de-DE&rs=fr-FR&wopisrc={ENCODED_WOPI_SRC}",
            id="languages",
        ),
        pytest.param(
            MS_TEMPLATE,
            {"business_user": True},
            f"https://word-edit.example.test/we/wordeditorframe.aspx?wopisrc={ENCODED_WOPI_SRC}&IsLicensedUser=1",
            id="business-user",
        ),
        pytest.param(
            MS_TEMPLATE,
            {"session_context": "a b&c", "host_session_id": "s-1"},
            f"https://word-edit.example.test/we/wordeditorframe.aspx?hid=s-1&sc=a%20b%26c&wopisrc={ENCODED_WOPI_SRC}",
            id="session-context-encoded",
        ),
        pytest.param(
            MS_TEMPLATE,
            {"extra": {"DISABLE_CHAT": "1"}},
            f"https://word-edit.example.test/we/wordeditorframe.aspx?dchat=1&wopisrc={ENCODED_WOPI_SRC}",
            id="extra-placeholder",
        ),
        pytest.param(
            "https://h.example.test/v?<ui=UI_LLCC><new=SOMETHING_NEW&>",
            {"ui_language": "en-US"},
            f"https://h.example.test/v?ui=en-US&WOPISrc={ENCODED_WOPI_SRC}",
            id="no-ampersand-and-unknown-placeholder",
        ),
        pytest.param(
            ONLYOFFICE_TEMPLATE,
            {"ui_language": "en-US"},
            f"https://cloud.example.test/hosting/wopi/word/edit?ui=en-US&wopisrc={ENCODED_WOPI_SRC}",
            id="onlyoffice-leading-and-trailing-ampersand",
        ),
        pytest.param(
            "https://collabora.example.test/browser/abc/cool.html?",
            {},
            f"https://collabora.example.test/browser/abc/cool.html?WOPISrc={ENCODED_WOPI_SRC}",
            id="collabora-ending-in-question-mark",
        ),
        pytest.param(
            "https://collabora.example.test/browser/abc/cool.html",
            {},
            f"https://collabora.example.test/browser/abc/cool.html?WOPISrc={ENCODED_WOPI_SRC}",
            id="no-query",
        ),
        pytest.param(
            "https://viewer.example.test/view?embed=1&",
            {},
            f"https://viewer.example.test/view?embed=1&WOPISrc={ENCODED_WOPI_SRC}",
            id="ending-in-ampersand",
        ),
    ],
)
def test_resolve_action_url_fills_template(urlsrc: str, options: dict[str, Any], expected: str) -> None:
    assert resolve_action_url(urlsrc, WOPI_SRC, **options) == expected


def test_resolve_action_url_removes_unknown_placeholders() -> None:
    url = resolve_action_url(MS_TEMPLATE, WOPI_SRC, extra={"UNRELATED": "x"})
    assert "ACTIVITY_NAVIGATION_ID" not in url
    assert "actnavid" not in url


def test_resolve_action_url_omits_business_user_by_default() -> None:
    assert "IsLicensedUser" not in resolve_action_url(MS_TEMPLATE, WOPI_SRC)


def test_resolve_action_url_rejects_empty_wopi_src() -> None:
    with pytest.raises(ValueError, match="wopi_src"):
        resolve_action_url(MS_TEMPLATE, "")


def test_resolve_action_url_keeps_fragment_last() -> None:
    url = resolve_action_url("https://h.example.test/v?a=1#top", WOPI_SRC)
    assert url == f"https://h.example.test/v?a=1&WOPISrc={ENCODED_WOPI_SRC}#top"


def test_resolve_action_url_onlyoffice_fixture_leaves_clean_query() -> None:
    action = _parse_fixture("onlyoffice-excerpt_opencloud-test.xml").find_action("edit", "docx")
    assert action is not None
    query = urlsplit(resolve_action_url(action.urlsrc, WOPI_SRC, ui_language="en-US")).query
    assert parse_qs(query, strict_parsing=True) == {"ui": ["en-US"], "wopisrc": [WOPI_SRC]}


def test_forward_wd_params_appends_only_wd_parameters_unchanged() -> None:
    url = forward_wd_params("https://h.example.test/v?ui=en-US", "?wdPreviousSession=a%2Fb&other=1&wdOrigin=X")
    assert url == "https://h.example.test/v?ui=en-US&wdPreviousSession=a%2Fb&wdOrigin=X"


def test_forward_wd_params_without_wd_parameters_returns_url() -> None:
    assert forward_wd_params("https://h.example.test/v?a=1", "x=1&y=2") == "https://h.example.test/v?a=1"


def test_load_discovery_source_reads_plain_path(tmp_path: Path) -> None:
    path = tmp_path / "discovery.xml"
    path.write_bytes(b"<wopi-discovery/>")
    assert load_discovery_source(str(path), timeout=1.0) == b"<wopi-discovery/>"


def test_load_discovery_source_reads_file_url(tmp_path: Path) -> None:
    path = tmp_path / "dir with space" / "discovery.xml"
    path.parent.mkdir()
    path.write_bytes(b"<wopi-discovery/>")
    assert load_discovery_source(path.as_uri(), timeout=1.0) == b"<wopi-discovery/>"


def test_load_discovery_source_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match="could not read"):
        load_discovery_source(str(tmp_path / "absent.xml"), timeout=1.0)


def test_load_discovery_source_rejects_unknown_scheme() -> None:
    with pytest.raises(DiscoveryError, match="unsupported scheme"):
        load_discovery_source("ftp://discovery.example.test/hosting/discovery", timeout=1.0)


def _client(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(transport=handler)


def test_load_discovery_source_fetches_over_http() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<wopi-discovery/>")

    with _client(httpx.MockTransport(handler)) as client:
        body = load_discovery_source("https://client.example.test/hosting/discovery", 5.0, client=client)
    assert body == b"<wopi-discovery/>"


def test_load_discovery_source_rejects_non_200_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, content=b"busy")

    with _client(httpx.MockTransport(handler)) as client, pytest.raises(DiscoveryError, match="HTTP 503"):
        load_discovery_source("https://client.example.test/hosting/discovery", 5.0, client=client)


def test_load_discovery_source_wraps_transport_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with _client(httpx.MockTransport(handler)) as client, pytest.raises(DiscoveryError, match="ConnectTimeout"):
        load_discovery_source("https://client.example.test/hosting/discovery", 5.0, client=client)


def test_fetch_discovery_records_fetch_time() -> None:
    xml = _fixture("onlyoffice-excerpt_opencloud-test.xml")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=xml)

    with _client(httpx.MockTransport(handler)) as client:
        discovery = fetch_discovery("https://client.example.test/hosting/discovery", 5.0, now=42.0, client=client)
    assert (discovery.fetched_at, discovery.action_count()) == (42.0, 15)
