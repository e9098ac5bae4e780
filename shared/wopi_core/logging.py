"""Logging set up once per process: one JSON object per line, with the correlation id of the current call."""

from __future__ import annotations

import contextvars
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

import orjson

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")
session_id: contextvars.ContextVar[str] = contextvars.ContextVar("session_id", default="")

# Attributes every LogRecord has; anything else on a record came from `extra=` and is written out.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime", "taskName"}
)


class ContextFilter(logging.Filter):
    """Adds the correlation and session ids of the current request or task to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "correlation_id", ""):
            record.correlation_id = correlation_id.get()
        if not getattr(record, "session_id", ""):
            record.session_id = session_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """Formats a record and its `extra=` fields as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and value not in ("", None):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records, as JSON lines, to standard error at the given level."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"context": {"()": ContextFilter}},
            "formatters": {"json": {"()": JsonFormatter}},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "json",
                    "filters": ["context"],
                    "stream": "ext://sys.stderr",
                }
            },
            "root": {"level": level, "handlers": ["stderr"]},
            "loggers": {
                # uvicorn's access log contains the query string, and so the access token: our
                # middleware writes the access line from the path alone instead.
                "uvicorn.access": {"level": "CRITICAL", "propagate": False},
                "uvicorn.error": {"level": level},
            },
        }
    )
