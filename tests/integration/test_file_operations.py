"""PutRelativeFile, RenameFile, DeleteFile, PutUserInfo and GetShareUrl through the app, on both storage backends."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from tests.conftest import SettingsFactory
from tests.integration.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from tests.integration.wopi_client import WopiClient, wopi_client
from wopi_core.models import Permission
from wopi_core.names import encode_utf7
from wopi_core.tokens import verify_token

JAPANESE = "報告書 最終版 🚀.docx"


@pytest.fixture(params=["local", "s3"])
def client(
    request: pytest.FixtureRequest, settings_factory: SettingsFactory, redis_url: str, redis_client: redis.Redis
) -> Iterator[WopiClient]:
    environ = {"WOPI_REDIS_URL": redis_url}
    if request.param == "s3":
        environ |= {
            "WOPI_S3_ENDPOINT": request.getfixturevalue("s3_endpoint"),
            "WOPI_S3_ACCESS_KEY": S3_ACCESS_KEY,
            "WOPI_S3_SECRET_KEY": S3_SECRET_KEY,
            "WOPI_S3_BUCKET": request.getfixturevalue("s3_bucket"),
        }
    with wopi_client(settings_factory(**environ)) as wopi:
        yield wopi


def names_in_root(client: WopiClient, file_id: str) -> list[str]:
    ancestors = client.http.get(f"/wopi/files/{file_id}/ancestry", params={"access_token": client.token(file_id)})
    root_url = ancestors.json()["AncestorsWithRootFirst"][-1]["Url"]
    children = client.http.get(urlsplit(root_url).path + "/children", params=parse_qs(urlsplit(root_url).query))
    return [entry["Name"] for entry in children.json()["ChildFiles"]]


def put_relative(client: WopiClient, file_id: str, body: bytes = b"copy", **headers: str) -> object:
    return client.http.post(
        f"/wopi/files/{file_id}",
        params={"access_token": client.token(file_id)},
        headers={"X-WOPI-Override": "PUT_RELATIVE", **{k.replace("_", "-"): v for k, v in headers.items()}},
        content=body,
    )


def test_put_relative_suggested_extension(client: WopiClient) -> None:
    source = client.add_file("report.docx")
    client.add_file("report (2).docx")
    response = put_relative(client, source, X_WOPI_SuggestedTarget=".docx")
    assert response.status_code == 200  # type: ignore[attr-defined]
    name = response.json()["Name"]  # type: ignore[attr-defined]
    assert name.startswith("report")
    assert name.endswith(".docx")
    assert name not in ("report.docx", "report (2).docx")
    assert names_in_root(client, source).count(name) == 1


def test_put_relative_taken_name_409(client: WopiClient) -> None:
    source = client.add_file("report.docx")
    client.add_file("taken.docx", content=b"keep me")
    response = put_relative(client, source, X_WOPI_RelativeTarget="taken.docx")
    assert response.status_code == 409  # type: ignore[attr-defined]
    alternative = response.headers["X-WOPI-ValidRelativeTarget"]  # type: ignore[attr-defined]
    decoded = alternative.encode("latin-1").decode("utf-7")
    assert decoded.endswith(".docx")
    assert decoded.casefold() not in [name.casefold() for name in names_in_root(client, source)]


def test_put_relative_exact_taken_name_keeps_existing_content(client: WopiClient) -> None:
    source = client.add_file("report.docx")
    taken = client.add_file("taken.docx", content=b"keep me")
    put_relative(client, source, X_WOPI_RelativeTarget="taken.docx", X_WOPI_OverwriteRelativeTarget="False")
    assert client.get_file(taken).content == b"keep me"


def test_put_relative_locked_target_409(client: WopiClient) -> None:
    source = client.add_file("report.docx")
    taken = client.add_file("taken.docx")
    assert client.lock(taken, "target-lock").status_code == 200
    response = put_relative(client, source, X_WOPI_RelativeTarget="taken.docx", X_WOPI_OverwriteRelativeTarget="true")
    assert response.status_code == 409  # type: ignore[attr-defined]
    assert response.headers["X-WOPI-Lock"] == "target-lock"  # type: ignore[attr-defined]


def test_put_relative_utf7_name_stored(client: WopiClient) -> None:
    source = client.add_file("report.docx")
    response = put_relative(client, source, X_WOPI_RelativeTarget=encode_utf7(JAPANESE))
    assert response.status_code == 200  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["Name"] == JAPANESE
    new_id = urlsplit(body["Url"]).path.rsplit("/", 1)[-1]
    info = client.check_file_info(new_id).json()
    assert info["BaseFileName"] == JAPANESE
    assert info["BreadcrumbDocName"] == JAPANESE
    assert JAPANESE in names_in_root(client, source)


def test_put_relative_token_expiry_capped(client: WopiClient) -> None:
    source = client.add_file("report.docx")
    token = client.token(source)
    response = client.http.post(
        f"/wopi/files/{source}",
        params={"access_token": token},
        headers={"X-WOPI-Override": "PUT_RELATIVE", "X-WOPI-SuggestedTarget": "copy.docx"},
        content=b"x",
    )
    new_token = parse_qs(urlsplit(response.json()["Url"]).query)["access_token"][0]
    original = verify_token(client.settings, token, source)
    minted = verify_token(client.settings, new_token, None)
    assert minted.expires_at <= original.expires_at
    assert {"HostViewUrl", "HostEditUrl"} <= set(response.json())


def test_put_relative_both_target_headers_returns_400(client: WopiClient) -> None:
    source = client.add_file("report.docx")
    response = put_relative(client, source, X_WOPI_RelativeTarget="a.docx", X_WOPI_SuggestedTarget=".docx")
    assert response.status_code == 400  # type: ignore[attr-defined]


def test_put_relative_size_mismatch_400(client: WopiClient) -> None:
    source = client.add_file("report.docx")
    response = put_relative(client, source, b"four", X_WOPI_RelativeTarget="sized.docx", X_WOPI_Size="10")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "sized.docx" not in names_in_root(client, source)


def test_put_relative_exact_invalid_name_returns_400(client: WopiClient) -> None:
    source = client.add_file("report.docx")
    response = put_relative(client, source, X_WOPI_RelativeTarget="a:b.docx")
    assert response.status_code == 400  # type: ignore[attr-defined]


def test_rename_file_forbidden_character_returns_400_with_reason(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    response = client.override(file_id, "RENAME_FILE", X_WOPI_RequestedName="bad|name")
    assert response.status_code == 400
    assert response.headers["X-WOPI-InvalidFileNameError"]
    assert client.check_file_info(file_id).json()["BaseFileName"] == "report.docx"


def test_rename_locked_by_other_409(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    assert client.lock(file_id, "lock-A").status_code == 200
    response = client.override(file_id, "RENAME_FILE", X_WOPI_RequestedName="new", X_WOPI_Lock="lock-B")
    assert response.status_code == 409
    assert response.headers["X-WOPI-Lock"] == "lock-A"


def test_rename_file_keeps_extension_and_decodes_utf7(client: WopiClient) -> None:
    file_id = client.add_file("report.docx")
    response = client.override(file_id, "RENAME_FILE", X_WOPI_RequestedName=encode_utf7("東京 📄"))
    assert response.status_code == 200
    assert response.json() == {"Name": "東京 📄"}
    assert client.check_file_info(file_id).json()["BaseFileName"] == "東京 📄.docx"


def test_rename_file_to_taken_name_picks_free_variant(client: WopiClient) -> None:
    client.add_file("taken.docx")
    file_id = client.add_file("mine.docx")
    response = client.override(file_id, "RENAME_FILE", X_WOPI_RequestedName="taken")
    assert response.status_code == 200
    assert response.json()["Name"] not in ("taken", "mine")


def test_delete_file_locked_returns_409_then_unlocked_deletes(client: WopiClient) -> None:
    file_id = client.add_file()
    assert client.lock(file_id, "L").status_code == 200
    locked = client.override(file_id, "DELETE")
    assert locked.status_code == 409
    assert locked.headers["X-WOPI-Lock"] == "L"
    assert client.override(file_id, "UNLOCK", X_WOPI_Lock="L").status_code == 200
    assert client.override(file_id, "DELETE").status_code == 200
    assert client.check_file_info(file_id).status_code == 404


def test_put_user_info_round_trip(client: WopiClient) -> None:
    first = client.add_file("a.docx")
    second = client.add_file("b.docx")
    response = client.http.post(
        f"/wopi/files/{first}",
        params={"access_token": client.token(first)},
        headers={"X-WOPI-Override": "PUT_USER_INFO"},
        content="theme=dark; 東京".encode(),
    )
    assert response.status_code == 200
    assert client.check_file_info(second).json()["UserInfo"] == "theme=dark; 東京"


def test_get_share_url_read_only(client: WopiClient) -> None:
    file_id = client.add_file()
    response = client.override(file_id, "GET_SHARE_URL", X_WOPI_UrlType="ReadOnly")
    assert response.status_code == 200
    assert response.json()["ShareUrl"].startswith(client.settings.base_url + "/host/files/")


@pytest.mark.parametrize("url_type", ["", "Unknown", "ReadWrite"])
def test_get_share_url_unsupported_501(client: WopiClient, url_type: str) -> None:
    file_id = client.add_file()
    token = client.token(file_id, Permission.VIEW)
    response = client.override(file_id, "GET_SHARE_URL", token=token, X_WOPI_UrlType=url_type)
    assert response.status_code == 501


def test_check_file_info_advertises_implemented_operations(client: WopiClient) -> None:
    file_id = client.add_file()
    body = client.check_file_info(file_id).json()
    for flag in ("SupportsRename", "SupportsDeleteFile", "SupportsUserInfo", "SupportsContainers", "UserCanRename"):
        assert body[flag] is True, flag
    assert body["UserCanNotWriteRelative"] is False
    assert body["SupportedShareUrlTypes"] == ["ReadOnly", "ReadWrite"]
    assert body["BreadcrumbFolderName"]
