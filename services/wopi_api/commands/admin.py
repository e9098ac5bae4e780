"""Operator commands: `wopihost status`, `locks list|release`, `dead-letters list|retry`, `versions list|restore`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio as aioredis
from celery import Celery

from wopi_api import admin_ops
from wopi_api.events import EventPublisher
from wopi_core.dead_letters import count_dead_letters, list_dead_letters, retry_dead_letters
from wopi_core.discovery_store import read_status
from wopi_core.errors import FileNotFound, LockMismatch
from wopi_core.history import HistoryStore
from wopi_core.index import FileIndex
from wopi_core.locks import KEY_PREFIX as LOCK_KEY_PREFIX
from wopi_core.locks import LockStore
from wopi_core.settings import Settings
from wopi_core.storage import create_storage
from wopi_core.versions import describe_versions

CELERY_QUEUE = "celery"
PING_TIMEOUT_SECONDS = 2.0
BROKER_TIMEOUT_SECONDS = 3.0
STALE_RECONCILE_INTERVALS = 3
STALE_DISCOVERY_INTERVALS = 2
EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the operator sub-commands."""
    status = commands.add_parser(
        "status",
        help="print workers, queue, discovery, locks, dead letters and reconciliation; exit 1 when unhealthy",
    )
    status.add_argument("--timeout", type=float, default=PING_TIMEOUT_SECONDS, help="seconds to wait for workers")
    status.set_defaults(handler=run_status)

    locks = commands.add_parser("locks", help="list WOPI locks or force-release one")
    lock_commands = locks.add_subparsers(dest="locks_command", required=True, metavar="ACTION")
    lock_commands.add_parser("list", help="list held locks: file id, lock id, seconds left").set_defaults(
        handler=run_locks_list
    )
    release = lock_commands.add_parser("release", help="remove a file's lock after a client crash (logged)")
    release.add_argument("file_id")
    release.add_argument("--reason", required=True, help="why the lock is released; goes to the log")
    release.set_defaults(handler=run_locks_release)

    letters = commands.add_parser("dead-letters", help="list or publish again the tasks that failed for good")
    letter_commands = letters.add_subparsers(dest="letters_command", required=True, metavar="ACTION")
    listing = letter_commands.add_parser("list", help="list dead letters, oldest first")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(handler=run_dead_letters_list)
    retry = letter_commands.add_parser("retry", help="publish dead letters again, oldest first")
    retry.add_argument("--limit", type=int, default=None, help="at most this many (default: all)")
    retry.set_defaults(handler=run_dead_letters_retry)

    versions = commands.add_parser("versions", help="list a file's versions or restore one")
    version_commands = versions.add_subparsers(dest="versions_command", required=True, metavar="ACTION")
    vlist = version_commands.add_parser("list", help="list recorded versions, newest first")
    vlist.add_argument("file_id")
    vlist.add_argument("--all", action="store_true", help="include retried saves and versions retention hid")
    vlist.set_defaults(handler=run_versions_list)
    restore = version_commands.add_parser("restore", help="make an old version current as a new version")
    restore.add_argument("file_id")
    restore.add_argument("version")
    restore.add_argument("--user", default=admin_ops.DEFAULT_RESTORER, help="user id recorded as the author")
    restore.add_argument("--lock", default="", help="the current WOPI lock id, to restore while it is held")
    restore.set_defaults(handler=run_versions_restore)


def _settings(args: argparse.Namespace, command: str) -> Settings:
    from wopi_api.cli import load, require_redis

    settings = load(args)
    require_redis(settings, command)
    return settings


def _redis(settings: Settings) -> redis.Redis:
    timeout = settings.redis_timeout
    return redis.Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)


def _async_redis(settings: Settings) -> aioredis.Redis:
    timeout = settings.redis_timeout
    return aioredis.Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)


def _celery(settings: Settings) -> Celery:
    app = Celery("wopihost-cli", broker=settings.celery_broker_url, set_as_current=False)
    app.conf.update(
        broker_connection_timeout=BROKER_TIMEOUT_SECONDS,
        broker_connection_retry=False,
        broker_connection_retry_on_startup=False,
        broker_transport_options={
            "socket_timeout": BROKER_TIMEOUT_SECONDS,
            "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
            "max_retries": 0,
        },
    )
    return app


