"""Task modules. Each registers its tasks under the names in wopi_core.events."""

from __future__ import annotations

from typing import Any

import redis

from wopi_core.errors import StorageUnavailable

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (StorageUnavailable, redis.ConnectionError, redis.TimeoutError)
"""Errors that a later attempt may not meet: tasks retry these, with backoff, and no others."""

RETRIED_EVENT_TASK: dict[str, Any] = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "retry_jitter": True,
    "acks_late": True,
    "ignore_result": True,
}
"""Options of a task run for an event: acknowledged late, retried with jittered backoff on transient errors."""
