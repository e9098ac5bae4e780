"""wopi.index.update_file: refresh one file's entry in the metadata index.

record_version refreshes the entry itself after recording. This task is for other changes to a file,
such as a rename or a delete, so that the listing follows them before the next reconciliation.
"""

from __future__ import annotations

from celery import shared_task
from celery.utils.log import get_task_logger

from wopi_core import index
from wopi_core.events import TASK_UPDATE_INDEX
from wopi_workers import context
from wopi_workers.context import WorkerResources
from wopi_workers.tasks import RETRIED_EVENT_TASK

logger = get_task_logger(__name__)

MAX_RETRIES = 5
RETRY_BACKOFF_MAX = 120
SOFT_TIME_LIMIT = 30
TIME_LIMIT = 60


def update_index(resources: WorkerResources, file_id: str) -> index.IndexEntry | None:
    """Store the current entry of file_id, or drop it when the file is gone."""
    client = resources.redis
    entry = index.index_file(resources.storage, resources.history, index.FileIndex(client), client, file_id)
    logger.debug("index updated file_id=%s present=%s", file_id, entry is not None)
    return entry


@shared_task(
    name=TASK_UPDATE_INDEX,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    max_retries=MAX_RETRIES,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
    **RETRIED_EVENT_TASK,
)
def update_file(file_id: str, **_context: str) -> bool:
    """Refresh the index entry of one file; return whether the file still exists. Upserts, so safe to repeat."""
    return update_index(context.current(), file_id) is not None
