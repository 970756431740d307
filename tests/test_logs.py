"""Log records become one JSON line each, whatever they carry: line breaks stay inside the
line, secrets and idTags never appear, long values are cut, tracebacks are one field."""

import io
import json
import logging
import pickle
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from chargeledger.logs import MAX_VALUE_CHARS, REDACTED, formatter, logging_config

Log = tuple[logging.Logger, io.StringIO]


@pytest.fixture
def log() -> Iterator[Log]:
    """A logger of its own whose records are formatted as the server formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    logger = logging.getLogger(f"tests.logs.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def lines_of(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def only_line(stream: io.StringIO) -> dict[str, Any]:
    lines = lines_of(stream)
    assert len(lines) == 1, lines
    return lines[0]


def test_a_record_is_one_json_line_with_its_time_level_logger_and_message(log: Log) -> None:
    logger, stream = log
    logger.warning("refused %s from %s", "CP-1", "10.0.0.1")
    line = only_line(stream)
    assert line["event"] == "refused CP-1 from 10.0.0.1"
    assert line["level"] == "warning"
    assert line["logger"] == logger.name
    assert line["timestamp"].endswith("Z")
    assert list(line)[:4] == ["timestamp", "level", "logger", "event"]


def test_line_breaks_in_a_value_cannot_forge_a_line(log: Log) -> None:
    logger, stream = log
    forged = 'CP\n{"level": "info", "event": "admin logged in"}\r\nmore'
    logger.warning("refused %s", forged, extra={"identity": forged})
    line = only_line(stream)
    assert line["event"] == f"refused {forged}"
    assert line["identity"] == forged


def test_extras_are_fields(log: Log) -> None:
    logger, stream = log
    logger.info("request", extra={"method": "GET", "status": 200, "duration_ms": 1.5})
    line = only_line(stream)
    assert (line["method"], line["status"], line["duration_ms"]) == ("GET", 200, 1.5)


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "clientSecret",
        "client_secret",
        "idTag",
        "id_tag",
        "idToken",
        "Authorization",
        "token",
        "access_token",
    ],
)
def test_values_under_secret_keys_are_redacted(log: Log, key: str) -> None:
    logger, stream = log
    logger.info("call", extra={key: "s3cr3t-value", "payload": {key: "s3cr3t-value", "n": 1}})
    line = only_line(stream)
    assert "s3cr3t-value" not in json.dumps(line)
    assert line[key] == REDACTED
    assert line["payload"] == {key: REDACTED, "n": 1}


@pytest.mark.parametrize(
    "text",
    [
        '[2,"1","Authorize",{"idTag":"04A2B3C4"}]',
        "{'idToken': {'idToken': '04A2B3C4', 'type': 'ISO14443'}}",
        "clientSecret=04A2B3C4&clientId=x",
        '{"password": "04A2B3C4"}',
        "Authorization: Bearer 04A2B3C4.payload.sig",
    ],
)
def test_secrets_written_inside_a_message_are_redacted(log: Log, text: str) -> None:
    logger, stream = log
    logger.warning("frame: %s", text)
    line = only_line(stream)
    assert "04A2B3C4" not in line["event"]
    assert REDACTED in line["event"]


def test_a_megabyte_value_is_cut(log: Log) -> None:
    logger, stream = log
    huge = "x" * (1024 * 1024)
    logger.warning("malformed frame: %s", huge, extra={"frame": huge})
    text = stream.getvalue()
    assert len(text) < 3 * MAX_VALUE_CHARS + 1000
    line = only_line(stream)
    assert line["frame"].startswith("x" * MAX_VALUE_CHARS)
    assert line["frame"].endswith(f"({len(huge)} characters, cut)")


def test_a_traceback_is_one_field_of_the_line(log: Log) -> None:
    logger, stream = log
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        logger.exception("the sweep failed")
    line = only_line(stream)
    assert line["event"] == "the sweep failed"
    assert line["level"] == "error"
    assert "Traceback" in line["exception"]
    assert "ValueError: line one\nline two" in line["exception"]


def test_a_huge_traceback_keeps_its_head_and_its_end(log: Log) -> None:
    logger, stream = log
    try:
        raise ValueError("y" * 100_000 + "THE END")
    except ValueError:
        logger.exception("failed")
    line = only_line(stream)
    assert len(line["exception"]) < 10_000
    assert line["exception"].startswith("Traceback")
    assert line["exception"].endswith("THE END")


def test_a_lone_surrogate_still_makes_a_json_line(log: Log) -> None:
    logger, stream = log
    logger.warning("bad start %s", "\ud800", extra={"start": "\ud800"})
    line = only_line(stream)
    assert line["start"] == "\ud800"


def test_lines_written_in_a_request_carry_its_id(log: Log) -> None:
    logger, stream = log
    structlog.contextvars.bind_contextvars(request_id="req-42")
    try:
        logger.info("inside")
    finally:
        structlog.contextvars.clear_contextvars()
    logger.info("outside")
    inside, outside = lines_of(stream)
    assert inside["request_id"] == "req-42"
    assert "request_id" not in outside


def test_the_configuration_pickles_for_granians_workers() -> None:
    """Granian hands it to each worker process; it must name the formatter, not hold it."""
    config = logging_config("json", "info")
    assert pickle.loads(pickle.dumps(config)) == config  # noqa: S301 (our own bytes)
