"""wopi.discovery.refresh: fetch WOPI discovery and cache it in Redis for every front-end.

Beat runs it every WOPI_DISCOVERY_REFRESH seconds, and front-ends ask for it when a proof fails against
both cached keys. A failed fetch keeps the last good copy; refresh_discovery logs and counts it.
"""

from __future__ import annotations

from celery import shared_task
from celery.utils.log import get_task_logger

from wopi_core.discovery_store import FETCH_TIMEOUT_SECONDS, refresh_discovery
from wopi_core.events import TASK_REFRESH_DISCOVERY
from wopi_workers import context

logger = get_task_logger(__name__)

SOFT_TIME_LIMIT = int(FETCH_TIMEOUT_SECONDS) + 20
TIME_LIMIT = SOFT_TIME_LIMIT + 15


@shared_task(
    name=TASK_REFRESH_DISCOVERY,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
)
def refresh(**_context: str) -> bool:
    """Fetch discovery from WOPI_DISCOVERY_URL and cache it; return True when a new copy was stored.

    No retry here: the last good copy stays in use and the next scheduled run tries again.
    Keyword arguments such as correlation_id are accepted and only serve the logs.
    """
    resources = context.current()
    source = resources.settings.discovery_url
    if not source:
        logger.info("discovery refresh skipped: WOPI_DISCOVERY_URL is not set")
        return False
    return refresh_discovery(resources.redis, source) is not None
