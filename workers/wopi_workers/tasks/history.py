"""wopi.history.record_version: record a saved version in the file's history."""

from __future__ import annotations

from celery import shared_task
from celery.utils.log import get_task_logger

from wopi_core import history
from wopi_core.events import TASK_RECORD_VERSION
from wopi_workers import context
from wopi_workers.tasks import RETRIED_EVENT_TASK
from wopi_workers.tasks.index import update_index

logger = get_task_logger(__name__)

MAX_RETRIES = 8
RETRY_BACKOFF_MAX = 300
SOFT_TIME_LIMIT = 30
TIME_LIMIT = 60


@shared_task(
    name=TASK_RECORD_VERSION,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    max_retries=MAX_RETRIES,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
    **RETRIED_EVENT_TASK,
)
def record_version(
    file_id: str, version_id: str, correlation_id: str = "", session_id: str = "", lock_id: str = ""
) -> str:
    """Read one version from storage and record it in the history. A second delivery changes nothing.

    Nothing needs cleaning up when the soft time limit interrupts it: recording is a single atomic step.
    """
    resources = context.current()
    outcome = history.record_version(
        resources.storage,
        resources.history,
        file_id,
        version_id,
        correlation_id=correlation_id,
        session_id=session_id,
        lock_id=lock_id,
    )
    if outcome in (history.RecordOutcome.RECORDED, history.RecordOutcome.DUPLICATE):
        # A deleted file leaves the index at the next reconciliation, or through wopi.index.update_file.
        update_index(resources, file_id)
    if outcome is history.RecordOutcome.VERSION_GONE:
        logger.warning("version not found in storage file_id=%s version_id=%s", file_id, version_id)
    else:
        logger.info("record_version %s file_id=%s version_id=%s", outcome.value, file_id, version_id)
    return outcome.value
