"""Logging set up once per process: one JSON object per line, with the correlation id of the current call."""

from __future__ import annotations

import contextvars
import logging
import logging.config
import os
import threading
import time
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


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes INFO and DEBUG lines in batches instead of one write per line.

    One write and flush per access-log line costs more than the rest of a CheckFileInfo under load.
    Lines are written at least every FLUSH_INTERVAL seconds by a daemon thread, at once for WARNING
    and above, and at exit by logging.shutdown. A process killed with SIGKILL can lose the lines of
    its last interval.
    """

    FLUSH_INTERVAL = 0.25
    MAX_PENDING = 256

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._start_flusher()
        os.register_at_fork(after_in_child=self._after_fork)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record))
            if record.levelno >= logging.WARNING or len(self._pending) >= self.MAX_PENDING:
                self._write_pending()
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_pending()
        finally:
            self.release()

    def _write_pending(self) -> None:
        if self._pending:
            lines, self._pending = self._pending, []
            self.stream.write(self.terminator.join(lines) + self.terminator)
        if hasattr(self.stream, "flush"):
            self.stream.flush()

    def _start_flusher(self) -> None:
        thread = threading.Thread(target=self._flush_periodically, name="log-flusher", daemon=True)
        thread.start()

    def _flush_periodically(self) -> None:
        while True:
            time.sleep(self.FLUSH_INTERVAL)
            if self._pending:
                self.flush()

    def _after_fork(self) -> None:
        # Pending lines belong to the parent, which writes them; the child needs its own flusher thread.
        self._pending = []
        self._start_flusher()


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records, as JSON lines, to standard error at the given level."""
    # The JSON lines carry neither the calling line nor thread and process names, so the logging
    # module need not look them up for every record (the optimisations its documentation lists).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"context": {"()": ContextFilter}},
            "formatters": {"json": {"()": JsonFormatter}},
            "handlers": {
                "stderr": {
                    "()": BufferedStreamHandler,
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
