"""Worker task counters kept in Redis, so that every worker process adds to the same figures.

Prefork pool processes cannot share in-memory counters, and a scrape of one process would miss the
others, so each finished task adds to two Redis hashes and the front-end's /metrics reads them:

    wopi:metrics:tasks          hash   "<task>|<outcome>" -> count
    wopi:metrics:task_seconds   hash   "<task>|<bucket upper bound>" -> count, "<task>|sum", "<task>|count"

Outcomes are Celery's final task states in lower case: success, failure, retry (and rarely rejected or
ignored). Bucket counts are stored per bucket and made cumulative when read.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import redis
import redis.asyncio as aioredis

COUNTS_KEY = "wopi:metrics:tasks"
LATENCY_KEY = "wopi:metrics:task_seconds"
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, math.inf)
SEPARATOR = "|"


def bucket_label(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


def bucket_for(seconds: float) -> str:
    """Return the label of the smallest bucket that contains seconds."""
    return bucket_label(next(bound for bound in BUCKETS if seconds <= bound))


def record_task(client: redis.Redis, task: str, outcome: str, seconds: float | None) -> None:
    """Count one finished task run and, when its duration is known, add it to the histogram."""
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(COUNTS_KEY, f"{task}{SEPARATOR}{outcome.lower()}", 1)
    if seconds is not None:
        pipe.hincrby(LATENCY_KEY, f"{task}{SEPARATOR}{bucket_for(seconds)}", 1)
        pipe.hincrbyfloat(LATENCY_KEY, f"{task}{SEPARATOR}sum", seconds)
        pipe.hincrby(LATENCY_KEY, f"{task}{SEPARATOR}count", 1)
    pipe.execute()


@dataclass(frozen=True, slots=True)
class TaskHistogram:
    buckets: list[tuple[str, float]]
    """(upper bound label, cumulative count), in increasing order, ending with +Inf."""
    total: float
    count: float


@dataclass(frozen=True, slots=True)
class TaskStats:
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    """(task, outcome) -> runs."""
    latency: dict[str, TaskHistogram] = field(default_factory=dict)

    def runs(self, task: str, outcome: str) -> int:
        return self.counts.get((task, outcome), 0)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def parse_stats(counts: Mapping[bytes | str, bytes | str], latency: Mapping[bytes | str, bytes | str]) -> TaskStats:
    """Turn the two hashes into TaskStats."""
    parsed_counts: dict[tuple[str, str], int] = {}
    for key, value in counts.items():
        task, _, outcome = _text(key).rpartition(SEPARATOR)
        parsed_counts[(task, outcome)] = int(value)
    per_task: dict[str, dict[str, float]] = defaultdict(dict)
    for key, value in latency.items():
        task, _, part = _text(key).rpartition(SEPARATOR)
        per_task[task][part] = float(value)
    histograms: dict[str, TaskHistogram] = {}
    for task, parts in per_task.items():
        running = 0.0
        buckets = []
        for bound in BUCKETS:
            label = bucket_label(bound)
            running += parts.get(label, 0.0)
            buckets.append((label, running))
        histograms[task] = TaskHistogram(buckets=buckets, total=parts.get("sum", 0.0), count=parts.get("count", 0.0))
    return TaskStats(counts=parsed_counts, latency=histograms)


def read_stats(client: redis.Redis) -> TaskStats:
    """Return the task figures of every worker (for the command line)."""
    return parse_stats(client.hgetall(COUNTS_KEY), client.hgetall(LATENCY_KEY))


async def read_stats_async(client: aioredis.Redis) -> TaskStats:
    """Return the task figures of every worker (for the front-end's event loop)."""
    return parse_stats(await client.hgetall(COUNTS_KEY), await client.hgetall(LATENCY_KEY))
