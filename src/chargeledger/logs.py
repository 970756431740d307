"""Log records as one JSON object per line (or aligned text for a terminal), for every logger
in the process: ours, Granian's, the `ocpp` package's, warnings. Code keeps calling the
standard library's `logging`; structlog's ProcessorFormatter turns each record into a line.

Every line has `timestamp` (UTC), `level`, `logger` and `event` (the message), the request's
`request_id` inside a request, a record's extras, and `exception` (the traceback, one field).
What clients and chargers send can end up in a line, so before rendering: values under keys
that name secrets (passwords, tokens, idTags) are replaced, `"idTag": "..."`-like text inside
strings is too, and long strings are cut. JSON escapes line breaks: nobody forges a line.
"""

import functools
import json
import logging
import logging.config
import re
from collections.abc import Mapping
from typing import Any, Literal

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["json", "console"]

REDACTED = "[redacted]"
# Long enough for any message of ours and a useful piece of a payload; a 1 MiB frame in a
# log line helps nobody and fills disks.
MAX_VALUE_CHARS = 1_000
MAX_EXCEPTION_CHARS = 8_000
# Keys compared lowercased, without `_` and `-`: `client_secret`, `clientSecret`, `id-tag`.
SECRET_KEYS = frozenset(
    {
        "accesstoken",
        "authorization",
        "clientsecret",
        "cookie",
        "idtag",
        "idtoken",
        "password",
        "refreshtoken",
        "secret",
        "secretkey",
        "setcookie",
        "token",
    }
)
# `"idTag": "04A2B3"`, `password=hunter2`, `Authorization: Bearer eyJ...` inside a message.
_SECRET_IN_TEXT = re.compile(
    r"""(?ix)
    (["']?(?:id[_-]?tag|id[_-]?token|password|client[_-]?secret|access[_-]?token|secret[_-]?key)
     ["']?\s*[:=]\s*)
    ("[^"]*"|'[^']*'|[^\s,;{}\[\]&]+)
    |
    (\bbearer\s+)[A-Za-z0-9._~+/=-]+
    """
)
# Cheap to search for; only text that has one of these is searched for secrets in full.
_SECRET_HINT = re.compile(r"(?i)id[_-]?t|passw|secret|token|bearer")
_MAX_DEPTH = 4
_ESSENTIALS = ("timestamp", "level", "logger", "event", "request_id")


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _names_a_secret(key)


@functools.lru_cache(maxsize=1024)  # a process logs few distinct keys
def _names_a_secret(key: str) -> bool:
    return key.lower().replace("_", "").replace("-", "") in SECRET_KEYS


def _scrub_text(text: str) -> str:
    if len(text) > MAX_VALUE_CHARS:
        text = f"{text[:MAX_VALUE_CHARS]}… ({len(text)} characters, cut)"
    if _SECRET_HINT.search(text) is None:
        return text
    return _SECRET_IN_TEXT.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    if match.group(3) is not None:
        return f"{match.group(3)}{REDACTED}"
    return f"{match.group(1)}{REDACTED}"


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if depth >= _MAX_DEPTH:
        return value if isinstance(value, int | float | bool | None) else "…"
    if isinstance(value, Mapping):
        return {
            key: REDACTED if _is_secret_key(key) else _scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, depth + 1) for item in value[:50]]
    if isinstance(value, bytes | bytearray):
        return _scrub_text(bytes(value[: MAX_VALUE_CHARS + 1]).decode("utf-8", "replace"))
    return value


def scrub_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Secrets out, long values cut; the traceback keeps its head and its tail."""
    for key, value in list(event_dict.items()):
        if key == "exception" and isinstance(value, str):
            event_dict[key] = _cut_middle(_SECRET_IN_TEXT.sub(_redact_match, value))
        elif _is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(value)
    return event_dict


def essentials_first(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """timestamp, level, logger, event, request_id, then the rest: lines read alike."""
    ordered = {key: event_dict.pop(key) for key in _ESSENTIALS if key in event_dict}
    ordered.update(event_dict)
    return ordered


def _cut_middle(text: str) -> str:
    if len(text) <= MAX_EXCEPTION_CHARS:
        return text
    half = MAX_EXCEPTION_CHARS // 2
    return f"{text[:half]}\n… ({len(text) - 2 * half} characters cut) …\n{text[-half:]}"


def _dumps(event_dict: EventDict, **_: Any) -> str:
    try:
        return orjson.dumps(event_dict, default=str).decode()
    except TypeError:
        # orjson refuses lone surrogates ("\ud800", which a JSON payload can carry); the
        # standard library escapes them. A log line must never fail.
        return json.dumps(event_dict, default=str, ensure_ascii=True)


def _shared_processors() -> list[Processor]:
    """What every record gets, whether it came through structlog or plain `logging`."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def formatter(log_format: LogFormat = "json") -> logging.Formatter:
    """The formatter of every handler; named in `logging_config` by its import path."""
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            scrub_event,
            essentials_first,
            renderer,
        ],
    )


def logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` document. Granian applies it in its own process and each
    worker (it must pickle: names, not objects); so does `configure_logging`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "chargeledger": {"()": "chargeledger.logs.formatter", "log_format": log_format}
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "chargeledger",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # Granian's own loggers, which it gives handlers of its own: through ours instead.
            "_granian": {"handlers": [], "propagate": True},
            "granian.access": {"handlers": [], "propagate": True},
            # The package logs every frame, idTags included, at INFO.
            "ocpp": {"level": "WARNING"},
        },
    }


def configure_logging(log_format: LogFormat = "json", level: str = "info") -> None:
    """Route every logger in the process through one handler in `log_format`."""
    logging.config.dictConfig(logging_config(log_format, level))
    logging.captureWarnings(True)  # warnings.warn (SQLAlchemy's, for one) as records too
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
