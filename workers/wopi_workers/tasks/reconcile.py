"""wopi.reconcile.reconcile_storage: record every stored version that the history lacks.

Each run also rebuilds the metadata index from storage, so the index recovers from lost events too.
"""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.log import get_task_logger
from redis.exceptions import LockError

from wopi_core import history, index
from wopi_core.events import TASK_RECONCILE
from wopi_workers import context

logger = get_task_logger(__name__)

LOCK_KEY = "wopi:reconcile:lock"
SOFT_TIME_LIMIT = 540
TIME_LIMIT = 600
# The lock outlives the hard time limit, so a worker killed mid-run cannot block later runs for longer.
LOCK_TIMEOUT = TIME_LIMIT + 60


@shared_task(
    name=TASK_RECONCILE,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
)
def reconcile_storage() -> bool:
    """Scan storage and record missing versions. Return False when another run holds the lock."""
    resources = context.current()
    lock = resources.redis.lock(LOCK_KEY, timeout=LOCK_TIMEOUT, blocking=False)
    if not lock.acquire():
        logger.info("reconcile skipped: another run is in progress")
        return False
    try:
        report = history.reconcile(resources.storage, resources.history)
        resources.history.save_reconcile_report(report)
        client = resources.redis
        index.sync_index(resources.storage, resources.history, index.FileIndex(client), client)
    except SoftTimeLimitExceeded:
        logger.warning("reconcile stopped by its time limit after %s seconds", SOFT_TIME_LIMIT)
        raise
    finally:
        try:
            lock.release()
        except LockError:
            logger.warning("reconcile lock had expired before the run ended")
    logger.info(
        "reconcile finished files=%d versions=%d recorded=%d vanished=%d duration_ms=%d",
        report.files,
        report.versions,
        report.recorded,
        report.vanished,
        int(report.duration_seconds * 1000),
    )
    return True
