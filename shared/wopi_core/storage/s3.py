"""MinIO/S3 storage: one object per file in a bucket with versioning on, one object version per save.

Layout in the bucket::

    files/<file_id>     one object version per save; its user metadata stores the name, owner id,
                        SHA-256 (Base64), size, last modifier, modification time and container id
                        of that version
    containers/<id>     a small JSON record per container: {"name": ..., "parent_id": ...}

The S3 version id is the file's version. Unlike an ETag it never repeats, even when content reverts.
A body is hashed, counted and spooled to a temporary file (in memory up to SPOOL_MEMORY_SIZE, then on
disk) before the upload starts, so a source that fails or exceeds the limit never reaches the bucket.
A failed multipart upload is aborted by the SDK and creates no version either.

S3 has no transaction that checks a name and takes it. Exclusive creates and renames therefore check for a
clash and write while they hold a lock on the bucket's names in Redis, which every front-end and worker
shares.

NOTE: without WOPI_REDIS_URL (a CLI run against S3 alone) there is no lock: two clients racing for one
name in one container can both succeed, and the result is two entries of one name, not a lost file.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import BinaryIO, cast
from urllib.parse import urlsplit

import certifi
import redis
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, REPLACE, CopySource
from minio.datatypes import Object
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.helpers import DictType
from minio.versioningconfig import VersioningConfig

from wopi_core.errors import (
    ConfigError,
    Conflict,
    ContainerNotEmpty,
    FileNotFound,
    NameTaken,
    StorageUnavailable,
    WopiError,
)
from wopi_core.models import ROOT_CONTAINER, ROOT_CONTAINER_ID, ContainerInfo, FileInfo, VersionInfo
from wopi_core.names import check_container_name, check_file_name, same_name
from wopi_core.settings import Settings
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
from wopi_core.storage.s3_metadata import (
    MetadataError,
    VersionRecord,
    decode_metadata,
    encode_metadata,
)

logger = logging.getLogger(__name__)

PREFIX = "files/"
CONTAINER_PREFIX = "containers/"
CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a TCP connection to the S3 endpoint."""
READ_TIMEOUT = 60.0
"""Seconds to wait for the next bytes of a response, including a multipart completion."""
POOL_SIZE = 10
"""Connections kept open per host; the front-end serves requests from a thread pool."""
PART_SIZE = 8 * 1024 * 1024
"""Multipart part size for bodies larger than it. S3 accepts parts of 5 MiB to 5 GiB, and up to 10,000 parts."""
MAX_PART_COUNT = 10_000
UPLOAD_THREADS = 3
"""Parts uploaded in parallel; memory use per upload is about UPLOAD_THREADS * part size."""
SPOOL_MEMORY_SIZE = 1024 * 1024
"""Bytes of a body kept in memory before the spool moves to a temporary file on disk."""
RENAME_ATTEMPTS = 3
NAMES_LOCK_SECONDS = 300.0
"""Seconds until the name lock expires if its holder dies, well above the time one exclusive upload takes."""
NAMES_LOCK_WAIT_SECONDS = 30.0
"""How long an exclusive create or rename waits for the name lock before it fails with 503."""

NameLock = Callable[[], "redis.lock.Lock"]
"""A function that returns the lock guarding one bucket's names."""

# Codes for an object or version that does not exist. The SDK reports every 404 to a HEAD as NoSuchKey,
# because a HEAD response has no body to carry a more precise code.
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchVersion"})
# Codes for a version id that is malformed (InvalidArgument, or BadRequest for a HEAD) or names a
# delete marker (MethodNotAllowed). Only a caller-supplied version id can cause them.
BAD_VERSION_CODES = frozenset({"InvalidArgument", "BadRequest", "MethodNotAllowed"})


def parse_endpoint(url: str) -> tuple[str, bool]:
    """Split an http(s) endpoint URL into the host[:port] the SDK takes and whether TLS is on."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigError([f"WOPI_S3_ENDPOINT: expected an http or https URL without a path, got {url!r}"])
    return parts.netloc, parts.scheme == "https"


def part_size_for(length: int) -> int:
    """Return the multipart part size for a body of length bytes: PART_SIZE, or more to stay within 10,000 parts."""
    mebibyte = 1024 * 1024
    needed = math.ceil(length / MAX_PART_COUNT / mebibyte) * mebibyte
    return max(PART_SIZE, needed)


def build_http_client() -> urllib3.PoolManager:
    """Return the connection pool for the SDK, with explicit timeouts and retries of failed requests."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        maxsize=POOL_SIZE,
        retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
        cert_reqs="CERT_REQUIRED",
        # The same CA bundle the SDK's own pool uses: SSL_CERT_FILE if set, else certifi's.
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
    )


