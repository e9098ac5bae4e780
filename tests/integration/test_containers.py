"""Container and ecosystem operations, and the Collabora Online PutFile timestamp check, through the app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
import redis

from tests.conftest import SettingsFactory
from tests.integration.wopi_client import WopiClient, wopi_client
from wopi_core.names import encode_utf7


@pytest.fixture
def client(settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis) -> Iterator[WopiClient]:
    with wopi_client(settings_factory(WOPI_REDIS_URL=redis_url)) as wopi:
        yield wopi


def call(client: WopiClient, url: str, suffix: str = "", method: str = "GET", **headers: str) -> httpx.Response:
    """Call a token-bearing URL from a WOPI response, with a path suffix such as /children."""
    parts = urlsplit(url)
    params = {key: values[0] for key, values in parse_qs(parts.query).items()}
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return client.http.request(method, parts.path + suffix, params=params, headers=named)


def root_url(client: WopiClient, file_id: str) -> str:
    response = client.http.get(f"/wopi/files/{file_id}/ancestry", params={"access_token": client.token(file_id)})
    url: str = response.json()["AncestorsWithRootFirst"][0]["Url"]
    return url


def create_child(client: WopiClient, parent_url: str, override: str, **headers: str) -> httpx.Response:
    return call(client, parent_url, method="POST", X_WOPI_Override=override, **headers)


def test_file_ancestry_lists_root_with_token(client: WopiClient) -> None:
    file_id = client.add_file()
    url = root_url(client, file_id)
    assert "access_token=" in url
    assert call(client, url).json()["Name"]


def test_root_container_has_no_ancestors(client: WopiClient) -> None:
    url = root_url(client, client.add_file())
    assert call(client, url, "/ancestry").json() == {"AncestorsWithRootFirst": []}


def test_enumerate_children_filters_files_by_extension(client: WopiClient) -> None:
    file_id = client.add_file("a.DOCX")
    client.add_file("b.xlsx")
    url = root_url(client, file_id)
    create_child(client, url, "CREATE_CHILD_CONTAINER", X_WOPI_RelativeTarget="Folder")
    body: dict[str, Any] = call(client, url, "/children", X_WOPI_FileExtensionFilterList=".docx,.pptx").json()
    assert [entry["Name"] for entry in body["ChildFiles"]] == ["a.DOCX"]
    assert [entry["Name"] for entry in body["ChildContainers"]] == ["Folder"]


def test_create_child_file_makes_empty_file(client: WopiClient) -> None:
    url = root_url(client, client.add_file())
    response = create_child(client, url, "CREATE_CHILD_FILE", X_WOPI_SuggestedTarget="new.docx")
    assert response.status_code == 200
    new = call(client, response.json()["Url"]).json()
    assert new["Size"] == 0
    assert new["BaseFileName"] == "new.docx"


def test_create_child_file_exact_taken_name_returns_409(client: WopiClient) -> None:
    url = root_url(client, client.add_file("taken.docx"))
    response = create_child(client, url, "CREATE_CHILD_FILE", X_WOPI_RelativeTarget="taken.docx")
    assert response.status_code == 409
    assert response.headers["X-WOPI-ValidRelativeTarget"]


def test_create_child_file_both_headers_returns_501(client: WopiClient) -> None:
    url = root_url(client, client.add_file())
    response = create_child(
        client, url, "CREATE_CHILD_FILE", X_WOPI_RelativeTarget="a.docx", X_WOPI_SuggestedTarget="b.docx"
    )
    assert response.status_code == 501


def test_create_child_file_invalid_name_returns_400_with_reason(client: WopiClient) -> None:
    url = root_url(client, client.add_file())
    response = create_child(client, url, "CREATE_CHILD_FILE", X_WOPI_RelativeTarget="a?b.docx")
    assert response.status_code == 400
    assert response.headers["X-WOPI-InvalidFileNameError"]


def test_child_container_rename_ancestry_and_delete(client: WopiClient) -> None:
    url = root_url(client, client.add_file())
    created = create_child(client, url, "CREATE_CHILD_CONTAINER", X_WOPI_SuggestedTarget=encode_utf7("フォルダ"))
    folder_url = created.json()["ContainerPointer"]["Url"]
    renamed = call(client, folder_url, method="POST", X_WOPI_Override="RENAME_CONTAINER", X_WOPI_RequestedName="Neu")
    assert renamed.json() == {"Name": "Neu"}
    assert len(call(client, folder_url, "/ancestry").json()["AncestorsWithRootFirst"]) == 1
    assert call(client, folder_url, method="POST", X_WOPI_Override="DELETE_CONTAINER").status_code == 200
    assert call(client, folder_url).status_code == 404


def test_delete_non_empty_container_returns_409(client: WopiClient) -> None:
    url = root_url(client, client.add_file())
    folder_url = create_child(client, url, "CREATE_CHILD_CONTAINER", X_WOPI_RelativeTarget="F").json()[
        "ContainerPointer"
    ]["Url"]
    create_child(client, folder_url, "CREATE_CHILD_FILE", X_WOPI_RelativeTarget="x.docx")
    assert call(client, folder_url, method="POST", X_WOPI_Override="DELETE_CONTAINER").status_code == 409


def test_create_child_container_exact_taken_name_returns_409(client: WopiClient) -> None:
    url = root_url(client, client.add_file())
    create_child(client, url, "CREATE_CHILD_CONTAINER", X_WOPI_RelativeTarget="Same")
    assert create_child(client, url, "CREATE_CHILD_CONTAINER", X_WOPI_RelativeTarget="same").status_code == 409


def test_ecosystem_root_container_pointer(client: WopiClient) -> None:
    file_id = client.add_file()
    ecosystem = client.http.get(
        f"/wopi/files/{file_id}/ecosystem_pointer", params={"access_token": client.token(file_id)}
    )
    ecosystem_url = ecosystem.json()["Url"]
    assert call(client, ecosystem_url).json()["SupportsContainers"] is True
    pointer = call(client, ecosystem_url, "/root_container_pointer").json()["ContainerPointer"]
    assert call(client, pointer["Url"]).status_code == 200


def test_file_token_is_refused_on_container(client: WopiClient) -> None:
    file_id = client.add_file()
    response = client.http.get("/wopi/containers/root", params={"access_token": client.token(file_id)})
    assert response.status_code == 401


def test_get_file_wopi_src_answers_501(client: WopiClient) -> None:
    file_id = client.add_file()
    ecosystem = client.http.get(
        f"/wopi/files/{file_id}/ecosystem_pointer", params={"access_token": client.token(file_id)}
    )
    response = call(client, ecosystem.json()["Url"], method="POST", X_WOPI_Override="GET_WOPI_SRC_WITH_ACCESS_TOKEN")
    assert response.status_code == 501


def test_cool_put_file_with_stale_timestamp_returns_1010(client: WopiClient) -> None:
    file_id = client.add_file(content=b"")
    assert client.lock(file_id, "L").status_code == 200
    response = client.put_file(file_id, b"new", X_WOPI_Lock="L", X_COOL_WOPI_Timestamp="2001-01-01T00:00:00.0000000Z")
    assert response.status_code == 409
    assert response.json() == {"COOLStatusCode": 1010}
    assert client.get_file(file_id).content == b""


def test_cool_put_file_after_own_save_is_never_a_conflict(client: WopiClient) -> None:
    file_id = client.add_file(content=b"")
    assert client.lock(file_id, "L").status_code == 200
    stamp = client.check_file_info(file_id).json()["LastModifiedTime"]
    for body in (b"first", b"second", b"third"):
        response = client.put_file(file_id, body, X_WOPI_Lock="L", X_COOL_WOPI_Timestamp=stamp)
        assert response.status_code == 200, response.text
        stamp = response.json()["LastModifiedTime"]
    assert client.get_file(file_id).content == b"third"


def test_cool_put_file_without_timestamp_overwrites(client: WopiClient) -> None:
    file_id = client.add_file(content=b"")
    assert client.lock(file_id, "L").status_code == 200
    assert client.put_file(file_id, b"forced", X_WOPI_Lock="L").status_code == 200
