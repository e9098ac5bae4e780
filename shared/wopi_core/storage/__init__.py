"""Storage backends: MinIO/S3 and the local filesystem, behind one protocol."""

from __future__ import annotations

from wopi_core.settings import Settings
from wopi_core.storage.base import StorageBackend


def create_storage(settings: Settings) -> StorageBackend:
    """Build the backend the settings select: S3 when WOPI_S3_ENDPOINT is set, else the filesystem."""
    if settings.s3_endpoint:
        from wopi_core.storage.s3 import S3Storage

        return S3Storage.from_settings(settings)
    from wopi_core.storage.local import LocalStorage

    return LocalStorage(settings.data_dir / "files")