@contextlib.contextmanager
def translate_errors(subject: str, *, version_given: bool = False) -> Iterator[None]:
    """Turn SDK and connection errors raised inside the block into WOPI errors about subject."""
    try:
        yield
    except S3Error as exc:
        if exc.code in NOT_FOUND_CODES or (version_given and exc.code in BAD_VERSION_CODES):
            raise FileNotFound(f"{subject} not found") from exc
        raise WopiError(f"S3 request for {subject} failed with code {exc.code}") from exc
    except (ServerError, InvalidResponseError, urllib3.exceptions.HTTPError) as exc:
        raise StorageUnavailable(f"S3 storage is unavailable ({type(exc).__name__}) while accessing {subject}") from exc


class S3Storage:
    """Stores files as versioned objects in one bucket (see the module docstring)."""

    def __init__(self, client: Minio, bucket: str, name_lock: NameLock | None = None) -> None:
        self._client = client
        self.bucket = bucket
        self._name_lock = name_lock

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        """Connect to the WOPI_S3_* endpoint, then create the bucket and turn on versioning if needed."""
        endpoint, secure = parse_endpoint(settings.s3_endpoint)
        client = Minio(
            endpoint,
            access_key=settings.s3_access_key.get(),
            secret_key=settings.s3_secret_key.get(),
            secure=secure,
            region=settings.s3_region or None,
            http_client=build_http_client(),
        )
        name_lock = redis_name_lock(settings, settings.s3_bucket) if settings.redis_url else None
        storage = cls(client, settings.s3_bucket, name_lock)
        storage.ensure_bucket()
        return storage

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing and enable versioning on it; raise StorageUnavailable."""
        subject = f"bucket {self.bucket!r}"
        with translate_errors(subject):
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                    logger.info("created bucket %s", self.bucket)
                except S3Error as exc:
                    # Another process may have created it since bucket_exists returned.
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            if self._client.get_bucket_versioning(self.bucket).status != ENABLED:
                self._client.set_bucket_versioning(self.bucket, VersioningConfig(ENABLED))
                logger.info("enabled versioning on bucket %s", self.bucket)

    def check(self) -> None:
        try:
            with translate_errors(f"bucket {self.bucket!r}"):
                exists = self._client.bucket_exists(self.bucket)
        except WopiError as exc:
            raise StorageUnavailable(exc.message) from exc
        if not exists:
            raise StorageUnavailable(f"bucket {self.bucket!r} does not exist")

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
        with _spooled(source, max_size) as (body, reader), self._names_locked(exclusive):
            if exclusive:
                self._require_free(container_id, name)
            record = _new_record(reader, name=name, owner_id=owner_id, modified_by=owner_id)
            return self._put(file_id, body, replace(record, container_id=container_id))

    def stat(self, file_id: str) -> FileInfo:
        obj = self._stat_object(file_id)
        return _file_info(file_id, obj, self._record(file_id, obj))

    def open_content(self, file_id: str, version: str | None = None) -> tuple[VersionInfo, Iterator[bytes]]:
        if version is not None and not version:
            raise FileNotFound(f"file {file_id!r} has no version ''")
        obj = self._stat_object(file_id, version)
        info = _version_info(file_id, obj, self._record(file_id, obj))
        subject = f"file {file_id!r} version {info.version!r}"
        with translate_errors(subject, version_given=True):
            response = self._client.get_object(self.bucket, _key(file_id), version_id=info.version)

        exhausted = False

        def read(size: int) -> bytes:
            nonlocal exhausted
            with translate_errors(subject):
                chunk = response.read(size)
            exhausted = not chunk
            return chunk

        def close() -> None:
            # A connection with unread body bytes cannot serve another request, so it is closed first.
            if not exhausted:
                response.close()
            response.release_conn()

        return info, ContentStream(read, close)

    def write(self, file_id: str, source: Readable, *, modified_by: str, max_size: int) -> FileInfo:
        self.stat(file_id)  # fail before reading a body for a file that does not exist
        with _spooled(source, max_size) as (body, reader):
            # Read name and owner again now that the body is in: a rename may have happened meanwhile.
            # NOTE: a rename between this stat and the upload is still lost; WOPI locks serialise both.
            current = self.stat(file_id)
            record = _new_record(reader, name=current.name, owner_id=current.owner_id, modified_by=modified_by)
            return self._put(file_id, body, replace(record, container_id=current.container_id))

    def rename(self, file_id: str, name: str, *, exclusive: bool = False) -> FileInfo:
        """Change the file's name by copying the current version onto itself with new metadata.

        S3 metadata cannot change in place, so a rename creates a new object version with the same
        content, and the file's version changes. The copy only succeeds while the ETag read before it
        is still current. A write that lands in between therefore keeps its content, and the rename retries.
        """
        check_file_name(name)
        key = _key(file_id)
        subject = f"file {file_id!r}"
        with self._names_locked(exclusive):
            for _attempt in range(RENAME_ATTEMPTS):
                obj = self._stat_object(file_id)
                record = replace(self._record(file_id, obj), name=name)
                if exclusive:
                    self._require_free(record.container_id, name, except_id=file_id)
                source = CopySource(self.bucket, key, match_etag=obj.etag)
                with translate_errors(subject):
                    try:
                        result = self._client.copy_object(
                            self.bucket, key, source, metadata=_sdk_metadata(record), metadata_directive=REPLACE
                        )
                    except S3Error as exc:
                        if exc.code != "PreconditionFailed":
                            raise
                        logger.info("file %s changed during a rename; retrying", file_id)
                        continue
                return _info_from_record(file_id, self._require_version_id(result.version_id), record)
        raise Conflict(f"file {file_id!r} kept changing during the rename; try again")

    def delete(self, file_id: str) -> None:
        """Remove every version of the file; raise FileNotFound.

        A delete marker goes first so the file disappears at once. Removing the content versions
        before any delete marker means a failure part way never makes an old version current again.
        """
        key = _key(file_id)
        self._stat_object(file_id)
        with translate_errors(f"file {file_id!r}"):
            self._client.remove_object(self.bucket, key)
            entries = self._list_object_versions(key)
            self._remove_versions(key, [entry for entry in entries if not entry.is_delete_marker])
            self._remove_versions(key, [entry for entry in entries if entry.is_delete_marker])

    def delete_version(self, file_id: str, version: str) -> None:
        """Remove one object version of the file; raise Conflict for the current one, FileNotFound.

        The current version is read right before the removal. A version that is not current cannot
        become current again: a save or rename only adds a newer version, and this backend removes the
        latest version only when it deletes the whole file. So a save landing between the check and the
        removal cannot turn the removal into one of the new current version.
        """
        if not version:
            raise FileNotFound(f"file {file_id!r} has no version ''")
        # S3 reports success for a removal of an unknown version id, so its existence is checked first.
        self._stat_object(file_id, version)
        current = self.stat(file_id)
        if current.version == version:
            raise Conflict(f"version {version!r} is the current version of file {file_id!r} and cannot be removed")
        with translate_errors(f"file {file_id!r} version {version!r}", version_given=True):
            self._client.remove_object(self.bucket, _key(file_id), version_id=version)

    def list_files(self) -> list[FileInfo]:
        with translate_errors(f"bucket {self.bucket!r}"):
            names = [obj.object_name for obj in self._client.list_objects(self.bucket, prefix=PREFIX, recursive=True)]
        files = []
        for object_name in names:
            # Skip objects that vanished since the listing, and keys that are not file ids.
            with contextlib.suppress(FileNotFound):
                files.append(self.stat(object_name.removeprefix(PREFIX)))
        return sorted_by_name(files)

    def list_versions(self, file_id: str) -> list[VersionInfo]:
        key = _key(file_id)
        self._stat_object(file_id)
        with translate_errors(f"file {file_id!r}"):
            entries = self._list_object_versions(key)
        records = []
        # S3 lists the versions of a key newest first, as the AWS ListObjectVersions examples show and moto does.
        for entry in reversed(entries):
            if entry.is_delete_marker or entry.version_id is None:
                continue
            with contextlib.suppress(FileNotFound):
                obj = self._stat_object(file_id, entry.version_id)
                records.append(_version_info(file_id, obj, self._record(file_id, obj)))
        return records

    def find_file(self, container_id: str, name: str) -> FileInfo | None:
        return next((info for info in self._files_in(container_id) if same_name(info.name, name)), None)

    def name_taken(self, container_id: str, name: str) -> bool:
        containers, files = self.list_children(container_id)
        names = [entry.name for entry in containers] + [entry.name for entry in files]
        return any(same_name(entry, name) for entry in names)

    def stat_container(self, container_id: str) -> ContainerInfo:
        check_container_id(container_id)
        subject = f"container {container_id!r}"
        try:
            with translate_errors(subject):
                response = self._client.get_object(self.bucket, CONTAINER_PREFIX + container_id)
                try:
                    data = response.read()
                finally:
                    response.close()
                    response.release_conn()
        except FileNotFound:
            # The root exists without a record until it is first renamed.
            if container_id == ROOT_CONTAINER_ID:
                return ROOT_CONTAINER
            raise
        try:
            record = json.loads(data)
            parent = record["parent_id"]
            return ContainerInfo(container_id, str(record["name"]), None if parent is None else str(parent))
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("container record %s in bucket %s is invalid: %s", container_id, self.bucket, exc)
            raise FileNotFound(f"{subject} not found") from exc

    def create_container(self, name: str, parent_id: str, *, exclusive: bool = True) -> ContainerInfo:
        check_container_name(name)
        self.stat_container(parent_id)
        with self._names_locked(exclusive):
            if exclusive:
                self._require_free(parent_id, name)
            info = ContainerInfo(new_file_id(), name, parent_id)
            self._put_container(info)
        return info

    def rename_container(self, container_id: str, name: str) -> ContainerInfo:
        check_container_name(name)
        with self._names_locked(True):
            current = self.stat_container(container_id)
            if current.parent_id is not None:
                self._require_free(current.parent_id, name, except_id=container_id)
            info = replace(current, name=name)
            self._put_container(info)
        return info

    def delete_container(self, container_id: str) -> None:
        if self.stat_container(container_id).is_root:
            raise Conflict("the root container cannot be deleted")
        containers, files = self.list_children(container_id)
        if containers or files:
            raise ContainerNotEmpty(f"container {container_id!r} is not empty")
        key = CONTAINER_PREFIX + container_id
        with translate_errors(f"container {container_id!r}"):
            self._client.remove_object(self.bucket, key)
            entries = self._list_object_versions(key)
            self._remove_versions(key, [entry for entry in entries if not entry.is_delete_marker])
            self._remove_versions(key, [entry for entry in entries if entry.is_delete_marker])

    def list_children(self, container_id: str) -> tuple[list[ContainerInfo], list[FileInfo]]:
        self.stat_container(container_id)
        with translate_errors(f"bucket {self.bucket!r}"):
            listing = self._client.list_objects(self.bucket, prefix=CONTAINER_PREFIX, recursive=True)
            keys = [obj.object_name for obj in listing]
        # NOTE: one GET per container and one HEAD per file: fine for folders of hundreds of entries.
        containers = []
        for key in keys:
            with contextlib.suppress(FileNotFound):
                info = self.stat_container(key.removeprefix(CONTAINER_PREFIX))
                if info.parent_id == container_id:
                    containers.append(info)
        return containers_by_name(containers), self._files_in(container_id)

    def _files_in(self, container_id: str) -> list[FileInfo]:
        return [info for info in self.list_files() if info.container_id == container_id]

    @contextlib.contextmanager
    def _names_locked(self, needed: bool) -> Iterator[None]:
        """Hold the bucket's name lock when needed and configured.

        Raise StorageUnavailable (503) if the lock cannot be taken.
        """
        if not needed or self._name_lock is None:
            yield
            return
        lock = self._name_lock()
        try:
            acquired = lock.acquire()
        except redis.RedisError as exc:
            logger.warning("failed to take the name lock of bucket %s error=%s", self.bucket, type(exc).__name__)
            raise StorageUnavailable(
                f"Redis failed while taking the name lock of bucket {self.bucket!r}; try again"
            ) from exc
        if not acquired:
            logger.warning(
                "timed out waiting for the name lock of bucket %s after %s s", self.bucket, NAMES_LOCK_WAIT_SECONDS
            )
            raise StorageUnavailable(
                f"timed out after {NAMES_LOCK_WAIT_SECONDS:g} s waiting for the name lock of bucket {self.bucket!r}; "
                "try again"
            )
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.RedisError as exc:
                # The lock expired or Redis went away: the write itself is done and stays.
                logger.warning("failed to release the name lock of bucket %s error=%s", self.bucket, type(exc).__name__)

    def _require_free(self, container_id: str, name: str, *, except_id: str = "") -> None:
        containers, files = self.list_children(container_id)
        entries = [(c.container_id, c.name) for c in containers] + [(f.file_id, f.name) for f in files]
        if any(same_name(entry_name, name) for entry_id, entry_name in entries if entry_id != except_id):
            raise NameTaken(f"the container already contains an entry named {name!r}")

    def _put_container(self, info: ContainerInfo) -> None:
        data = json.dumps({"name": info.name, "parent_id": info.parent_id}, ensure_ascii=False).encode()
        with translate_errors(f"container {info.container_id!r}"):
            self._client.put_object(
                self.bucket,
                CONTAINER_PREFIX + info.container_id,
                io.BytesIO(data),
                len(data),
                content_type="application/json",
            )

    def _stat_object(self, file_id: str, version: str | None = None) -> Object:
        subject = f"file {file_id!r}" if version is None else f"file {file_id!r} version {version!r}"
        key = _key(file_id)
        with translate_errors(subject, version_given=version is not None):
            return self._client.stat_object(self.bucket, key, version_id=version)

    def _record(self, file_id: str, obj: Object) -> VersionRecord:
        try:
            return decode_metadata(obj.metadata or {})
        except MetadataError as exc:
            logger.warning("object %s in bucket %s has invalid metadata: %s", _key(file_id), self.bucket, exc)
            raise FileNotFound(f"file {file_id!r} not found") from exc

    def _put(self, file_id: str, body: BinaryIO, record: VersionRecord) -> FileInfo:
        with translate_errors(f"file {file_id!r}"):
            result = self._client.put_object(
                self.bucket,
                _key(file_id),
                body,
                record.size,
                metadata=_sdk_metadata(record),
                part_size=part_size_for(record.size),
                num_parallel_uploads=UPLOAD_THREADS,
            )
        return _info_from_record(file_id, self._require_version_id(result.version_id), record)

    def _require_version_id(self, version_id: str | None) -> str:
        # Without versioning, S3 returns no version id (or "null"), and saves would overwrite each other.
        if not version_id or version_id == "null":
            raise WopiError(f"bucket {self.bucket!r} does not keep versions; enable versioning on it")
        return version_id

    def _list_object_versions(self, key: str) -> list[Object]:
        # A prefix listing also returns longer keys that start with this one, so match the name exactly.
        listing = self._client.list_objects(self.bucket, prefix=key, recursive=True, include_version=True)
        return [entry for entry in listing if entry.object_name == key]

    def _remove_versions(self, key: str, entries: list[Object]) -> None:
        if not entries:
            return
        targets = [DeleteObject(key, entry.version_id) for entry in entries]
        errors = list(self._client.remove_objects(self.bucket, targets))
        if errors:
            codes = ", ".join(sorted({error.code for error in errors}))
            raise WopiError(f"removing {len(errors)} versions of {key} failed with codes {codes}")


def redis_name_lock(settings: Settings, bucket: str) -> NameLock:
    """Return a maker of the Redis lock on the bucket's names, on the WOPI_REDIS_URL server."""
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=settings.redis_timeout, socket_connect_timeout=settings.redis_timeout
    )

    def make() -> redis.lock.Lock:
        lock: redis.lock.Lock = client.lock(
            f"wopi:s3-names:{bucket}", timeout=NAMES_LOCK_SECONDS, blocking_timeout=NAMES_LOCK_WAIT_SECONDS
        )
        return lock

    return make


