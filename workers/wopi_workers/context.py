"""Per-process resources of a worker: settings, storage backend and Redis client, created on first use.

create_celery_app() installs the settings, and each worker process then opens its own storage backend and
Redis connection the first time a task needs them. Nothing here runs at import time, so importing a task
module never reads the environment or connects anywhere.
"""

from __future__ import annotations

import logging

import redis

from wopi_core.history import HistoryStore
from wopi_core.settings import Settings
from wopi_core.storage import create_storage
from wopi_core.storage.base import StorageBackend

logger = logging.getLogger(__name__)


class WorkerResources:
    """Settings plus lazily opened storage and Redis client for the tasks of one process."""

    def __init__(
        self,
        settings: Settings,
        *,
        storage: StorageBackend | None = None,
        redis_client: redis.Redis | None = None,
    ) -> None:
        self.settings = settings
        self._storage = storage
        self._redis = redis_client

    @property
    def storage(self) -> StorageBackend:
        if self._storage is None:
            self._storage = create_storage(self.settings)
        return self._storage

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            timeout = self.settings.redis_timeout
            self._redis = redis.Redis.from_url(
                self.settings.redis_url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                health_check_interval=30,
            )
        return self._redis

    @property
    def history(self) -> HistoryStore:
        return HistoryStore(self.redis)

    def forget_connections(self) -> None:
        """Forget the opened clients without closing them: after a fork, the sockets belong to the parent."""
        self._redis = None
        self._storage = None


_current: WorkerResources | None = None


def configure(
    settings: Settings,
    *,
    storage: StorageBackend | None = None,
    redis_client: redis.Redis | None = None,
) -> WorkerResources:
    """Install the resources the tasks of this process use. Tests may pass their own storage and client."""
    global _current
    _current = WorkerResources(settings, storage=storage, redis_client=redis_client)
    return _current


def current() -> WorkerResources:
    """Return the installed resources, or raise RuntimeError if create_celery_app() has not run."""
    if _current is None:
        raise RuntimeError("worker resources are not configured: build the app with create_celery_app(settings)")
    return _current


def reset_after_fork() -> None:
    """Drop connections inherited from the parent process, if any."""
    if _current is not None:
        _current.forget_connections()
