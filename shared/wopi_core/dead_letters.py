"""Tasks that failed for good, kept in a Redis list so that an operator can inspect and publish them again.

``wopi:dead_letters`` is a list of JSON objects, oldest first, capped at MAX_DEAD_LETTERS entries (the
oldest are dropped). Entries hold the task name and its keyword arguments, which are ids only, never
file content or tokens.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis

logger = logging.getLogger(__name__)

DEAD_LETTERS_KEY = "wopi:dead_letters"
MAX_DEAD_LETTERS = 10_000
MAX_ERROR_LENGTH = 1000

Publish = Callable[[str, dict[str, Any]], object]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One task that failed for good: what to publish again, and why it failed."""

    task: str
    kwargs: dict[str, Any]
    error_type: str
    error: str
    failed_at: datetime
    task_id: str = ""
    retries: int = 0

    @classmethod
    def from_exception(
        cls,
        task: str,
        kwargs: Mapping[str, Any],
        exc: BaseException,
        *,
        task_id: str = "",
        retries: int = 0,
        failed_at: datetime | None = None,
    ) -> DeadLetter:
        """Describe a failure, with the message cut to MAX_ERROR_LENGTH characters."""
        return cls(
            task=task,
            kwargs=dict(kwargs),
            error_type=type(exc).__name__,
            error=str(exc)[:MAX_ERROR_LENGTH],
            failed_at=failed_at or datetime.now(UTC),
            task_id=task_id,
            retries=retries,
        )

    def to_json(self) -> str:
        data = asdict(self)
        data["failed_at"] = self.failed_at.isoformat()
        return json.dumps(data, default=str, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> DeadLetter:
        data: dict[str, Any] = json.loads(raw)
        data["failed_at"] = datetime.fromisoformat(data["failed_at"])
        return cls(**data)


def push_dead_letter(client: redis.Redis, letter: DeadLetter) -> None:
    """Append letter to the dead-letter list, dropping the oldest entries beyond MAX_DEAD_LETTERS."""
    pipe = client.pipeline(transaction=True)
    pipe.rpush(DEAD_LETTERS_KEY, letter.to_json())
    pipe.ltrim(DEAD_LETTERS_KEY, -MAX_DEAD_LETTERS, -1)
    pipe.execute()


def count_dead_letters(client: redis.Redis) -> int:
    """Return how many dead letters are waiting."""
    return int(client.llen(DEAD_LETTERS_KEY))


def list_dead_letters(client: redis.Redis, limit: int = 100) -> list[DeadLetter]:
    """Return up to limit dead letters, oldest first, without removing them."""
    if limit <= 0:
        return []
    raw: list[bytes | str] = client.lrange(DEAD_LETTERS_KEY, 0, limit - 1)
    return [DeadLetter.from_json(item) for item in raw]


def pop_dead_letter(client: redis.Redis) -> DeadLetter | None:
    """Remove and return the oldest dead letter, or None when the list is empty."""
    raw: bytes | str | None = client.lpop(DEAD_LETTERS_KEY)  # type: ignore[assignment]
    return DeadLetter.from_json(raw) if raw is not None else None


def retry_dead_letters(client: redis.Redis, publish: Publish, *, limit: int | None = None) -> int:
    """Publish dead letters again, oldest first, and return how many were published.

    publish(task_name, kwargs) sends one task, for example ``celery.send_task(name, kwargs=kwargs)``.
    A letter whose publishing fails goes back to the head of the list and the error propagates, so a
    broker outage loses nothing.
    """
    published = 0
    while limit is None or published < limit:
        raw: bytes | str | None = client.lpop(DEAD_LETTERS_KEY)  # type: ignore[assignment]
        if raw is None:
            break
        letter = DeadLetter.from_json(raw)
        try:
            publish(letter.task, letter.kwargs)
        except BaseException:
            client.lpush(DEAD_LETTERS_KEY, raw)
            raise
        published += 1
        logger.info("republished dead letter task=%s task_id=%s", letter.task, letter.task_id)
    return published