def _write(text: str = "") -> None:
    sys.stdout.write(text + "\n")


@dataclass
class StatusReport:
    """Results of the `wopihost status` checks: each row is (check, value, problem or "")."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, check: str, value: str, problem: str = "") -> None:
        self.rows.append((check, value, problem))

    @property
    def problems(self) -> list[str]:
        return [f"{check}: {problem}" for check, _, problem in self.rows if problem]

    def render(self) -> str:
        width = max(len(check) for check, _, _ in self.rows) + 2
        lines = [
            f"{check:<{width}}{value:<28}{'FAIL ' + problem if problem else 'ok'}"
            for check, value, problem in self.rows
        ]
        return "\n".join(lines)


def _age(seconds: float) -> str:
    return f"{int(seconds)} s ago"


def check_workers(report: StatusReport, alive: int | None, error: str = "") -> None:
    """No live worker is a problem: saves would not be recorded until one starts."""
    if alive is None:
        report.add("workers alive", "unknown", f"the ping failed: {error}" if error else "the broker did not answer")
    else:
        report.add("workers alive", str(alive), "" if alive else "no worker answered the ping")


def check_discovery(report: StatusReport, settings: Settings, fetched_at: float | None, now: float) -> None:
    """Flag a configured discovery that was never fetched or is older than two refresh intervals."""
    if not settings.discovery_url:
        report.add("discovery", "not configured")
    elif fetched_at is None:
        report.add("discovery", "never fetched", "no cached copy; run `wopihost discovery refresh`")
    else:
        age = now - fetched_at
        limit = STALE_DISCOVERY_INTERVALS * settings.discovery_refresh
        report.add("discovery", _age(age), f"older than {limit} s" if age > limit else "")


def check_reconcile(report: StatusReport, settings: Settings, finished_at: float | None, now: float) -> None:
    """Flag a last reconciliation older than three intervals.

    No run yet passes, because beat starts the first run one interval after it starts.
    """
    if finished_at is None:
        report.add("last reconciliation", "not yet run")
        return
    age = now - finished_at
    limit = STALE_RECONCILE_INTERVALS * settings.reconcile_interval
    report.add("last reconciliation", _age(age), f"older than {limit} s; is beat running?" if age > limit else "")


def check_dead_letters(report: StatusReport, count: int) -> None:
    """Any dead letter is a problem: its work is not done until an operator retries or drops it."""
    report.add("dead letters", str(count), "retry with `wopihost dead-letters retry`" if count else "")


def ping_workers(settings: Settings, timeout: float) -> tuple[int | None, str]:
    """Return how many workers answered a ping, or None and the error when the ping could not be sent."""
    app = _celery(settings)
    try:
        replies = app.control.inspect(timeout=timeout).ping() or {}
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        app.close()
    return len(replies), ""


def queue_depth(settings: Settings) -> int | None:
    client = redis.Redis.from_url(
        settings.celery_broker_url, socket_timeout=BROKER_TIMEOUT_SECONDS, socket_connect_timeout=BROKER_TIMEOUT_SECONDS
    )
    try:
        return int(client.llen(CELERY_QUEUE))
    except redis.RedisError:
        return None
    finally:
        client.close()


def collect_status(settings: Settings, timeout: float) -> StatusReport:
    """Gather every check of `wopihost status`."""
    report = StatusReport()
    now = time.time()
    check_workers(report, *ping_workers(settings, timeout))
    depth = queue_depth(settings)
    report.add("queue depth", "unknown" if depth is None else str(depth), "broker unreachable" if depth is None else "")
    client = _redis(settings)
    try:
        client.ping()
    except redis.RedisError as exc:
        report.add("redis", "unreachable", type(exc).__name__)
        return report
    try:
        check_discovery(report, settings, read_status(client).fetched_at, now)
        locks = sum(1 for _ in client.scan_iter(match=LOCK_KEY_PREFIX + "*", count=500))
        report.add("locks held", str(locks))
        check_dead_letters(report, count_dead_letters(client))
        last = HistoryStore(client).last_reconcile()
        check_reconcile(report, settings, last.finished_at.timestamp() if last else None, now)
    finally:
        client.close()
    return report


def run_status(args: argparse.Namespace) -> int:
    report = collect_status(_settings(args, "status"), args.timeout)
    _write(report.render())
    return EXIT_UNHEALTHY if report.problems else EXIT_HEALTHY


def run_locks_list(args: argparse.Namespace) -> int:
    settings = _settings(args, "locks list")

    async def held() -> list[Any]:
        client = _async_redis(settings)
        try:
            return list(await LockStore(client, settings.lock_ttl).held())
        finally:
            await client.aclose()

    for lock in asyncio.run(held()):
        _write(f"{lock.file_id}  {lock.expires_in_ms // 1000:>6} s  {lock.lock_id}")
    return 0


def run_locks_release(args: argparse.Namespace) -> int:
    settings = _settings(args, "locks release")

    async def release() -> bool:
        client = _async_redis(settings)
        try:
            store = LockStore(client, settings.lock_ttl)
            return await admin_ops.force_unlock(store, args.file_id, by=getpass.getuser(), reason=args.reason)
        finally:
            await client.aclose()

    released = asyncio.run(release())
    _write(f"released the lock of {args.file_id}" if released else f"{args.file_id} held no lock")
    return 0


def run_dead_letters_list(args: argparse.Namespace) -> int:
    client = _redis(_settings(args, "dead-letters list"))
    try:
        total = count_dead_letters(client)
        for letter in list_dead_letters(client, args.limit):
            kwargs = " ".join(f"{key}={value}" for key, value in sorted(letter.kwargs.items()))
            _write(f"{letter.failed_at.isoformat()}  {letter.task}  {letter.error_type}: {letter.error}  {kwargs}")
    finally:
        client.close()
    _write(f"{total} dead letter(s)")
    return 0


def run_dead_letters_retry(args: argparse.Namespace) -> int:
    settings = _settings(args, "dead-letters retry")
    client = _redis(settings)
    app = _celery(settings)
    try:
        published = retry_dead_letters(
            client, lambda name, kwargs: app.send_task(name, kwargs=kwargs, retry=False), limit=args.limit
        )
    finally:
        app.close()
        client.close()
    _write(f"published {published} dead letter(s) again")
    return 0


def run_versions_list(args: argparse.Namespace) -> int:
    settings = _settings(args, "versions list")
    current = create_storage(settings).stat(args.file_id).version
    client = _redis(settings)
    try:
        store = HistoryStore(client)
        versions = describe_versions(
            store.list(args.file_id), store.marks(args.file_id), current, include_hidden=args.all
        )
    finally:
        client.close()
    for v in versions:
        flag = "*" if v["current"] else " "
        author = v["author_name"] or v["author_id"]
        _write(f"{flag} {v['version']:<36} {v['modified_at']}  {v['size']:>10}  {v['state']:<9}  {author}")
    return 0


def run_versions_restore(args: argparse.Namespace) -> int:
    settings = _settings(args, "versions restore")
    storage = create_storage(settings)

    async def restore() -> str:
        client = _async_redis(settings)
        publisher = EventPublisher(settings)
        try:
            store = LockStore(client, settings.lock_ttl)
            info = await admin_ops.restore(
                settings, storage, store, publisher, args.file_id, args.version, user_id=args.user, lock_id=args.lock
            )
            return info.version
        finally:
            publisher.close()
            await client.aclose()

    try:
        version = asyncio.run(restore())
    except LockMismatch:
        sys.stderr.write("wopihost: the file is locked by a WOPI client; pass --lock with its lock id or wait\n")
        return 1
    except FileNotFound:
        sys.stderr.write(f"wopihost: version not found: {args.file_id} {args.version}\n")
        return 1
    _write(version)
    return 0


def run_files_search(settings: Settings, search: str) -> list[str]:
    """Return `files list` lines for indexed files whose name contains search."""
    client = _redis(settings)
    try:
        entries = FileIndex(client).list(search)
    finally:
        client.close()
    return [f"{e.file_id}  {e.size:>12}  v{e.version:<8}  {e.name}" for e in entries]
