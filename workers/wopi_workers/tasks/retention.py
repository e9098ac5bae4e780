"""wopi.retention.apply: mark the versions the version policy no longer keeps and remove them from storage.

See wopi_core.retention for the policy.
"""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.log import get_task_logger
from redis.exceptions import LockError

from wopi_core import retention
from wopi_core.events import TASK_APPLY_RETENTION
from wopi_core.history import utc_now
from wopi_workers import context
from wopi_workers.tasks.index import update_index

logger = get_task_logger(__name__)

LOCK_KEY = "wopi:retention:lock"
SOFT_TIME_LIMIT = 540
TIME_LIMIT = 600
LOCK_TIMEOUT = TIME_LIMIT + 60


@shared_task(
    name=TASK_APPLY_RETENTION,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
)
def apply(**_context: str) -> int:
    """Apply the policy to every file with a history; return how many versions got a new mark.

    Marks are written before the versions are removed from storage, so an interrupted run loses
    nothing: the next one removes what is still marked and stored, and carries on.
    """
    resources = context.current()
    policy = retention.RetentionPolicy.from_settings(resources.settings)
    if not policy.enabled:
        logger.debug("retention skipped: no policy is configured")
        return 0
    lock = resources.redis.lock(LOCK_KEY, timeout=LOCK_TIMEOUT, blocking=False)
    if not lock.acquire():
        logger.info("retention skipped: another run is in progress")
        return 0
    marked = removed = 0
    try:
        now = utc_now()
        for file_id in resources.history.files():
            outcome = retention.apply_retention(resources.storage, resources.history, file_id, policy, now)
            if outcome.marked:
                marked += len(outcome.marked)
                update_index(resources, file_id)
                logger.info("retention marked versions file_id=%s count=%d", file_id, len(outcome.marked))
            if outcome.removed:
                removed += len(outcome.removed)
                logger.info("retention removed versions file_id=%s count=%d", file_id, len(outcome.removed))
    except SoftTimeLimitExceeded:
        logger.warning("retention stopped by its time limit after %s seconds", SOFT_TIME_LIMIT)
        raise
    finally:
        try:
            lock.release()
        except LockError:
            logger.warning("retention lock had expired before the run ended")
    logger.info("retention finished marked=%d removed=%d", marked, removed)
    return marked
