"""Calls into the storage backend from the event loop, without blocking it on network I/O."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from wopi_core.models import ContainerInfo, FileInfo
from wopi_core.storage.base import StorageBackend
from wopi_core.storage.local import LocalStorage

BREADCRUMB_TRUST_SECONDS = 1.0


async def stat_file(storage: StorageBackend, file_id: str) -> FileInfo:
    """Return the file's current state (FileNotFound if unknown).

    The filesystem backend reads one small JSON file that the page cache nearly always holds, which
    costs less than the hand-off to a worker thread, so it runs inline. Network backends run in the
    thread pool.
    """
    if isinstance(storage, LocalStorage):
        return storage.stat(file_id)
    return await run_in_threadpool(storage.stat, file_id)


async def breadcrumb_container(storage: StorageBackend, container_id: str) -> ContainerInfo:
    """Return the container whose name CheckFileInfo shows as BreadcrumbFolderName.

    The name is only shown to users, so the filesystem backend may answer from a record it checked
    up to a second ago: a folder rename then takes a second to reach breadcrumbs, and CheckFileInfo
    saves a stat(2) call, which is costly on some kernels.
    """
    if isinstance(storage, LocalStorage):
        return storage.stat_container(container_id, trust_for=BREADCRUMB_TRUST_SECONDS)
    return await run_in_threadpool(storage.stat_container, container_id)
