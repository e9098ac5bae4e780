"""Task names and payloads that the front-end publishes and the workers consume.

This module has no Celery import: the front-end publishes with ``send_task(name, kwargs=...)`` and the
workers register tasks under these names, so neither side imports the other.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

TASK_RECORD_VERSION = "wopi.history.record_version"
TASK_RECONCILE = "wopi.reconcile.reconcile_storage"
TASK_REFRESH_DISCOVERY = "wopi.discovery.refresh"
TASK_APPLY_RETENTION = "wopi.retention.apply"
TASK_UPDATE_INDEX = "wopi.index.update_file"

ALL_TASKS = (TASK_RECORD_VERSION, TASK_RECONCILE, TASK_REFRESH_DISCOVERY, TASK_APPLY_RETENTION, TASK_UPDATE_INDEX)


@dataclass(frozen=True, slots=True)
class FileSaved:
    """A new version of a file was stored; ids only, the worker reads the rest from storage."""

    file_id: str
    version_id: str
    correlation_id: str = ""
    session_id: str = ""
    lock_id: str = ""
    """Digest of the WOPI lock the save was made under (see lock_digest); lets the history tell a
    retried save from a new one without carrying lock ids of up to 1024 characters in every message."""

    def kwargs(self) -> dict[str, str]:
        """Return the task's keyword arguments."""
        return asdict(self)


def lock_digest(lock_id: str) -> str:
    """Return a short, stable digest of a WOPI lock id, or "" for no lock."""
    if not lock_id:
        return ""
    return hashlib.sha256(lock_id.encode("latin-1", errors="replace")).hexdigest()[:32]
