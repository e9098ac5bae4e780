"""Prometheus metrics of the front-end, and of the workers as recorded in Redis, at GET /metrics.

Request figures are counted in memory through CorrelationMiddleware's observer: one count and one histogram
observation per request, no Redis call. Everything else (locks held, discovery age, queue depth, dead
letters, last reconciliation, worker task figures) is read when Prometheus scrapes. Each app has its own
CollectorRegistry, so several apps in one process never share figures.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import time
from collections.abc import Iterable

import redis.asyncio as aioredis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from wopi_api.state import app_state
from wopi_core.dead_letters import DEAD_LETTERS_KEY
from wopi_core.discovery_store import STATUS_KEY as DISCOVERY_STATUS_KEY
from wopi_core.history import RECONCILE_LAST_KEY, ReconcileReport
from wopi_core.task_metrics import read_stats_async

logger = logging.getLogger(__name__)

CELERY_QUEUE = "celery"
BROKER_TIMEOUT_SECONDS = 1.0
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
REQUEST_LABELS = ["operation", "status", "client"]
REQUESTS_DOC = "HTTP requests answered, by WOPI operation, status and requesting client."
LATENCY_DOC = "Time to answer a request, by WOPI operation, status and requesting client."
MAX_REMEMBERED_AGENTS = 256
CLIENTS = ("office-online", "collabora", "onlyoffice", "validator", "other")
_CLIENT_MARKERS = (
    ("validator", "validator"),
    ("collabora", "collabora"),
    ("coolwsd", "collabora"),
    ("loolwsd", "collabora"),
    ("onlyoffice", "onlyoffice"),
    ("microsoft office", "office-online"),
    ("officeonline", "office-online"),
    ("office online", "office-online"),
    ("msoffice", "office-online"),
)


def client_family(headers: dict[bytes, bytes]) -> str:
    """Return the requesting client as one of CLIENTS, from X-WOPI-RequestingApplication or User-Agent."""
    raw = headers.get(b"x-wopi-requestingapplication") or headers.get(b"user-agent") or b""
    family = _families_seen.get(raw)
    if family is None:
        text = raw.decode("latin-1", errors="replace").lower()
        family = next((family for marker, family in _CLIENT_MARKERS if marker in text), "other")
        if len(_families_seen) >= MAX_REMEMBERED_AGENTS:
            _families_seen.clear()
        _families_seen[raw] = family
    return family


# A deployment has a handful of client identifiers, and each client sends its own on every call.
_families_seen: dict[bytes, str] = {}


class RequestFigures(Collector):
    """Request counts and latency histograms by operation, status and requesting client.

    prometheus_client's Counter and Histogram take a lock and find the bucket by a linear scan on every
    update. Only the event loop updates these figures, so plain lists do, and the families are built when
    Prometheus scrapes.
    """

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self._buckets = buckets
        # Per label set: one count per bucket, then the count above the last bucket, then the sum.
        self._series: dict[tuple[str, str, str], list[float]] = {}

    def observe(self, labels: tuple[str, str, str], seconds: float) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = [0.0] * (len(self._buckets) + 2)
        series[bisect.bisect_left(self._buckets, seconds)] += 1
        series[-1] += seconds

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily("wopi_requests", REQUESTS_DOC, labels=REQUEST_LABELS)
        latency = HistogramMetricFamily("wopi_request_duration_seconds", LATENCY_DOC, labels=REQUEST_LABELS)
        bounds = [repr(float(bound)) for bound in self._buckets] + ["+Inf"]
        for labels, series in sorted(self._series.items()):
            cumulative = list(itertools.accumulate(series[:-1]))
            requests.add_metric(list(labels), cumulative[-1])
            latency.add_metric(list(labels), list(zip(bounds, cumulative, strict=True)), series[-1])
        return [requests, latency]


class ScrapeCollector(Collector):
    """Yields the families the /metrics handler gathered just before it renders the registry."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        return list(self.families)


