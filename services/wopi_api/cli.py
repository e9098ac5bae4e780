"""The `wopihost` command: run the host or its parts, manage files, and mint access tokens."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from wopi_api import embedded
from wopi_api.commands import register_all
from wopi_api.events import EventPublisher
from wopi_core.errors import ConfigError, WopiError
from wopi_core.events import FileSaved
from wopi_core.logging import configure_logging
from wopi_core.models import Permission, User
from wopi_core.settings import Settings, load_settings, resolve_jwt_secret
from wopi_core.storage import create_storage
from wopi_core.tokens import issue_token

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_OWNER = "admin"
SERVER_COMMANDS = frozenset({"serve", "api", "worker", "beat"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wopihost",
        description="A WOPI host: Office for the web and Collabora Online open and save documents through it. "
        "Configuration comes from WOPI_* environment variables (see README.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run everything on one machine: front-end, worker with beat, and a bundled Redis-compatible server",
        description="Run the embedded default. Starts a bundled Valkey server unless WOPI_REDIS_URL is set, and "
        "uses filesystem storage in the data directory unless WOPI_S3_ENDPOINT is set. Ctrl-C stops everything.",
    )
    _add_listen_options(serve)
    serve.add_argument(
        "--data-dir", type=Path, help="storage and state directory (default: WOPI_DATA_DIR or ./wopihost-data)"
    )
    serve.set_defaults(handler=run_serve)

    api = commands.add_parser("api", help="run the front-end only (needs WOPI_REDIS_URL)")
    _add_listen_options(api)
    api.set_defaults(handler=run_api)

    worker = commands.add_parser("worker", help="run a Celery worker (needs WOPI_REDIS_URL)")
    worker.add_argument("--beat", action="store_true", help="also run the beat scheduler inside this worker")
    worker.add_argument("--concurrency", type=int, default=1, help="worker processes (default: 1)")
    worker.set_defaults(handler=run_worker)

    beat = commands.add_parser("beat", help="run the Celery beat scheduler for periodic jobs (run exactly one)")
    beat.set_defaults(handler=run_beat)

    files = commands.add_parser("files", help="add and list stored files")
    file_commands = files.add_subparsers(dest="files_command", required=True, metavar="ACTION")
    add = file_commands.add_parser("add", help="store a local file and print its new file id")
    add.add_argument("path", type=Path, help="the file to store")
    add.add_argument("--name", help="file name to store it under (default: the file's own name)")
    add.add_argument("--owner", default=DEFAULT_OWNER, help=f"owner user id (default: {DEFAULT_OWNER})")
    add.set_defaults(handler=run_files_add)
    listing = file_commands.add_parser("list", help="list stored files: id, size, version, name")
    listing.add_argument("--search", help="list indexed files whose name contains TEXT (needs WOPI_REDIS_URL)")
    listing.set_defaults(handler=run_files_list)

    token = commands.add_parser(
        "token", help="mint an access token and print it as JSON with access_token_ttl and wopi_src"
    )
    token.add_argument("file_id", help="the file the token is for")
    token.add_argument("--user", required=True, help="user id (stable, unique per user)")
    token.add_argument("--name", help="user display name (default: the user id)")
    token.add_argument("--view", action="store_true", help="view-only token (default: edit)")
    token.set_defaults(handler=run_token)
    register_all(commands)
    return parser


def _add_listen_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port to listen on (default: {DEFAULT_PORT})"
    )


def load(args: argparse.Namespace) -> Settings:
    """Load settings from the environment, with command-line options taking precedence."""
    environ = dict(os.environ)
    data_dir = getattr(args, "data_dir", None)
    if data_dir is not None:
        environ["WOPI_DATA_DIR"] = str(data_dir)
    if "WOPI_BASE_URL" not in environ and hasattr(args, "port"):
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        environ["WOPI_BASE_URL"] = f"http://{host}:{args.port}"
    if args.command not in SERVER_COMMANDS:
        environ = embedded.attach_to_running_host(environ)
    return resolve_jwt_secret(load_settings(environ))


def require_redis(settings: Settings, command: str) -> None:
    if not settings.redis_url:
        raise ConfigError([f"WOPI_REDIS_URL: missing; `wopihost {command}` needs it (`wopihost serve` starts one)"])


def run_serve(args: argparse.Namespace) -> int:
    settings = load(args)
    redis_server = None
    worker = None
    # uvicorn restores this handler and raises SIGTERM again after its graceful shutdown; exiting
    # through SystemExit lets the finally block below stop the worker and the bundled server too.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if not settings.redis_url:
        redis_server, settings = embedded.start_redis(settings)
    try:
        worker = embedded.WorkerSupervisor(settings)
        worker.start()
        embedded.write_runtime_file(settings)
        _serve_api(settings, args.host, args.port)
    finally:
        embedded.remove_runtime_file(settings)
        if worker is not None:
            worker.stop()
        if redis_server is not None:
            redis_server.stop()
            logger.info("bundled Valkey server stopped")
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run_api(args: argparse.Namespace) -> int:
    settings = load(args)
    require_redis(settings, "api")
    _serve_api(settings, args.host, args.port)
    return 0


def _serve_api(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from wopi_api.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    logger.info("front-end listening on http://%s:%s public_url=%s", host, port, settings.base_url)
    uvicorn.Server(config).run()


def run_worker(args: argparse.Namespace) -> int:
    from wopi_workers.app import run_worker as start

    settings = load(args)
    require_redis(settings, "worker")
    start(settings, beat=args.beat, concurrency=args.concurrency, loglevel=settings.log_level)
    return 0


def run_beat(args: argparse.Namespace) -> int:
    from wopi_workers.app import run_beat as start

    settings = load(args)
    require_redis(settings, "beat")
    start(settings)
    return 0


def run_files_add(args: argparse.Namespace) -> int:
    settings = load(args)
    path: Path = args.path
    if not path.is_file():
        raise ConfigError([f"{path}: not found or not a regular file"])
    storage = create_storage(settings)
    with path.open("rb") as source:
        info = storage.create_file(args.name or path.name, args.owner, source, max_size=settings.max_file_size)
    if settings.redis_url:
        # The first version enters the history now rather than at the next reconciliation.
        publisher = EventPublisher(settings)
        try:
            publisher.file_saved(FileSaved(file_id=info.file_id, version_id=info.version))
        finally:
            publisher.close()
    _output(info.file_id)
    return 0


def run_files_list(args: argparse.Namespace) -> int:
    if args.search is not None:
        from wopi_api.commands.admin import run_files_search

        settings = load(args)
        require_redis(settings, "files list --search")
        for line in run_files_search(settings, args.search):
            _output(line)
        return 0
    storage = create_storage(load(args))
    for info in storage.list_files():
        _output(f"{info.file_id}  {info.size:>12}  v{info.version:<8}  {info.name}")
    return 0


def run_token(args: argparse.Namespace) -> int:
    settings = load(args)
    storage = create_storage(settings)
    storage.stat(args.file_id)
    user = User(user_id=args.user, display_name=args.name or args.user)
    permission = Permission.VIEW if args.view else Permission.EDIT
    issued = issue_token(settings, args.file_id, user, permission)
    result = {
        "access_token": issued.access_token,
        "access_token_ttl": issued.access_token_ttl,
        "wopi_src": f"{settings.base_url}/wopi/files/{args.file_id}",
    }
    _output(json.dumps(result, indent=2))
    return 0


def _output(text: str) -> None:
    sys.stdout.write(text + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(os.environ.get("WOPI_LOG_LEVEL", "INFO").upper())
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        sys.stderr.write(f"wopihost: {exc}\n")
        return 2
    except WopiError as exc:
        sys.stderr.write(f"wopihost: {exc.message}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
