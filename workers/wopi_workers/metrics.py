"""Signal handlers that count every task run of this worker in Redis (see wopi_core.task_metrics)."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.signals import task_postrun, task_prerun

from wopi_core.task_metrics import record_task
from wopi_workers import context

logger = logging.getLogger(__name__)

_started: dict[str, float] = {}


@task_prerun.connect
def _start_clock(task_id: str = "", **_extra: Any) -> None:
    _started[task_id] = time.monotonic()


@task_postrun.connect
def _count_task(task_id: str = "", task: Task[Any, Any] | None = None, state: str | None = None, **_extra: Any) -> None:
    """Add the run to the shared counters; a Redis outage loses the figure, never the task."""
    started = _started.pop(task_id, None)
    if task is None or not task.name.startswith("wopi."):
        return
    seconds = time.monotonic() - started if started is not None else None
    try:
        record_task(context.current().redis, task.name, state or "unknown", seconds)
    except Exception as exc:
        logger.warning("task metrics not recorded task=%s error=%s", task.name, type(exc).__name__)