class FrontEndMetrics:
    """The registry of one app, its request metrics and the handler that renders them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = RequestFigures(REQUEST_BUCKETS)
        self.registry.register(self.requests)
        self.scraped = ScrapeCollector()
        self.registry.register(self.scraped)

    def observe(self, operation: str, status: int, client: str, seconds: float) -> None:
        self.requests.observe((operation, str(status), client), seconds)

    def observe_request(self, operation: str, status: int, headers: dict[bytes, bytes], seconds: float) -> None:
        """Count and time one request; CorrelationMiddleware calls this as its observer."""
        self.observe(operation, status, client_family(headers), seconds)

    async def endpoint(self, request: Request) -> Response:
        """GET /metrics: the Prometheus text format. Parts that cannot be read are left out and logged."""
        self.scraped.families = await gather_families(request)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


async def gather_families(request: Request) -> list[Metric]:
    """Read what is measured at scrape time: locks, discovery, proofs, queue, dead letters, workers."""
    state = app_state(request)
    client = state["redis"]
    families: list[Metric] = []
    proofs = state["proofs"]
    families.append(
        CounterMetricFamily(
            "wopi_proof_failures", "Proof-key checks that failed in this process.", value=proofs.failures
        )
    )
    families.append(
        CounterMetricFamily(
            "wopi_proof_old_key_successes",
            "Proofs that verified only with the old or rotated key in this process.",
            value=proofs.old_key_successes,
        )
    )
    try:
        families.extend(await _redis_families(request, client))
        families.append(_gauge("wopi_redis_up", "Whether Redis answered during this scrape.", 1))
    except Exception as exc:
        logger.warning("metrics could not read Redis error=%s", type(exc).__name__)
        families.append(_gauge("wopi_redis_up", "Whether Redis answered during this scrape.", 0))
    families.extend(await _broker_families(state["settings"].celery_broker_url, client, state["settings"].redis_url))
    return families


async def _redis_families(request: Request, client: aioredis.Redis) -> list[Metric]:
    state = app_state(request)
    families: list[Metric] = [
        _gauge("wopi_locks_held", "WOPI locks currently held.", len(await state["locks"].held())),
        _gauge(
            "wopi_dead_letters",
            "Tasks that failed for good and wait for an operator.",
            await client.llen(DEAD_LETTERS_KEY),
        ),
    ]
    status = {_text(k): _text(v) for k, v in (await client.hgetall(DISCOVERY_STATUS_KEY)).items()}
    if status.get("fetched_at"):
        age = time.time() - float(status["fetched_at"])
        families.append(_gauge("wopi_discovery_age_seconds", "Age of the cached WOPI discovery document.", age))
    families.append(
        CounterMetricFamily(
            "wopi_discovery_fetch_failures", "Discovery fetches that failed.", value=int(status.get("failures", 0))
        )
    )
    raw = await client.get(RECONCILE_LAST_KEY)
    if raw is not None:
        report = ReconcileReport.from_json(raw)
        finished = report.finished_at.timestamp()
        families.append(
            _gauge("wopi_reconcile_last_finished_timestamp_seconds", "When the last reconciliation ended.", finished)
        )
        families.append(
            _gauge(
                "wopi_reconcile_last_age_seconds",
                "Seconds since the last reconciliation ended.",
                time.time() - finished,
            )
        )
        families.append(
            _gauge("wopi_reconcile_last_recorded", "Versions the last reconciliation recovered.", report.recorded)
        )
    families.extend(await _task_families(client))
    return families


async def _task_families(client: aioredis.Redis) -> list[Metric]:
    stats = await read_stats_async(client)
    runs = CounterMetricFamily(
        "wopi_worker_tasks",
        "Worker task runs by task and outcome (success, failure, retry).",
        labels=["task", "outcome"],
    )
    for (task, outcome), count in sorted(stats.counts.items()):
        runs.add_metric([task, outcome], count)
    latency = HistogramMetricFamily(
        "wopi_worker_task_duration_seconds", "Worker task run time by task.", labels=["task"]
    )
    for task, histogram in sorted(stats.latency.items()):
        latency.add_metric([task], histogram.buckets, histogram.total)
    return [runs, latency]


async def _broker_families(broker_url: str, client: aioredis.Redis, redis_url: str) -> list[Metric]:
    """Read the queue depth from the broker, with a short timeout when it is a separate server."""
    up_doc = "Whether the Celery broker answered during this scrape."
    broker = client if broker_url == redis_url else None
    try:
        if broker is None:
            broker = aioredis.Redis.from_url(
                broker_url, socket_timeout=BROKER_TIMEOUT_SECONDS, socket_connect_timeout=BROKER_TIMEOUT_SECONDS
            )
        depth = await broker.llen(CELERY_QUEUE)
    except Exception as exc:
        logger.warning("metrics could not read the broker error=%s", type(exc).__name__)
        return [_gauge("wopi_broker_up", up_doc, 0)]
    finally:
        if broker is not None and broker is not client:
            await broker.aclose()
    queue = GaugeMetricFamily("wopi_queue_depth", "Task messages waiting in the broker queue.", labels=["queue"])
    queue.add_metric([CELERY_QUEUE], depth)
    return [_gauge("wopi_broker_up", up_doc, 1), queue]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value
