"""Sub-commands of `wopihost` beyond running the host, one module per area.

Each module listed in COMMAND_MODULES has ``register(commands)``, which adds its sub-parsers and sets
``handler`` on each to a function taking the parsed arguments and returning the exit code.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

COMMAND_MODULES: tuple[str, ...] = ("wopi_api.commands.opening", "wopi_api.commands.admin")


def register_all(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the sub-commands of every module in COMMAND_MODULES."""
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