@contextlib.contextmanager
def _spooled(source: Readable, max_size: int) -> Iterator[tuple[BinaryIO, HashingReader]]:
    """Copy source into a temporary spool while hashing it, and yield the rewound spool and the reader."""
    reader = HashingReader(source, max_size)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_SIZE) as spool:
        for chunk in reader.chunks():
            spool.write(chunk)
        spool.seek(0)
        yield cast(BinaryIO, spool), reader


def _sdk_metadata(record: VersionRecord) -> DictType:
    return dict(encode_metadata(record))


def _key(file_id: str) -> str:
    check_file_id(file_id)
    return PREFIX + file_id


def _new_record(reader: HashingReader, *, name: str, owner_id: str, modified_by: str) -> VersionRecord:
    return VersionRecord(
        name=name,
        owner_id=owner_id,
        sha256=reader.sha256,
        size=reader.size,
        modified_by=modified_by,
        modified_at=datetime.now(UTC),
    )


def _info_from_record(file_id: str, version: str, record: VersionRecord) -> FileInfo:
    return FileInfo(
        file_id=file_id,
        name=record.name,
        owner_id=record.owner_id,
        size=record.size,
        sha256=record.sha256,
        version=version,
        modified_at=record.modified_at,
        modified_by=record.modified_by,
        container_id=record.container_id,
    )


def _version_id(file_id: str, obj: Object) -> str:
    if not obj.version_id or obj.version_id == "null":
        raise WopiError(f"object for file {file_id!r} has no version id; enable versioning on the bucket")
    return obj.version_id


def _file_info(file_id: str, obj: Object, record: VersionRecord) -> FileInfo:
    return _info_from_record(file_id, _version_id(file_id, obj), record)


def _version_info(file_id: str, obj: Object, record: VersionRecord) -> VersionInfo:
    return VersionInfo(
        file_id=file_id,
        version=_version_id(file_id, obj),
        size=record.size,
        sha256=record.sha256,
        modified_at=record.modified_at,
        modified_by=record.modified_by,
    )
