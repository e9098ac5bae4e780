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
        fields = {key: value for key, value in record.__dict__.items() if key not in _STANDARD_ATTRIBUTES}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return json_line(record.created, record.levelname, record.name, record.getMessage(), fields)


def json_line(created: float, level: str, logger_name: str, message: str, fields: dict[str, Any]) -> str:
    """Return the JSON line of one event: time, level, logger, message, then each non-empty field."""
    entry: dict[str, Any] = {"time": _iso_time(created), "level": level, "logger": logger_name, "message": message}
    for key, value in fields.items():
        if value not in ("", None):
            entry[key] = value
    return orjson.dumps(entry, default=str).decode()


_second_text = ("", -1)


def _iso_time(created: float) -> str:
    """Return created (Unix seconds) as UTC ISO 8601 with milliseconds, formatting each second once."""
    global _second_text
    second = int(created)
    text, cached = _second_text
    if cached != second:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_text = (text, second)
    return f"{text}.{int((created - second) * 1000):03d}+00:00"


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
            self._add(self.format(record), record.levelno)
        except Exception:
            self.handleError(record)

    def emit_line(self, line: str, level: int) -> None:
        """Write a line already formatted by json_line, as emit would write its record's line."""
        self.acquire()
        try:
            self._add(line, level)
        finally:
            self.release()

    def _add(self, line: str, level: int) -> None:
        self._pending.append(line)
        if level >= logging.WARNING or len(self._pending) >= self.MAX_PENDING:
            self._write_pending()

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


class LineLogger:
    """A writer of one logger's INFO events as JSON lines, which skips the LogRecord when it can.

    A LogRecord and its trip through the logger, the filters and the formatter take about 6 µs, and the
    access log writes one line per request. When every handler the logger reaches is a
    BufferedStreamHandler with a JsonFormatter, this builds the same line the formatter would and hands
    it to the handlers. Otherwise (a test's capture handler, another configuration) it logs through the
    logger. The caller passes the correlation and session ids in fields, because the context filter
    only runs on the slow path.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def info(self, message: str, *args: object, fields: dict[str, Any]) -> None:
        """Log message % args at INFO with fields, as logger.info(message, *args, extra=fields) would."""
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handlers = _json_handlers(logger)
        if handlers is None:
            logger.info(message, *args, extra=fields)
            return
        line = json_line(time.time(), "INFO", logger.name, message % args if args else message, fields)
        for handler in handlers:
            handler.emit_line(line, logging.INFO)


def _json_handlers(logger: logging.Logger) -> list[BufferedStreamHandler] | None:
    """Return the handlers an INFO record of logger reaches, or None unless all write plain JSON lines."""
    found: list[BufferedStreamHandler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if handler.level > logging.INFO:
                continue
            if not (
                type(handler) is BufferedStreamHandler
                and type(handler.formatter) is JsonFormatter
                and all(type(check) is ContextFilter for check in handler.filters)
            ):
                return None
            found.append(handler)
        current = current.parent if current.propagate else None
    return found or None


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
