"""JSON log lines: the formatter, the buffered handler and the LogRecord-free path of the access log."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from wopi_core.logging import BufferedStreamHandler, ContextFilter, JsonFormatter, LineLogger, json_line

LOGGER_NAME = "wopi_tests.access"


@pytest.fixture
def json_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose only handler is a BufferedStreamHandler with the JSON formatter, writing to a buffer."""
    stream = io.StringIO()
    handler = BufferedStreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.handlers = []
        logger.propagate = True
        handler.close()


def written(stream: io.StringIO, handler: logging.Handler) -> list[dict[str, object]]:
    handler.flush()
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_drops_empty_fields() -> None:
    line = json_line(0.25, "INFO", "a.b", "hello", {"file_id": "f1", "session_id": "", "user_id": None})
    assert orjson.loads(line) == {
        "time": "1970-01-01T00:00:00.250+00:00",
        "level": "INFO",
        "logger": "a.b",
        "message": "hello",
        "file_id": "f1",
    }


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        (0.0, "1970-01-01T00:00:00.000+00:00"),
        (1_780_000_000.999, "2026-05-28T20:26:40.999+00:00"),
        (1_780_000_001.0005, "2026-05-28T20:26:41.000+00:00"),
    ],
)
def test_json_line_time_is_utc_milliseconds(created: float, expected: str) -> None:
    assert orjson.loads(json_line(created, "INFO", "x", "m", {}))["time"] == expected


def test_line_logger_matches_formatter(json_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_logger
    fields = {"operation": "CheckFileInfo", "status": 200, "correlation_id": "c-1", "session_id": "s-1"}
    LineLogger(logger).info("%s status=%s", "CheckFileInfo", 200, fields=fields)
    logger.info("%s status=%s", "CheckFileInfo", 200, extra=fields)
    fast, slow = written(stream, logger.handlers[0])
    assert isinstance(fast["time"], str) and isinstance(slow["time"], str)
    fast.pop("time")
    slow.pop("time")
    assert fast == slow
    assert fast["message"] == "CheckFileInfo status=200"
    assert fast["correlation_id"] == "c-1"


def test_line_logger_respects_level(json_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_logger
    logger.setLevel(logging.WARNING)
    LineLogger(logger).info("quiet", fields={"status": 200})
    assert written(stream, logger.handlers[0]) == []


def test_line_logger_falls_back_to_logger(
    json_logger: tuple[logging.Logger, io.StringIO], caplog: pytest.LogCaptureFixture
) -> None:
    logger, stream = json_logger
    logger.propagate = True
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        LineLogger(logger).info("%s file_id=%s", "GetFile", "f2", fields={"file_id": "f2"})
    captured = [record for record in caplog.records if record.name == LOGGER_NAME]
    assert captured and all(record.getMessage() == "GetFile file_id=f2" for record in captured)
    assert getattr(captured[0], "file_id", None) == "f2"
    assert written(stream, logger.handlers[0])[0]["message"] == "GetFile file_id=f2"


def test_line_logger_respects_logger_filter(json_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_logger
    other_logger_only = logging.Filter("some.other.logger")
    logger.addFilter(other_logger_only)
    try:
        LineLogger(logger).info("filtered", fields={})
    finally:
        logger.removeFilter(other_logger_only)
    assert written(stream, logger.handlers[0]) == []


def test_buffered_handler_flushes_warnings(json_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_logger
    logger.info("held back")
    assert stream.getvalue() == ""
    logger.warning("urgent")
    lines = stream.getvalue().splitlines()
    assert [orjson.loads(line)["message"] for line in lines] == ["held back", "urgent"]
