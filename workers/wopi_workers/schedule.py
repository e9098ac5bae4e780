"""Beat schedule: the periodic jobs and how often they run, all in UTC."""

from __future__ import annotations

from typing import Any

from wopi_core.events import TASK_APPLY_RETENTION, TASK_RECONCILE, TASK_REFRESH_DISCOVERY
from wopi_core.settings import Settings

DEFAULT_RECONCILE_INTERVAL = 300
"""Seconds between reconciliation runs when the settings name no interval (WOPI_RECONCILE_INTERVAL)."""


def reconcile_interval(settings: Settings) -> int:
    """Return the reconciliation interval in seconds, from settings.reconcile_interval when it exists."""
    value = getattr(settings, "reconcile_interval", None)
    return int(value) if value else DEFAULT_RECONCILE_INTERVAL


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Return the beat_schedule setting: one entry per periodic task."""
    interval = reconcile_interval(settings)
    schedule: dict[str, dict[str, Any]] = {
        "reconcile-storage": {
            "task": TASK_RECONCILE,
            "schedule": float(interval),
            # A run still queued when the next one is due is dropped, so a stopped worker does not
            # come back to a pile of identical scans.
            "options": {"expires": float(interval)},
        },
    }
    schedule.update(discovery_schedule(settings))
    schedule.update(retention_schedule())
    return schedule


RETENTION_INTERVAL = 3600.0
"""Seconds between runs of the version retention job; a run without a configured policy does nothing."""


def retention_schedule() -> dict[str, dict[str, Any]]:
    """Return the beat entry of the version retention job."""
    return {
        "apply-retention": {
            "task": TASK_APPLY_RETENTION,
            "schedule": RETENTION_INTERVAL,
            "options": {"expires": RETENTION_INTERVAL},
        },
    }


def discovery_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Return the beat entry that refreshes discovery every settings.discovery_refresh seconds."""
    interval = float(settings.discovery_refresh)
    return {
        "refresh-discovery": {
            "task": TASK_REFRESH_DISCOVERY,
            "schedule": interval,
            "options": {"expires": interval},
        },
    }
