"""Edge cases of the filesystem backend that only it has: paths, file handles and its on-disk layout."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from wopi_core.errors import FileNotFound, StorageUnavailable
from wopi_core.storage.base import ContentStream
from wopi_core.storage.local import HEAD, VERSIONS, LocalStorage

LIMIT = 1024 * 1024


class FailingReader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._sent = False

    def read(self, size: int = -1, /) -> bytes:
        if self._sent:
            raise OSError("connection reset by peer")
        self._sent = True
        return self._data


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


def open_paths() -> set[str]:
    """Return the paths of the files this process has open (Linux /proc)."""
    paths = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            paths.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return paths


def content_paths_open(storage: LocalStorage) -> list[str]:
    return [path for path in open_paths() if path.startswith(str(storage.root)) and path.endswith(".bin")]


@pytest.mark.parametrize("file_id", ["../x", "..", "/etc/passwd", "a/../b", "ABCDEF0123", "", " ", "g" * 32])
def test_stat_path_like_file_id_raises_not_found(storage: LocalStorage, file_id: str) -> None:
    with pytest.raises(FileNotFound):
        storage.stat(file_id)


def test_file_id_outside_root_not_found(tmp_path: Path, storage: LocalStorage) -> None:
    outside = tmp_path / "outside"
    (outside / VERSIONS).mkdir(parents=True)
    (outside / HEAD).write_text("{}")

    with pytest.raises(FileNotFound):
        storage.stat("../outside")
    with pytest.raises(FileNotFound):
        storage.delete("../outside")
    assert (outside / HEAD).exists()


@pytest.mark.parametrize("version", ["../1", "1/../1", "²", "-1", "1.0", " 1"])
def test_open_content_malformed_version_raises_not_found(storage: LocalStorage, version: str) -> None:
    file_id = storage.create_file("a.docx", "owner", io.BytesIO(b"x"), max_size=LIMIT).file_id

    with pytest.raises(FileNotFound):
        storage.open_content(file_id, version)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc to list open files")
def test_open_content_close_before_first_chunk_closes_file(storage: LocalStorage) -> None:
    file_id = storage.create_file("a.docx", "owner", io.BytesIO(b"x" * 10), max_size=LIMIT).file_id

    _info, chunks = storage.open_content(file_id)
    assert content_paths_open(storage) != []
    assert isinstance(chunks, ContentStream)
    chunks.close()

    assert content_paths_open(storage) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc to list open files")
def test_open_content_exhausted_closes_file(storage: LocalStorage) -> None:
    file_id = storage.create_file("a.docx", "owner", io.BytesIO(b"x" * 10), max_size=LIMIT).file_id

    _info, chunks = storage.open_content(file_id)
    assert b"".join(chunks) == b"x" * 10

    assert content_paths_open(storage) == []


def test_write_failing_source_leaves_no_temporary_files(storage: LocalStorage) -> None:
    file_id = storage.create_file("a.docx", "owner", io.BytesIO(b"x"), max_size=LIMIT).file_id

    with pytest.raises(OSError, match="connection reset"):
        storage.write(file_id, FailingReader(b"partial"), modified_by="editor", max_size=LIMIT)

    names = sorted(path.name for path in (storage.root / file_id / VERSIONS).iterdir())
    assert names == ["1.bin", "1.json"]


def test_create_file_failing_source_removes_folder(storage: LocalStorage) -> None:
    with pytest.raises(OSError, match="connection reset"):
        storage.create_file("a.docx", "owner", FailingReader(b"partial"), max_size=LIMIT)

    assert list(storage.root.iterdir()) == []


def test_list_files_skips_stray_entries(storage: LocalStorage) -> None:
    file_id = storage.create_file("a.docx", "owner", io.BytesIO(b"x"), max_size=LIMIT).file_id
    (storage.root / "notes.txt").write_text("not a file folder")
    (storage.root / "0123abcd").mkdir()
    (storage.root / "not-hex").mkdir()

    assert [info.file_id for info in storage.list_files()] == [file_id]


def test_versions_are_numbered_from_one(storage: LocalStorage) -> None:
    file_id = storage.create_file("a.docx", "owner", io.BytesIO(b"1"), max_size=LIMIT).file_id
    storage.write(file_id, io.BytesIO(b"2"), modified_by="editor", max_size=LIMIT)

    assert [v.version for v in storage.list_versions(file_id)] == ["1", "2"]


def test_check_missing_root_raises_storage_unavailable(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "files")
    storage.root.rmdir()

    with pytest.raises(StorageUnavailable):
        storage.check()
