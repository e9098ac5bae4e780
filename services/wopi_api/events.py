"""Publishing of "file saved" events to the workers through the Celery broker."""

from __future__ import annotations

import logging

from celery import Celery

from wopi_core.events import TASK_RECORD_VERSION, TASK_REFRESH_DISCOVERY, FileSaved
from wopi_core.settings import Settings

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 3.0


class EventPublisher:
    """Sends task messages by name, so the front-end never imports the worker package."""

    def __init__(self, settings: Settings) -> None:
        self._celery = Celery("wopihost-api", broker=settings.celery_broker_url, set_as_current=False)
        self._celery.conf.update(
            broker_connection_timeout=BROKER_TIMEOUT_SECONDS,
            broker_connection_retry=False,
            broker_transport_options={
                "socket_timeout": BROKER_TIMEOUT_SECONDS,
                "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
                "max_retries": 0,
            },
            task_create_missing_queues=True,
            task_send_sent_event=True,
        )

    def file_saved(self, event: FileSaved) -> bool:
        """Publish a FileSaved event; return False, after logging, if the broker cannot take it.

        A save is already durable in storage when this runs, so a broker outage must not fail it:
        the reconciliation job finds versions whose event never arrived.
        """
        try:
            self._celery.send_task(TASK_RECORD_VERSION, kwargs=event.kwargs(), retry=False)
        except Exception as exc:
            logger.warning(
                "event publish failed file_id=%s version=%s error=%s",
                event.file_id,
                event.version_id,
                type(exc).__name__,
                extra={"file_id": event.file_id, "version": event.version_id},
            )
            return False
        logger.debug("event published file_id=%s version=%s", event.file_id, event.version_id)
        return True

    def refresh_discovery(self) -> bool:
        """Ask the workers to fetch discovery now; return False, after logging, if the broker is down."""
        try:
            self._celery.send_task(TASK_REFRESH_DISCOVERY, retry=False)
        except Exception as exc:
            logger.warning("discovery refresh request failed error=%s", type(exc).__name__)
            return False
        return True

    def close(self) -> None:
        self._celery.close()
