"""Helpers every storage backend shares: the hashing reader, content streams, file ids and name order."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime

import pytest

from wopi_core.errors import FileNotFound, FileTooLarge
from wopi_core.models import FileInfo
from wopi_core.storage.base import ContentStream, HashingReader, check_file_id, new_file_id, sorted_by_name


class Source:
    """A readable that records whether it was closed."""

    def __init__(self, data: bytes, fail: bool = False) -> None:
        self._stream = io.BytesIO(data)
        self._fail = fail
        self.close_calls = 0

    def read(self, size: int) -> bytes:
        if self._fail:
            raise OSError("read failed")
        return self._stream.read(size)

    def close(self) -> None:
        self.close_calls += 1


def file_info(name: str, file_id: str) -> FileInfo:
    return FileInfo(file_id, name, "owner", 0, "", "1", datetime(2026, 1, 1, tzinfo=UTC), "owner")


def test_hashing_reader_counts_and_hashes() -> None:
    reader = HashingReader(io.BytesIO(b"hello world"), max_size=100)

    assert b"".join(reader.chunks(chunk_size=3)) == b"hello world"
    assert reader.size == 11
    assert reader.sha256 == base64.b64encode(hashlib.sha256(b"hello world").digest()).decode()


def test_hashing_reader_over_limit_raises() -> None:
    reader = HashingReader(io.BytesIO(b"x" * 11), max_size=10)

    with pytest.raises(FileTooLarge):
        b"".join(reader.chunks(chunk_size=4))


def test_content_stream_yields_chunks_then_closes() -> None:
    source = Source(b"abcdefg")
    stream = ContentStream(source.read, source.close, chunk_size=3)

    assert list(stream) == [b"abc", b"def", b"g"]
    assert source.close_calls == 1
    assert stream.closed


def test_content_stream_close_before_first_chunk() -> None:
    source = Source(b"abc")
    stream = ContentStream(source.read, source.close)

    stream.close()
    stream.close()

    assert source.close_calls == 1
    assert list(stream) == []


def test_content_stream_read_error_closes_and_propagates() -> None:
    source = Source(b"abc", fail=True)
    stream = ContentStream(source.read, source.close)

    with pytest.raises(OSError, match="read failed"):
        next(stream)

    assert source.close_calls == 1


def test_new_file_id_passes_check() -> None:
    file_id = new_file_id()

    check_file_id(file_id)
    assert len(file_id) == 32


@pytest.mark.parametrize("file_id", ["", "../x", "ABC", "12 34", "files/ab", "ab\x00"])
def test_check_file_id_rejects_non_hex(file_id: str) -> None:
    with pytest.raises(FileNotFound):
        check_file_id(file_id)


def test_sorted_by_name_order() -> None:
    files = [file_info("b.docx", "2"), file_info("B.docx", "1"), file_info("a.docx", "3"), file_info("b.docx", "0")]

    ordered = [(info.name, info.file_id) for info in sorted_by_name(files)]

    assert ordered == [("a.docx", "3"), ("B.docx", "1"), ("b.docx", "0"), ("b.docx", "2")]
