"""Filesystem storage: the embedded default, with the same version semantics as the S3 backend.

Layout under the root directory, one folder per file::

    <file_id>/head.json              the current state (name, owner, version, size, SHA-256, ...)
    <file_id>/versions/<n>.bin       content of version n
    <file_id>/versions/<n>.json      record of version n
    <file_id>/.lock                  flock(2) target that serialises commits from several processes
    .containers/<container_id>.json  one record per container: its name and parent id
    .containers/.lock                flock(2) target held while a name is checked for uniqueness and taken

head.json names the file's container (``container_id``, the root when absent).

Content is streamed to a temporary file in the same directory, fsync'ed, and only then renamed into
place and published by an atomic replace of head.json, so a cut-off upload leaves the previous
version current.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from wopi_core.errors import Conflict, ContainerNotEmpty, FileNotFound, NameTaken, StorageUnavailable
from wopi_core.models import ROOT_CONTAINER, ROOT_CONTAINER_ID, ContainerInfo, FileInfo, VersionInfo
from wopi_core.names import check_container_name, check_file_name, same_name
from wopi_core.storage.base import (
    ContentStream,
    HashingReader,
    Readable,
    check_container_id,
    check_file_id,
    containers_by_name,
    new_file_id,
    sorted_by_name,
)

HEAD = "head.json"
VERSIONS = "versions"
CONTAINERS = ".containers"


T = TypeVar("T")


class LocalStorage:
    """Stores files and their versions in a directory tree (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._root_text = str(root)
        self._records = _RecordCache()

    def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageUnavailable(f"storage directory {self.root} is not writable")

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
        check_file_name(name)
        self.stat_container(container_id)
        file_id = new_file_id()
        folder = self.root / file_id
        (folder / VERSIONS).mkdir(parents=True)
        new_head = {"name": name, "owner_id": owner_id, "seq": 0, "container_id": container_id}
        guard = (lambda: self._require_free(container_id, name)) if exclusive else None
        try:
            return self._commit(
                file_id, source, modified_by=owner_id, max_size=max_size, new_head=new_head, guard=guard
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def stat(self, file_id: str) -> FileInfo:
        check_file_id(file_id)
        # A plain string path: pathlib's joins cost more than the cached read itself.
        path = os.path.join(self._root_text, file_id, HEAD)
        try:
            return self._records.get(path, lambda head: _file_info(file_id, head))
        except FileNotFoundError as exc:
            raise FileNotFound(f"file {file_id!r} not found") from exc

    def open_content(self, file_id: str, version: str | None = None) -> tuple[VersionInfo, Iterator[bytes]]:
        head = self._read_head(file_id)
        number = version if version is not None else head["version"]
        if not (number.isascii() and number.isdigit()):
            raise FileNotFound(f"file {file_id} has no version {number!r}")
        versions = self._folder(file_id) / VERSIONS
        try:
            record = json.loads((versions / f"{number}.json").read_text())
            handle = (versions / f"{number}.bin").open("rb")
        except FileNotFoundError as exc:
            raise FileNotFound(f"file {file_id} has no version {number!r}") from exc
        return _version_info(file_id, record), ContentStream(handle.read, handle.close)

    def write(self, file_id: str, source: Readable, *, modified_by: str, max_size: int) -> FileInfo:
        self._read_head(file_id)
        return self._commit(file_id, source, modified_by=modified_by, max_size=max_size)

    def rename(self, file_id: str, name: str, *, exclusive: bool = False) -> FileInfo:
        check_file_name(name)
        with self._namespace() if exclusive else contextlib.nullcontext(), self._locked(file_id):
            head = self._read_head(file_id)
            if exclusive:
                self._require_free(head.get("container_id", ROOT_CONTAINER_ID), name, except_id=file_id)
            head["name"] = name
            self._write_json(self._folder(file_id) / HEAD, head)
        return _file_info(file_id, head)

    def delete(self, file_id: str) -> None:
        folder = self._folder(file_id)
        with self._locked(file_id):
            self._read_head(file_id)
            # Removing head.json first makes the file invisible at once, even if removing the rest fails.
            (folder / HEAD).unlink()
        shutil.rmtree(folder, ignore_errors=True)

    def delete_version(self, file_id: str, version: str) -> None:
        versions = self._folder(file_id) / VERSIONS
        # Under the file's lock no commit can make another version current while this one is checked.
        with self._locked(file_id):
            head = self._read_head(file_id)
            if not (version.isascii() and version.isdigit()) or not (versions / f"{version}.json").exists():
                raise FileNotFound(f"file {file_id} has no version {version!r}")
            if version == str(head["version"]):
                raise Conflict(f"version {version!r} is the current version of file {file_id} and cannot be removed")
            # The record goes first: without it, listings and open_content no longer see the version.
            (versions / f"{version}.json").unlink()
            (versions / f"{version}.bin").unlink(missing_ok=True)

    def list_files(self) -> list[FileInfo]:
        files = []
        for entry in self.root.iterdir():
            if not entry.is_dir():
                continue
            with contextlib.suppress(FileNotFound):
                files.append(self.stat(entry.name))
        return sorted_by_name(files)

    def list_versions(self, file_id: str) -> list[VersionInfo]:
        self._read_head(file_id)
        versions = self._folder(file_id) / VERSIONS
        records = []
        for path in versions.glob("*.json"):
            with contextlib.suppress(FileNotFoundError):
                records.append(_version_info(file_id, json.loads(path.read_text())))
        return sorted(records, key=lambda record: int(record.version))

    def find_file(self, container_id: str, name: str) -> FileInfo | None:
        return next((info for info in self._files_in(container_id) if same_name(info.name, name)), None)

    def name_taken(self, container_id: str, name: str) -> bool:
        containers, files = self.list_children(container_id)
        names = [entry.name for entry in containers] + [entry.name for entry in files]
        return any(same_name(entry, name) for entry in names)

    def stat_container(self, container_id: str, *, trust_for: float = 0.0) -> ContainerInfo:
        """Return a container's record; trust_for > 0 may return one checked that many seconds ago."""
        check_container_id(container_id)
        path = os.path.join(self._root_text, CONTAINERS, f"{container_id}.json")
        try:
            return self._records.get(
                path,
                lambda record: ContainerInfo(container_id, record["name"], record["parent_id"]),
                trust_for=trust_for,
            )
        except FileNotFoundError as exc:
            # The root exists without a record until it is first renamed.
            if container_id == ROOT_CONTAINER_ID:
                return ROOT_CONTAINER
            raise FileNotFound(f"container {container_id!r} not found") from exc

    def create_container(self, name: str, parent_id: str, *, exclusive: bool = True) -> ContainerInfo:
        check_container_name(name)
        with self._namespace():
            self.stat_container(parent_id)
            if exclusive:
                self._require_free(parent_id, name)
            info = ContainerInfo(new_file_id(), name, parent_id)
            self._write_json(self._containers / f"{info.container_id}.json", {"name": name, "parent_id": parent_id})
        return info

    def rename_container(self, container_id: str, name: str) -> ContainerInfo:
        check_container_name(name)
        with self._namespace():
            current = self.stat_container(container_id)
            if current.parent_id is not None:
                self._require_free(current.parent_id, name, except_id=container_id)
            info = ContainerInfo(container_id, name, current.parent_id)
            self._write_json(self._containers / f"{container_id}.json", {"name": name, "parent_id": info.parent_id})
        return info

    def delete_container(self, container_id: str) -> None:
        with self._namespace():
            if self.stat_container(container_id).is_root:
                raise Conflict("the root container cannot be deleted")
            containers, files = self.list_children(container_id)
            if containers or files:
                raise ContainerNotEmpty(f"container {container_id!r} is not empty")
            (self._containers / f"{container_id}.json").unlink()

    def list_children(self, container_id: str) -> tuple[list[ContainerInfo], list[FileInfo]]:
        self.stat_container(container_id)
        # NOTE: the filesystem layout has no per-container index, so a listing reads every record.
        containers = []
        for path in self._containers.glob("*.json"):
            with contextlib.suppress(FileNotFound):
                info = self.stat_container(path.stem)
                if info.parent_id == container_id:
                    containers.append(info)
        return containers_by_name(containers), self._files_in(container_id)

    @property
    def _containers(self) -> Path:
        return self.root / CONTAINERS

    def _files_in(self, container_id: str) -> list[FileInfo]:
        return [info for info in self.list_files() if info.container_id == container_id]

    def _require_free(self, container_id: str, name: str, *, except_id: str = "") -> None:
        containers, files = self.list_children(container_id)
        entries = [(c.container_id, c.name) for c in containers] + [(f.file_id, f.name) for f in files]
        if any(same_name(entry_name, name) for entry_id, entry_name in entries if entry_id != except_id):
            raise NameTaken(f"the container already contains an entry named {name!r}")

    @contextlib.contextmanager
    def _namespace(self) -> Iterator[None]:
        """Hold the lock that makes checking a name and taking it one step, across processes."""
        self._containers.mkdir(exist_ok=True)
        fd = os.open(self._containers / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _folder(self, file_id: str) -> Path:
        # File ids are hex uuids; anything else (a path, dots) can never name a stored file.
        check_file_id(file_id)
        return self.root / file_id

    def _read_head(self, file_id: str) -> dict[str, Any]:
        try:
            head: dict[str, Any] = json.loads((self._folder(file_id) / HEAD).read_text())
        except FileNotFoundError as exc:
            raise FileNotFound(f"file {file_id!r} not found") from exc
        return head

    @contextlib.contextmanager
    def _locked(self, file_id: str) -> Iterator[None]:
        path = self._folder(file_id) / ".lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError as exc:
            raise FileNotFound(f"file {file_id!r} not found") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _commit(
        self,
        file_id: str,
        source: Readable,
        *,
        modified_by: str,
        max_size: int,
        new_head: dict[str, Any] | None = None,
        guard: Callable[[], None] | None = None,
    ) -> FileInfo:
        versions = self._folder(file_id) / VERSIONS
        reader = HashingReader(source, max_size)
        fd, temp_name = tempfile.mkstemp(dir=versions, prefix=".upload-")
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in reader.chunks():
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            with self._namespace() if guard else contextlib.nullcontext(), self._locked(file_id):
                if guard:
                    guard()
                head: dict[str, Any] = self._read_head(file_id) if new_head is None else new_head
                number = str(int(head["seq"]) + 1)
                record: dict[str, Any] = {
                    "version": number,
                    "size": reader.size,
                    "sha256": reader.sha256,
                    "modified_at": datetime.now(UTC).isoformat(),
                    "modified_by": modified_by,
                }
                os.replace(temp, versions / f"{number}.bin")
                self._write_json(versions / f"{number}.json", record)
                head.update(record, seq=int(number))
                self._write_json(self._folder(file_id) / HEAD, head)
        finally:
            temp.unlink(missing_ok=True)
        return _file_info(file_id, head)

    @staticmethod
    def _write_json(path: Path, data: dict[str, Any]) -> None:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".json-")
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)


_MISSING = object()


class _RecordCache:
    """Parsed JSON records keyed by path, reused while the file on disk is the same file.

    Every record is written to a temporary file and renamed into place, so any change gives the path
    a new inode. An unchanged (inode, mtime, size) therefore means the parsed record is still current. This makes
    CheckFileInfo cost one stat(2) instead of an open, a read and a JSON parse.
    """

    MAX_ENTRIES = 8192

    def __init__(self) -> None:
        self._entries: dict[str | Path, tuple[tuple[int, int, int], Any, float]] = {}

    def get(self, path: str | Path, build: Callable[[dict[str, Any]], T], *, trust_for: float = 0.0) -> T:
        """Return build(record) for the JSON file at path; raise FileNotFoundError if it is missing.

        trust_for > 0 returns a record checked less than that many seconds ago without checking the
        file again. Callers pass it only where a record that old cannot make a response wrong.
        """
        now = time.monotonic()
        cached = self._entries.get(path)
        if cached is not None and now - cached[2] < trust_for:
            if cached[1] is _MISSING:
                raise FileNotFoundError(path)
            value: T = cached[1]
            return value
        try:
            status = os.stat(path)
        except FileNotFoundError:
            if trust_for > 0:
                # Remembered absence, so that a record that does not exist (the root container's, until
                # it is renamed) costs no failing stat(2) within the trust window either.
                self._entries[path] = ((0, 0, 0), _MISSING, now)
            raise
        identity = (status.st_ino, status.st_mtime_ns, status.st_size)
        if cached is not None and cached[0] == identity:
            self._entries[path] = (identity, cached[1], now)
            value = cached[1]
            return value
        with open(path, "rb") as handle:
            value = build(json.loads(handle.read()))
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[path] = (identity, value, now)
        return value


def _file_info(file_id: str, head: dict[str, Any]) -> FileInfo:
    return FileInfo(
        file_id=file_id,
        name=head["name"],
        owner_id=head["owner_id"],
        size=int(head["size"]),
        sha256=head["sha256"],
        version=str(head["version"]),
        modified_at=datetime.fromisoformat(head["modified_at"]),
        modified_by=head["modified_by"],
        container_id=head.get("container_id", ROOT_CONTAINER_ID),
    )


def _version_info(file_id: str, record: dict[str, Any]) -> VersionInfo:
    return VersionInfo(
        file_id=file_id,
        version=str(record["version"]),
        size=int(record["size"]),
        sha256=record["sha256"],
        modified_at=datetime.fromisoformat(record["modified_at"]),
        modified_by=record["modified_by"],
    )
