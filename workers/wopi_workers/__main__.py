"""``python -m wopi_workers worker|beat``: run a worker or the beat scheduler from WOPI_* variables."""

from __future__ import annotations

import argparse
import os
import sys

from wopi_core.errors import ConfigError
from wopi_core.settings import load_settings
from wopi_workers.app import run_beat, run_worker


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, load the settings from the environment, and run until stopped."""
    parser = argparse.ArgumentParser(prog="python -m wopi_workers")
    parser.add_argument("role", choices=("worker", "beat"))
    parser.add_argument("--beat", action="store_true", help="run beat inside the worker")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--loglevel", default=None, help="defaults to WOPI_LOG_LEVEL")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(os.environ)
        loglevel = args.loglevel or settings.log_level
        if args.role == "beat":
            run_beat(settings, loglevel=loglevel)
        else:
            run_worker(settings, beat=args.beat, concurrency=args.concurrency, loglevel=loglevel)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
