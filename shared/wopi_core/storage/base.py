"""The storage protocol every backend implements, and helpers they share.

Semantics every backend keeps (the contract tests check each):
- every write creates a new version whose id never repeats for that file;
- a write that fails or is cut off leaves the current version as it was;
- SHA-256 (Base64), size, last modifier and modification time are stored with each version, so that
  ``stat`` serves CheckFileInfo without reading the content;
- content is streamed both ways and never held in memory whole;
- every file belongs to one container (folder); the root container always exists. Within a container
  no two entries, files and containers alike, share a name, compared without regard to case. Only
  ``exclusive`` creates and renames enforce that, so tools that import files keep working unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from wopi_core.errors import FileNotFound, FileTooLarge
from wopi_core.models import ROOT_CONTAINER_ID, ContainerInfo, FileInfo, VersionInfo

CHUNK_SIZE = 1024 * 1024
MAX_CONTAINER_DEPTH = 256
"""Containers nested deeper are not walked; it also stops a damaged parent chain that loops."""
FILE_ID_CHARACTERS = frozenset("0123456789abcdef")


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class StorageBackend(Protocol):
    def check(self) -> None:
        """Raise StorageUnavailable unless the backend can be reached."""
        ...

    def create_file(
        self,
        name: str,
        owner_id: str,
        source: Readable,
        *,
        max_size: int,
        container_id: str = ROOT_CONTAINER_ID,
        exclusive: bool = False,
    ) -> FileInfo:
        """Store a new file with a fresh id in a container; its first version is the content read from source.

        Raise FileNotFound for an unknown container, InvalidFileName, and with exclusive NameTaken when the
        container already contains an entry of that name.
        """
        ...

    def stat(self, file_id: str) -> FileInfo:
        """Return the current state of a file; raise FileNotFound."""
        ...

    def open_content(self, file_id: str, version: str | None = None) -> tuple[VersionInfo, Iterator[bytes]]:
        """Open the current (or the given) version and return its record and a stream of its bytes.

        Raise FileNotFound for an unknown file or version. The iterator closes the underlying stream
        when exhausted or closed.
        """
        ...

    def write(self, file_id: str, source: Readable, *, modified_by: str, max_size: int) -> FileInfo:
        """Store source as the new current version; raise FileNotFound, FileTooLarge."""
        ...

    def rename(self, file_id: str, name: str, *, exclusive: bool = False) -> FileInfo:
        """Change the file's name and return the new state; raise FileNotFound, InvalidFileName.

        With exclusive, raise NameTaken when another entry of the container has that name.

        The id and content stay the same. The version may change: S3 stores a rename as a new object
        version, while the filesystem backend keeps the version.
        """
        ...

    def delete(self, file_id: str) -> None:
        """Remove the file and its versions; raise FileNotFound."""
        ...

    def delete_version(self, file_id: str, version: str) -> None:
        """Remove one stored version of a file, never the current one.

        Raise Conflict when version is the current version, FileNotFound for an unknown file or version.
        The check and the removal are one step against saves, so a save landing meanwhile cannot make the
        removed version current.
        """
        ...

    def list_files(self) -> list[FileInfo]:
        """Return every stored file, ordered by name."""
        ...

    def list_versions(self, file_id: str) -> list[VersionInfo]:
        """Return every stored version of a file, oldest first."""
        ...

    def find_file(self, container_id: str, name: str) -> FileInfo | None:
        """Return the file of that name (any case) in the container, or None."""
        ...

    def name_taken(self, container_id: str, name: str) -> bool:
        """Tell whether a file or container of that name (any case) exists in the container."""
        ...

    def stat_container(self, container_id: str) -> ContainerInfo:
        """Return a container; the root always exists. Raise FileNotFound for an unknown id."""
        ...

    def create_container(self, name: str, parent_id: str, *, exclusive: bool = True) -> ContainerInfo:
        """Create a container under parent_id; raise FileNotFound, InvalidContainerName, NameTaken."""
        ...

    def rename_container(self, container_id: str, name: str) -> ContainerInfo:
        """Rename a container (not the root); raise FileNotFound, InvalidContainerName, NameTaken."""
        ...

    def delete_container(self, container_id: str) -> None:
        """Remove an empty container (not the root); raise FileNotFound, ContainerNotEmpty."""
        ...

    def list_children(self, container_id: str) -> tuple[list[ContainerInfo], list[FileInfo]]:
        """Return the containers and files directly inside a container, each ordered by name."""
        ...


def container_ancestors(storage: StorageBackend, container_id: str) -> list[ContainerInfo]:
    """Return the containers above container_id, root first; empty for the root. Raise FileNotFound."""
    chain: list[ContainerInfo] = []
    current = storage.stat_container(container_id)
    while current.parent_id is not None and len(chain) < MAX_CONTAINER_DEPTH:
        current = storage.stat_container(current.parent_id)
        chain.append(current)
    return list(reversed(chain))


def check_container_id(container_id: str) -> None:
    """Raise FileNotFound unless container_id is the root id or has the form of a stored id."""
    if container_id != ROOT_CONTAINER_ID:
        check_file_id(container_id)


class HashingReader:
    """Reads from a source while counting bytes, hashing them, and enforcing a size limit."""

    def __init__(self, source: Readable, max_size: int) -> None:
        self._source = source
        self._max_size = max_size
        self._digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._source.read(size)
        self.size += len(chunk)
        if self.size > self._max_size:
            raise FileTooLarge(f"the body exceeds the limit of {self._max_size} bytes")
        self._digest.update(chunk)
        return chunk

    def chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the whole source in chunks."""
        while chunk := self.read(chunk_size):
            yield chunk

    @property
    def sha256(self) -> str:
        return base64.b64encode(self._digest.digest()).decode("ascii")


class ContentStream(Iterator[bytes]):
    """Iterates over the chunks of an open stream and closes it once exhausted, on error or on close().

    A generator with try/finally would leak the stream when it is closed before its first chunk,
    because the finally clause only runs once the generator has started.
    """

    def __init__(self, read: Callable[[int], bytes], close: Callable[[], None], chunk_size: int = CHUNK_SIZE) -> None:
        self._read = read
        self._close = close
        self._chunk_size = chunk_size
        self.closed = False

    def __next__(self) -> bytes:
        if self.closed:
            raise StopIteration
        try:
            chunk = self._read(self._chunk_size)
        except BaseException:
            self.close()
            raise
        if not chunk:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        """Close the underlying stream; calling it again does nothing."""
        if not self.closed:
            self.closed = True
            self._close()


def check_file_id(file_id: str) -> None:
    """Raise FileNotFound unless file_id has the form of a stored id (lower-case hex, as uuid4().hex gives)."""
    if not file_id or not FILE_ID_CHARACTERS.issuperset(file_id):
        raise FileNotFound(f"file {file_id!r} not found")


def new_file_id() -> str:
    """Return a fresh file id: 32 lower-case hex digits."""
    return uuid.uuid4().hex


def sorted_by_name(files: Iterable[FileInfo]) -> list[FileInfo]:
    """Return files ordered by name, ignoring case, with the id breaking ties so the order is stable."""
    return sorted(files, key=lambda info: (info.name.casefold(), info.name, info.file_id))


def containers_by_name(containers: Iterable[ContainerInfo]) -> list[ContainerInfo]:
    """Return containers ordered by name, ignoring case, with the id breaking ties."""
    return sorted(containers, key=lambda info: (info.name.casefold(), info.name, info.container_id))
