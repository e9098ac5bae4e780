"""The container part of the storage contract, for the filesystem and the S3 backend alike."""

from __future__ import annotations

import io

import pytest

from tests.integration.test_storage_contract import LIMIT, OWNER, UNKNOWN_ID
from wopi_core.errors import Conflict, ContainerNotEmpty, FileNotFound, InvalidContainerName, NameTaken
from wopi_core.models import ROOT_CONTAINER_ID
from wopi_core.storage.base import StorageBackend, container_ancestors

JAPANESE_NAME = "報告書 🚀 最終版.docx"


def add(storage: StorageBackend, name: str, container_id: str = ROOT_CONTAINER_ID, *, exclusive: bool = False) -> str:
    info = storage.create_file(
        name, OWNER, io.BytesIO(b"data"), max_size=LIMIT, container_id=container_id, exclusive=exclusive
    )
    return info.file_id


def test_root_container_exists_without_parent(storage: StorageBackend) -> None:
    root = storage.stat_container(ROOT_CONTAINER_ID)
    assert root.parent_id is None
    assert root.name


def test_create_file_defaults_to_root_container(storage: StorageBackend) -> None:
    file_id = add(storage, "a.docx")
    assert storage.stat(file_id).container_id == ROOT_CONTAINER_ID


def test_create_file_in_child_container(storage: StorageBackend) -> None:
    folder = storage.create_container("Reports", ROOT_CONTAINER_ID)
    file_id = add(storage, "inner.docx", folder.container_id)
    containers, files = storage.list_children(folder.container_id)
    _, root_files = storage.list_children(ROOT_CONTAINER_ID)
    assert containers == []
    assert [info.file_id for info in files] == [file_id]
    assert file_id not in [info.file_id for info in root_files]


def test_list_children_returns_child_containers(storage: StorageBackend) -> None:
    first = storage.create_container("B", ROOT_CONTAINER_ID)
    second = storage.create_container("a", ROOT_CONTAINER_ID)
    containers, _ = storage.list_children(ROOT_CONTAINER_ID)
    assert [info.container_id for info in containers] == [second.container_id, first.container_id]


def test_exclusive_create_file_rejects_taken_name_ignoring_case(storage: StorageBackend) -> None:
    add(storage, "Report.docx")
    with pytest.raises(NameTaken):
        add(storage, "REPORT.DOCX", exclusive=True)
    _, files = storage.list_children(ROOT_CONTAINER_ID)
    assert len(files) == 1


def test_exclusive_create_other_container(storage: StorageBackend) -> None:
    add(storage, "report.docx")
    folder = storage.create_container("Other", ROOT_CONTAINER_ID)
    file_id = add(storage, "report.docx", folder.container_id, exclusive=True)
    assert storage.stat(file_id).container_id == folder.container_id


def test_create_file_in_unknown_container_raises_not_found(storage: StorageBackend) -> None:
    with pytest.raises(FileNotFound):
        add(storage, "a.docx", UNKNOWN_ID)


def test_find_file_ignores_case(storage: StorageBackend) -> None:
    file_id = add(storage, "Mixed.Docx")
    found = storage.find_file(ROOT_CONTAINER_ID, "mixed.docx")
    assert found is not None
    assert found.file_id == file_id
    assert storage.find_file(ROOT_CONTAINER_ID, "other.docx") is None


def test_name_taken_counts_containers_and_files(storage: StorageBackend) -> None:
    storage.create_container("Folder", ROOT_CONTAINER_ID)
    add(storage, "file.docx")
    assert storage.name_taken(ROOT_CONTAINER_ID, "folder")
    assert storage.name_taken(ROOT_CONTAINER_ID, "FILE.docx")
    assert not storage.name_taken(ROOT_CONTAINER_ID, "free.docx")


def test_create_container_taken_name_raises_name_taken(storage: StorageBackend) -> None:
    storage.create_container("Dupe", ROOT_CONTAINER_ID)
    with pytest.raises(NameTaken):
        storage.create_container("dupe", ROOT_CONTAINER_ID)


