"""`wopihost open` prints a host page URL for a file; `wopihost discovery show|refresh` inspects discovery."""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from wopi_core.discovery import Discovery, fetch_discovery
from wopi_core.discovery_store import FETCH_TIMEOUT_SECONDS, load_cached, read_status, refresh_discovery
from wopi_core.errors import BadRequest, ConfigError
from wopi_core.launch import (
    TICKET_TTL_SECONDS,
    WRITE_ACTIONS,
    LaunchError,
    create_ticket_sync,
    find_client_action,
    make_launch_request,
    ticket_host_page_url,
)
from wopi_core.settings import Settings
from wopi_core.storage import create_storage
from wopi_core.urls import host_page_url

GRANT_TTL_SECONDS = 600
"""Lifetime of the reusable link `wopihost open` prints when no Redis is configured for tickets."""


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the `open` and `discovery` sub-commands."""
    opener = commands.add_parser(
        "open",
        help="print a host page URL that opens a file in the WOPI client",
        description="Print a host page URL for one user. With a Redis server (WOPI_REDIS_URL, or the bundled one "
        "of a running `wopihost serve` on the same data directory) and cached WOPI discovery, it carries a "
        f"single-use ticket valid for {TICKET_TTL_SECONDS} s. Without a Redis server it is a signed link valid "
        f"for {GRANT_TTL_SECONDS} s.",
    )
    opener.add_argument("file_id", metavar="FILE_ID", help="the file to open")
    opener.add_argument("--user", required=True, help="user id (stable, unique per user)")
    opener.add_argument("--name", default="", help="user display name (default: the user id)")
    opener.add_argument("--action", default="edit", help="discovery action: view, edit, ... (default: edit)")
    opener.add_argument(
        "--permission",
        choices=("view", "edit"),
        help="the user's rights (default: edit for edit, editnew and convert, else view)",
    )
    opener.add_argument("--language", default="", help="UI and data language tag, such as en-US")
    opener.set_defaults(handler=run_open)

    discovery = commands.add_parser("discovery", help="show or refresh the cached WOPI discovery")
    actions = discovery.add_subparsers(dest="discovery_command", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print the cached apps, actions, proof-key fingerprints and age")
    show.set_defaults(handler=run_discovery_show)
    refresh = actions.add_parser("refresh", help="fetch WOPI_DISCOVERY_URL now, cache it in Redis and print it")
    refresh.set_defaults(handler=run_discovery_refresh)


def _load(args: argparse.Namespace) -> Settings:
    from wopi_api.cli import load

    return load(args)


def _redis(settings: Settings) -> redis.Redis:
    timeout = settings.redis_timeout
    return redis.Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)


def _write(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _cannot_open(reason: str) -> int:
    """Explain on standard error why no host page URL was printed, and return exit code 2."""
    sys.stderr.write(f"wopihost: cannot open the file: {reason}\n")
    return 2


def run_open(args: argparse.Namespace) -> int:
    settings = _load(args)
    permission = args.permission or ("edit" if args.action in WRITE_ACTIONS else "view")
    try:
        launch = make_launch_request(args.file_id, args.user, args.name, permission, args.action, args.language)
    except LaunchError as exc:
        raise BadRequest(str(exc)) from exc
    info = create_storage(settings).stat(args.file_id)
    if not settings.redis_url:
        expires_at = int(time.time()) + GRANT_TTL_SECONDS
        _write(
            host_page_url(
                settings, launch.file_id, launch.user, launch.permission, action=launch.action, expires_at=expires_at
            )
        )
        sys.stderr.write(f"wopihost: WOPI_REDIS_URL is not set; this link works for {GRANT_TTL_SECONDS} s\n")
        return 0
    client = _redis(settings)
    try:
        discovery = load_cached(client)
        if discovery is None:
            return _cannot_open(
                "no WOPI discovery is cached; set WOPI_DISCOVERY_URL and run `wopihost discovery refresh`"
            )
        try:
            find_client_action(discovery, launch.action, info.name)
        except LaunchError as exc:
            return _cannot_open(str(exc))
        ticket = create_ticket_sync(client, launch)
    finally:
        client.close()
    _write(ticket_host_page_url(settings, launch.file_id, ticket))
    sys.stderr.write(f"wopihost: the link works once, within {TICKET_TTL_SECONDS} s\n")
    return 0


def run_discovery_show(args: argparse.Namespace) -> int:
    settings = _load(args)
    _write(f"source: {settings.discovery_url or '(WOPI_DISCOVERY_URL is not set)'}")
    if not settings.redis_url:
        if not settings.discovery_url:
            raise ConfigError(["WOPI_DISCOVERY_URL: missing; nothing to show"])
        _write("cache: none (WOPI_REDIS_URL is not set); fetched now, not stored")
        _print_discovery(fetch_discovery(settings.discovery_url, FETCH_TIMEOUT_SECONDS, now=time.time()))
        return 0
    client = _redis(settings)
    try:
        status = read_status(client)
        discovery = load_cached(client)
    finally:
        client.close()
    _write(f"failed fetches: {status.failures}" + (f" (last error: {status.last_error})" if status.last_error else ""))
    if discovery is None:
        _write("cache: empty; run `wopihost discovery refresh`")
        return 1
    _print_discovery(discovery)
    return 0


def run_discovery_refresh(args: argparse.Namespace) -> int:
    from wopi_api.cli import require_redis

    settings = _load(args)
    require_redis(settings, "discovery refresh")
    if not settings.discovery_url:
        raise ConfigError(["WOPI_DISCOVERY_URL: missing; set it to the WOPI client's discovery URL"])
    client = _redis(settings)
    try:
        discovery = refresh_discovery(client, settings.discovery_url)
        status = read_status(client)
    finally:
        client.close()
    if discovery is None:
        sys.stderr.write(f"wopihost: discovery refresh failed: {status.last_error}\n")
        sys.stderr.write(f"wopihost: the last good copy stays in use; failed fetches: {status.failures}\n")
        return 1
    _write(f"source: {settings.discovery_url}")
    _print_discovery(discovery)
    return 0


def _print_discovery(discovery: Discovery) -> None:
    _write(f"fetched: {_age(discovery.fetched_at)}")
    _write(f"proof key: {_fingerprint(discovery.proof_key.current)}")
    _write(f"old proof key: {_fingerprint(discovery.proof_key.old)}")
    _write(f"zones: {', '.join(discovery.zones) or '(none)'}")
    _write(f"apps: {discovery.app_count()}  actions: {discovery.action_count()}")
    extensions: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for action in discovery.actions:
        if action.urlsrc:
            extensions[(action.zone, action.app_name)][action.name].add(action.ext or "-")
    for (zone, app), by_action in extensions.items():
        _write(f"  {app} [{zone}]")
        for name in sorted(by_action):
            _write(f"    {name}: {' '.join(sorted(by_action[name]))}")


def _age(fetched_at: float | None) -> str:
    if fetched_at is None:
        return "unknown"
    moment = datetime.fromtimestamp(fetched_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    seconds = max(0, int(time.time() - fetched_at))
    hours, rest = divmod(seconds, 3600)
    return f"{moment} ({hours} h {rest // 60} min ago)"


def _fingerprint(key: rsa.RSAPublicKey | None) -> str:
    """Return SHA-256 of the key's SubjectPublicKeyInfo, as hex, and its size; "none" without a key."""
    if key is None:
        return "none"
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"SHA256:{hashlib.sha256(der).hexdigest()} ({key.key_size}-bit RSA)"
