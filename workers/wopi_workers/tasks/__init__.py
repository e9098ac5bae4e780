"""Task modules. Each registers its tasks under the names in wopi_core.events."""

from __future__ import annotations

import redis

from wopi_core.errors import StorageUnavailable

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (StorageUnavailable, redis.ConnectionError, redis.TimeoutError)
"""Errors that a later attempt may not meet: tasks retry these, with backoff, and no others."""
