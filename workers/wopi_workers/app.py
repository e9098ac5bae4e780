"""The Celery app of the workers, its configuration, its signal handlers, and the worker and beat runners.

Settings are never read at import time: the CLI loads them when the process starts and passes them to
create_celery_app(), run_worker() or run_beat().
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import os
import socket
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.signals import setup_logging, task_failure, task_postrun, task_prerun, worker_process_init

from wopi_core import logging as wopi_logging
from wopi_core.dead_letters import DeadLetter, push_dead_letter
from wopi_core.errors import ConfigError
from wopi_core.events import TASK_APPLY_RETENTION, TASK_RECONCILE, TASK_REFRESH_DISCOVERY
from wopi_core.settings import Settings
from wopi_workers import context
from wopi_workers import metrics as _task_metrics  # noqa: F401  (connects the task counters)
from wopi_workers.schedule import beat_schedule
from wopi_workers.tasks import history as history_tasks
from wopi_workers.tasks import reconcile as reconcile_tasks
from wopi_workers.tasks import retention as retention_tasks

logger = logging.getLogger(__name__)

TASK_MODULES = (
    "wopi_workers.tasks.history",
    "wopi_workers.tasks.reconcile",
    "wopi_workers.tasks.discovery",
    "wopi_workers.tasks.index",
    "wopi_workers.tasks.retention",
)
SCHEDULE_FILE_NAME = "celerybeat-schedule"

# Defaults for any task that does not set its own limits.
DEFAULT_SOFT_TIME_LIMIT = 60
DEFAULT_TIME_LIMIT = 90

# The Redis transport hands an unacknowledged message to another worker once this many seconds have
# passed. It must exceed the longest hard time limit plus the longest retry countdown, or a task that is
# still running (or waiting for its retry) would be delivered a second time.
VISIBILITY_TIMEOUT = 3600
LONGEST_TASK_SECONDS = max(
    DEFAULT_TIME_LIMIT,
    history_tasks.TIME_LIMIT + history_tasks.RETRY_BACKOFF_MAX,
    reconcile_tasks.TIME_LIMIT,
    retention_tasks.TIME_LIMIT,
)

# The Redis transport polls with a BRPOP that blocks for one second, so a shorter socket timeout would
# cut those polls off.
MIN_BROKER_SOCKET_TIMEOUT = 5.0

# Failures of periodic tasks are logged but not dead-lettered: the next scheduled run does the work again.
PERIODIC_TASKS = frozenset({TASK_RECONCILE, TASK_REFRESH_DISCOVERY, TASK_APPLY_RETENTION})

_context_tokens: dict[str, tuple[contextvars.Token[str], contextvars.Token[str]]] = {}


def schedule_path(settings: Settings) -> Path:
    """Return where beat keeps its schedule: inside the data directory, never the working directory."""
    return settings.data_dir / SCHEDULE_FILE_NAME


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return the Celery configuration built from settings."""
    socket_timeout = max(settings.redis_timeout, MIN_BROKER_SOCKET_TIMEOUT)
    return {
        "broker_url": settings.celery_broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": settings.redis_timeout,
        "broker_transport_options": {
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": settings.redis_timeout,
            "socket_keepalive": True,
        },
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": DEFAULT_SOFT_TIME_LIMIT,
        "task_time_limit": DEFAULT_TIME_LIMIT,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": beat_schedule(settings),
        "beat_schedule_filename": str(schedule_path(settings)),
    }


def create_celery_app(settings: Settings) -> Celery:
    """Build the worker app from settings and install the per-process resources its tasks use."""
    if not settings.redis_url:
        raise ConfigError(["WOPI_REDIS_URL: missing, set it to the broker URL, for example redis://127.0.0.1:6379/0"])
    context.configure(settings)
    app = Celery("wopihost", include=list(TASK_MODULES))
    app.conf.update(celery_config(settings))
    # Importing the modules registers their tasks now, so app.tasks is complete before a worker starts.
    for module in TASK_MODULES:
        importlib.import_module(module)
    return app


def run_worker(
    settings: Settings,
    *,
    beat: bool,
    concurrency: int = 1,
    loglevel: str = "INFO",
    app: Celery | None = None,
) -> None:
    """Run a worker (with an embedded beat if beat is true) until SIGTERM or SIGINT stops it.

    SIGTERM and the first SIGINT let running tasks finish. Raise SystemExit with the worker's exit
    code if it stopped because of an error.
    """
    app = app or create_celery_app(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    worker = app.Worker(
        hostname=f"wopi.{os.getpid()}@{socket.gethostname()}",
        concurrency=concurrency,
        loglevel=loglevel,
        beat=beat,
        pool_cls="prefork",
        quiet=True,
        without_mingle=True,
        without_gossip=True,
    )
    worker.start()
    exitcode = getattr(worker, "exitcode", 0)
    if exitcode:
        raise SystemExit(exitcode)


def run_beat(settings: Settings, *, loglevel: str = "INFO", app: Celery | None = None) -> None:
    """Run the beat scheduler until SIGTERM or SIGINT stops it. Run exactly one per deployment."""
    app = app or create_celery_app(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        app.Beat(loglevel=loglevel, quiet=True).run()
    except SystemExit as exc:
        # Beat's own signal handler saves the schedule and raises SystemExit(), which is a clean stop.
        if exc.code not in (None, 0):
            raise


@setup_logging.connect
def _configure_logging(loglevel: int | str | None = None, **_kwargs: Any) -> None:
    """Keep Celery from installing its own handlers: the worker logs JSON lines like the front-end."""
    if isinstance(loglevel, int):
        level = logging.getLevelName(loglevel)
    else:
        level = (loglevel or "INFO").upper()
    wopi_logging.configure_logging(level)


@worker_process_init.connect
def _forget_inherited_connections(**_kwargs: Any) -> None:
    context.reset_after_fork()


@task_prerun.connect
def _enter_task_context(task_id: str = "", kwargs: dict[str, Any] | None = None, **_extra: Any) -> None:
    """Carry the correlation and session ids of the WOPI call that published the task into its logs."""
    kwargs = kwargs or {}
    _context_tokens[task_id] = (
        wopi_logging.correlation_id.set(str(kwargs.get("correlation_id") or "")),
        wopi_logging.session_id.set(str(kwargs.get("session_id") or "")),
    )


@task_postrun.connect
def _leave_task_context(task_id: str = "", **_extra: Any) -> None:
    tokens = _context_tokens.pop(task_id, None)
    if tokens is not None:
        wopi_logging.correlation_id.reset(tokens[0])
        wopi_logging.session_id.reset(tokens[1])


@task_failure.connect
def _dead_letter(
    sender: Task[Any, Any] | None = None,
    task_id: str = "",
    exception: BaseException | None = None,
    kwargs: dict[str, Any] | None = None,
    **_extra: Any,
) -> None:
    """Keep every event task that failed for good (retries exhausted, unexpected error, time limit)."""
    if sender is None or exception is None or not sender.name.startswith("wopi."):
        return
    logger.error(
        "task failed for good task=%s task_id=%s error_type=%s",
        sender.name,
        task_id,
        type(exception).__name__,
    )
    if sender.name in PERIODIC_TASKS:
        return
    letter = DeadLetter.from_exception(
        sender.name, kwargs or {}, exception, task_id=task_id, retries=int(sender.request.retries or 0)
    )
    try:
        push_dead_letter(context.current().redis, letter)
    except Exception:
        logger.exception("could not store dead letter task=%s task_id=%s", sender.name, task_id)
