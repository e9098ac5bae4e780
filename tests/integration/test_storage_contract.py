"""The storage contract: every backend passes the same tests, on a real filesystem and a real S3 API server."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from typing import Protocol, runtime_checkable

import pytest

from wopi_core.errors import Conflict, FileNotFound, FileTooLarge, InvalidFileName
from wopi_core.storage.base import StorageBackend

LIMIT = 64 * 1024 * 1024
OWNER = "owner-1"
UNICODE_NAME = "Präsentation Entwurf – 東京 🚀.pptx"
UNKNOWN_ID = "0123456789abcdef0123456789abcdef"


@runtime_checkable
class Closable(Protocol):
    def close(self) -> None: ...


class FailingReader:
    """A source that returns its data in small reads and raises OSError once fail_after bytes are out."""

    def __init__(self, data: bytes, fail_after: int) -> None:
        self._data = data
        self._fail_after = fail_after
        self._position = 0

    def read(self, size: int = -1, /) -> bytes:
        if self._position >= self._fail_after:
            raise OSError("connection reset by peer")
        end = min(self._fail_after, len(self._data) if size < 0 else self._position + size)
        chunk = self._data[self._position : end]
        self._position = end
        return chunk


def sha256_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def read_content(storage: StorageBackend, file_id: str, version: str | None = None) -> bytes:
    _info, chunks = storage.open_content(file_id, version)
    return b"".join(chunks)


def create(storage: StorageBackend, data: bytes, name: str = "report.docx") -> str:
    return storage.create_file(name, OWNER, io.BytesIO(data), max_size=LIMIT).file_id


def write(storage: StorageBackend, file_id: str, data: bytes, author: str = "editor-1") -> str:
    return storage.write(file_id, io.BytesIO(data), modified_by=author, max_size=LIMIT).version


def test_check_passes_on_reachable_backend(storage: StorageBackend) -> None:
    storage.check()


def test_create_file_stat_round_trip(storage: StorageBackend) -> None:
    created = storage.create_file("report.docx", OWNER, io.BytesIO(b"hello"), max_size=LIMIT)

    info = storage.stat(created.file_id)

    assert info == created
    assert info.name == "report.docx"
    assert info.owner_id == OWNER
    assert info.modified_by == OWNER
    assert info.size == 5
    assert info.sha256 == sha256_base64(b"hello")
    assert info.modified_at.tzinfo is not None
    assert read_content(storage, created.file_id) == b"hello"


def test_create_file_gives_distinct_ids(storage: StorageBackend) -> None:
    first = create(storage, b"one")
    second = create(storage, b"one")

    assert first != second


def test_write_visible_at_once(storage: StorageBackend) -> None:
    file_id = create(storage, b"first")
    before = storage.stat(file_id)

    written = storage.write(file_id, io.BytesIO(b"second, longer"), modified_by="editor-1", max_size=LIMIT)
    after = storage.stat(file_id)
    opened, chunks = storage.open_content(file_id)

    assert written.version != before.version
    assert after.version == written.version
    assert after.size == len(b"second, longer")
    assert after.sha256 == sha256_base64(b"second, longer")
    assert after.modified_by == "editor-1"
    assert after.owner_id == OWNER
    assert after.name == before.name
    assert opened.version == written.version
    assert b"".join(chunks) == b"second, longer"


def test_write_versions_never_repeat_when_content_reverts(storage: StorageBackend) -> None:
    file_id = create(storage, b"A")
    versions = [storage.stat(file_id).version]

    for data in (b"B", b"A", b"B", b"A"):
        versions.append(write(storage, file_id, data))

    assert len(set(versions)) == len(versions)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"hello world", id="ascii"),
        pytest.param(bytes(range(256)) * 17, id="binary"),
    ],
)
def test_sha256_is_base64_of_digest(storage: StorageBackend, data: bytes) -> None:
    file_id = create(storage, data)

    assert storage.stat(file_id).sha256 == sha256_base64(data)
    assert storage.list_versions(file_id)[0].sha256 == sha256_base64(data)


def test_open_content_old_version_returns_old_bytes(storage: StorageBackend) -> None:
    file_id = create(storage, b"version one")
    first = storage.stat(file_id).version
    write(storage, file_id, b"version two")

    info, chunks = storage.open_content(file_id, first)

    assert b"".join(chunks) == b"version one"
    assert info.version == first
    assert info.size == len(b"version one")
    assert info.sha256 == sha256_base64(b"version one")
    assert read_content(storage, file_id) == b"version two"


@pytest.mark.parametrize("version", ["999", "not-a-version", "../1", ""])
def test_open_content_unknown_version_raises_not_found(storage: StorageBackend, version: str) -> None:
    file_id = create(storage, b"content")

    with pytest.raises(FileNotFound):
        storage.open_content(file_id, version)


def test_open_content_closed_early_leaves_backend_usable(storage: StorageBackend) -> None:
    data = os.urandom(3 * 1024 * 1024)
    file_id = create(storage, data)

    for _ in range(12):
        _info, chunks = storage.open_content(file_id)
        next(chunks)
        assert isinstance(chunks, Closable)
        chunks.close()
        _info, unstarted = storage.open_content(file_id)
        assert isinstance(unstarted, Closable)
        unstarted.close()

    assert read_content(storage, file_id) == data


def test_write_failing_source_keeps_current_version(storage: StorageBackend) -> None:
    file_id = create(storage, b"good content")
    before = storage.stat(file_id)

    with pytest.raises(OSError, match="connection reset"):
        storage.write(file_id, FailingReader(b"x" * 100_000, 50_000), modified_by="editor-1", max_size=LIMIT)

    assert storage.stat(file_id) == before
    assert read_content(storage, file_id) == b"good content"
    assert len(storage.list_versions(file_id)) == 1


def test_create_file_failing_source_stores_nothing(storage: StorageBackend) -> None:
    with pytest.raises(OSError, match="connection reset"):
        storage.create_file("cut.docx", OWNER, FailingReader(b"x" * 100_000, 10), max_size=LIMIT)

    assert storage.list_files() == []


def test_write_over_max_size_raises_and_changes_nothing(storage: StorageBackend) -> None:
    file_id = create(storage, b"small")
    before = storage.stat(file_id)

    with pytest.raises(FileTooLarge):
        storage.write(file_id, io.BytesIO(b"y" * 101), modified_by="editor-1", max_size=100)

    assert storage.stat(file_id) == before
    assert read_content(storage, file_id) == b"small"
    assert len(storage.list_versions(file_id)) == 1


def test_write_at_exact_max_size_succeeds(storage: StorageBackend) -> None:
    file_id = create(storage, b"small")

    info = storage.write(file_id, io.BytesIO(b"y" * 100), modified_by="editor-1", max_size=100)

    assert info.size == 100


def test_create_file_over_max_size_stores_nothing(storage: StorageBackend) -> None:
    with pytest.raises(FileTooLarge):
        storage.create_file("big.docx", OWNER, io.BytesIO(b"z" * 11), max_size=10)

    assert storage.list_files() == []


@pytest.mark.parametrize("file_id", [UNKNOWN_ID, "../x", "", "ABCDEF", "files/x"])
@pytest.mark.parametrize("operation", ["stat", "open_content", "write", "delete", "rename", "list_versions"])
def test_unknown_file_id_raises_not_found(storage: StorageBackend, operation: str, file_id: str) -> None:
    create(storage, b"an unrelated file")

    with pytest.raises(FileNotFound):
        if operation == "stat":
            storage.stat(file_id)
        elif operation == "open_content":
            storage.open_content(file_id)
        elif operation == "write":
            storage.write(file_id, io.BytesIO(b"data"), modified_by="editor-1", max_size=LIMIT)
        elif operation == "delete":
            storage.delete(file_id)
        elif operation == "rename":
            storage.rename(file_id, "new.docx")
        else:
            storage.list_versions(file_id)


def test_write_unknown_file_id_creates_nothing(storage: StorageBackend) -> None:
    with pytest.raises(FileNotFound):
        storage.write(UNKNOWN_ID, io.BytesIO(b"data"), modified_by="editor-1", max_size=LIMIT)

    assert storage.list_files() == []


def test_rename_keeps_id_and_content(storage: StorageBackend) -> None:
    file_id = create(storage, b"the content", name="old.docx")
    before = storage.stat(file_id)

    renamed = storage.rename(file_id, "new name.docx")
    after = storage.stat(file_id)

    assert renamed.file_id == file_id
    assert after.name == "new name.docx"
    assert renamed.version == after.version
    assert after.sha256 == before.sha256
    assert after.size == before.size
    assert after.owner_id == before.owner_id
    assert after.modified_by == before.modified_by
    assert read_content(storage, file_id) == b"the content"


def test_rename_then_write_keeps_new_name(storage: StorageBackend) -> None:
    file_id = create(storage, b"one", name="old.docx")
    storage.rename(file_id, "new.docx")

    write(storage, file_id, b"two")

    assert storage.stat(file_id).name == "new.docx"


@pytest.mark.parametrize("name", ["a/b.docx", "a\\b.docx", "", "   ", ".hidden", "x:y.docx", "tab\t.docx", "a" * 256])
def test_rename_to_forbidden_name_raises_invalid_file_name(storage: StorageBackend, name: str) -> None:
    file_id = create(storage, b"content", name="keep.docx")

    with pytest.raises(InvalidFileName):
        storage.rename(file_id, name)

    assert storage.stat(file_id).name == "keep.docx"


def test_create_file_forbidden_name_stores_nothing(storage: StorageBackend) -> None:
    with pytest.raises(InvalidFileName):
        storage.create_file("a|b.docx", OWNER, io.BytesIO(b"content"), max_size=LIMIT)

    assert storage.list_files() == []


def test_delete_removes_file(storage: StorageBackend) -> None:
    kept = create(storage, b"kept", name="kept.docx")
    file_id = create(storage, b"gone", name="gone.docx")
    write(storage, file_id, b"gone again")

    storage.delete(file_id)

    with pytest.raises(FileNotFound):
        storage.stat(file_id)
    with pytest.raises(FileNotFound):
        storage.open_content(file_id)
    with pytest.raises(FileNotFound):
        storage.list_versions(file_id)
    with pytest.raises(FileNotFound):
        storage.delete(file_id)
    assert [info.file_id for info in storage.list_files()] == [kept]


def test_list_files_sorted_by_name(storage: StorageBackend) -> None:
    for name in ("delta.docx", "Bravo.xlsx", "alpha.pptx", "charlie.docx"):
        create(storage, name.encode(), name=name)

    names = [info.name for info in storage.list_files()]

    assert names == ["alpha.pptx", "Bravo.xlsx", "charlie.docx", "delta.docx"]


def test_list_files_returns_current_state(storage: StorageBackend) -> None:
    file_id = create(storage, b"one")
    write(storage, file_id, b"two, newer")

    [listed] = storage.list_files()

    assert listed == storage.stat(file_id)


def test_list_versions_oldest_first(storage: StorageBackend) -> None:
    file_id = storage.create_file("history.docx", OWNER, io.BytesIO(b"1"), max_size=LIMIT).file_id
    write(storage, file_id, b"22", author="editor-a")
    write(storage, file_id, b"333", author="editor-b")

    versions = storage.list_versions(file_id)

    assert [v.size for v in versions] == [1, 2, 3]
    assert [v.modified_by for v in versions] == [OWNER, "editor-a", "editor-b"]
    assert [v.sha256 for v in versions] == [sha256_base64(b"1"), sha256_base64(b"22"), sha256_base64(b"333")]
    assert versions[-1].version == storage.stat(file_id).version
    assert all(v.file_id == file_id for v in versions)
    assert versions[0].modified_at <= versions[1].modified_at <= versions[2].modified_at


def test_list_versions_ids_open_their_content(storage: StorageBackend) -> None:
    file_id = create(storage, b"first")
    write(storage, file_id, b"second")

    contents = [read_content(storage, file_id, v.version) for v in storage.list_versions(file_id)]

    assert contents == [b"first", b"second"]


def test_delete_version_removes_old_version_from_listing(storage: StorageBackend) -> None:
    file_id = create(storage, b"first")
    old = storage.list_versions(file_id)[0].version
    second = write(storage, file_id, b"second")
    third = write(storage, file_id, b"third")

    storage.delete_version(file_id, old)

    assert [v.version for v in storage.list_versions(file_id)] == [second, third]


def test_delete_version_makes_its_content_unreadable(storage: StorageBackend) -> None:
    file_id = create(storage, b"first")
    old = storage.list_versions(file_id)[0].version
    write(storage, file_id, b"second")

    storage.delete_version(file_id, old)

    with pytest.raises(FileNotFound):
        storage.open_content(file_id, old)


def test_delete_version_keeps_current_and_other_versions_readable(storage: StorageBackend) -> None:
    file_id = create(storage, b"first")
    old = storage.list_versions(file_id)[0].version
    second = write(storage, file_id, b"second")
    write(storage, file_id, b"third")

    storage.delete_version(file_id, old)

    assert read_content(storage, file_id) == b"third"
    assert read_content(storage, file_id, second) == b"second"


def test_delete_version_refuses_current_version(storage: StorageBackend) -> None:
    file_id = create(storage, b"first")
    current = write(storage, file_id, b"second")

    with pytest.raises(Conflict):
        storage.delete_version(file_id, current)

    assert storage.stat(file_id).version == current
    assert read_content(storage, file_id, current) == b"second"


def test_delete_version_twice_raises_not_found(storage: StorageBackend) -> None:
    file_id = create(storage, b"first")
    old = storage.list_versions(file_id)[0].version
    write(storage, file_id, b"second")
    storage.delete_version(file_id, old)

    with pytest.raises(FileNotFound):
        storage.delete_version(file_id, old)


@pytest.mark.parametrize("version", ["999", "not-a-version", "../1", ""])
def test_delete_version_unknown_version_raises_not_found(storage: StorageBackend, version: str) -> None:
    file_id = create(storage, b"first")
    write(storage, file_id, b"second")

    with pytest.raises(FileNotFound):
        storage.delete_version(file_id, version)

    assert len(storage.list_versions(file_id)) == 2


@pytest.mark.parametrize("file_id", [UNKNOWN_ID, "../x", "", "ABCDEF", "files/x"])
def test_delete_version_unknown_file_raises_not_found(storage: StorageBackend, file_id: str) -> None:
    known = create(storage, b"an unrelated file")
    version = storage.stat(known).version

    with pytest.raises(FileNotFound):
        storage.delete_version(file_id, version)


def test_delete_version_of_deleted_file_raises_not_found(storage: StorageBackend) -> None:
    file_id = create(storage, b"first")
    old = storage.list_versions(file_id)[0].version
    write(storage, file_id, b"second")
    storage.delete(file_id)

    with pytest.raises(FileNotFound):
        storage.delete_version(file_id, old)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(UNICODE_NAME, id="japanese-emoji"),
        pytest.param("Résumé – 日本語 🚀.docx", id="accents"),
        pytest.param("100% sure %41 + more.docx", id="percent-signs"),
        pytest.param("trailing space .docx ", id="trailing-space"),
        pytest.param("東" * 255, id="max-length-cjk"),
    ],
)
def test_non_ascii_names_survive_stat_and_list_files(storage: StorageBackend, name: str) -> None:
    file_id = create(storage, b"content", name=name)

    assert storage.stat(file_id).name == name
    assert [info.name for info in storage.list_files()] == [name]
    assert storage.list_versions(file_id)[0].size == len(b"content")


def test_rename_to_unicode_name_survives(storage: StorageBackend) -> None:
    file_id = create(storage, b"content", name="plain.pptx")

    storage.rename(file_id, UNICODE_NAME)

    assert storage.stat(file_id).name == UNICODE_NAME
    assert [info.name for info in storage.list_files()] == [UNICODE_NAME]


def test_unicode_modifier_and_owner_survive(storage: StorageBackend) -> None:
    file_id = storage.create_file("a.docx", "Jürgen 山田", io.BytesIO(b"1"), max_size=LIMIT).file_id

    storage.write(file_id, io.BytesIO(b"2"), modified_by="Zoë ✏️", max_size=LIMIT)
    info = storage.stat(file_id)

    assert info.owner_id == "Jürgen 山田"
    assert info.modified_by == "Zoë ✏️"


def test_zero_byte_file_round_trip(storage: StorageBackend) -> None:
    file_id = create(storage, b"", name="empty.docx")

    info = storage.stat(file_id)

    assert info.size == 0
    assert read_content(storage, file_id) == b""
    assert write(storage, file_id, b"") != info.version
    assert storage.stat(file_id).size == 0


def test_large_file_round_trip(storage: StorageBackend) -> None:
    data = os.urandom(12 * 1024 * 1024 + 17)
    file_id = create(storage, data, name="large.bin")

    digest = hashlib.sha256()
    size = 0
    _info, chunks = storage.open_content(file_id)
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)

    assert size == len(data)
    assert base64.b64encode(digest.digest()).decode("ascii") == sha256_base64(data)
    assert storage.stat(file_id).sha256 == sha256_base64(data)
    assert storage.stat(file_id).size == len(data)