@pytest.mark.parametrize("name", ["", "a/b", ".hidden", "x:y"])
def test_create_container_invalid_name_raises(storage: StorageBackend, name: str) -> None:
    with pytest.raises(InvalidContainerName):
        storage.create_container(name, ROOT_CONTAINER_ID)


def test_rename_container_keeps_id(storage: StorageBackend) -> None:
    folder = storage.create_container("Old", ROOT_CONTAINER_ID)
    renamed = storage.rename_container(folder.container_id, "New 東京")
    assert renamed.container_id == folder.container_id
    assert storage.stat_container(folder.container_id).name == "New 東京"


def test_rename_container_to_sibling_name_raises_name_taken(storage: StorageBackend) -> None:
    storage.create_container("Taken", ROOT_CONTAINER_ID)
    folder = storage.create_container("Mine", ROOT_CONTAINER_ID)
    with pytest.raises(NameTaken):
        storage.rename_container(folder.container_id, "taken")


def test_rename_root_container_changes_its_name(storage: StorageBackend) -> None:
    storage.rename_container(ROOT_CONTAINER_ID, "Everything")
    root = storage.stat_container(ROOT_CONTAINER_ID)
    assert root.name == "Everything"
    assert root.parent_id is None


def test_delete_empty_container_removes_it(storage: StorageBackend) -> None:
    folder = storage.create_container("Empty", ROOT_CONTAINER_ID)
    storage.delete_container(folder.container_id)
    with pytest.raises(FileNotFound):
        storage.stat_container(folder.container_id)


def test_delete_non_empty_container_raises(storage: StorageBackend) -> None:
    folder = storage.create_container("Full", ROOT_CONTAINER_ID)
    add(storage, "inner.docx", folder.container_id)
    with pytest.raises(ContainerNotEmpty):
        storage.delete_container(folder.container_id)


def test_delete_root_container_raises_conflict(storage: StorageBackend) -> None:
    with pytest.raises(Conflict):
        storage.delete_container(ROOT_CONTAINER_ID)


def test_container_ancestors_root_first(storage: StorageBackend) -> None:
    outer = storage.create_container("Outer", ROOT_CONTAINER_ID)
    inner = storage.create_container("Inner", outer.container_id)
    chain = container_ancestors(storage, inner.container_id)
    assert [info.container_id for info in chain] == [ROOT_CONTAINER_ID, outer.container_id]
    assert container_ancestors(storage, ROOT_CONTAINER_ID) == []


def test_exclusive_rename_taken_name(storage: StorageBackend) -> None:
    add(storage, "taken.docx")
    file_id = add(storage, "mine.docx")
    with pytest.raises(NameTaken):
        storage.rename(file_id, "Taken.docx", exclusive=True)
    assert storage.stat(file_id).name == "mine.docx"


def test_write_and_rename_keep_container(storage: StorageBackend) -> None:
    folder = storage.create_container("Keep", ROOT_CONTAINER_ID)
    file_id = add(storage, "a.docx", folder.container_id)
    storage.write(file_id, io.BytesIO(b"new"), modified_by=OWNER, max_size=LIMIT)
    storage.rename(file_id, "b.docx", exclusive=True)
    assert storage.stat(file_id).container_id == folder.container_id


def test_non_latin1_names_survive_in_containers(storage: StorageBackend) -> None:
    folder = storage.create_container("フォルダ 📁", ROOT_CONTAINER_ID)
    file_id = add(storage, JAPANESE_NAME, folder.container_id, exclusive=True)
    containers, _ = storage.list_children(ROOT_CONTAINER_ID)
    _, files = storage.list_children(folder.container_id)
    assert [info.name for info in containers] == ["フォルダ 📁"]
    assert [info.name for info in files] == [JAPANESE_NAME]
    assert storage.stat(file_id).name == JAPANESE_NAME
