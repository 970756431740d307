"""An OCPP-J frame read without trusting it, and a charger's text made fit for a log line.

A frame's size and nesting are checked before it is decoded: Python's JSON decoder, the
`ocpp` package's key conversion and JSON schema validation, and our event log all recurse
over a message, so a frame nested thousands deep would exhaust the stack somewhere (or the
event log's encoder, which stops at 255 levels). A refused frame is answered with a CALLERROR
like any other malformed one, and the connection stays open.
"""

import json
import logging
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from ocpp.messages import Call, CallError, CallResult, MessageType

# The largest frame we read. A charger's largest messages are meter value batches after it
# was offline (a few hundred kB at most) and 2.0.1 reports, which it splits into parts
# (`tbc`) well before this. Larger frames are answered with a CALLERROR, unread. Granian (the
# WebSocket layer) holds at most 16 MiB per WebSocket frame and 64 MiB per message; beyond
# those it closes the connection itself.
MAX_FRAME_CHARACTERS = 1024 * 1024
# OCPP payloads nest about ten levels (a 2.0.1 charging schedule's costs, with customData);
# vendor data in customData or DataTransfer may add a few. The limit also keeps every
# recursion over a message far from Python's and orjson's (255) limits.
MAX_DEPTH = 64
# OCPP-J: a unique id is at most 36 characters.
MAX_UNIQUE_ID_CHARACTERS = 36
# How much of a charger's text a log line may quote.
MAX_LOGGED_CHARACTERS = 200

# An escape in a JSON string (\" among them); every byte but brackets (which UTF-8 never
# uses inside a multi-byte character); what each bracket does to the depth.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_BRACKETS_PER_STEP = 4096
# The message type and unique id at the head of a frame, read without decoding the rest.
_FRAME_HEAD = re.compile(r'\s*\[\s*(\d{1,3})\s*,\s*"([^"\\\x00-\x1f]{1,36})"')


@dataclass
class MalformedFrameError(Exception):
    """A frame that is no OCPP-J message: what to answer (the error code in 2.0.1's
    spelling), and the message type and unique id if they could be read."""

    code: str
    description: str
    unique_id: str = "-1"
    message_type: int | None = None

    def __str__(self) -> str:
        return self.description


def nesting_depth(text: str, *, at_least: int = 0) -> int:
    """How deeply the JSON text nests arrays and objects (brackets in strings do not count).
    With `at_least`, only whether it nests deeper matters: a text with no more brackets than
    that is answered without scanning (the common case), and a scan stops once deeper.
    Linear, and in C but for one pass over the brackets, a few thousand at a time."""
    if text.count("[") + text.count("{") <= at_least:
        return at_least
    data = text.encode("utf-8", "surrogatepass")
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    # Without escapes, strings lie between the odd and even quotes.
    brackets = b"".join(data.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for start in range(0, len(brackets), _BRACKETS_PER_STEP):
        depths = list(
            accumulate(
                map(_DEPTH_STEP.__getitem__, brackets[start : start + _BRACKETS_PER_STEP]),
                initial=depth,
            )
        )
        depth, deepest = depths[-1], max(deepest, *depths)
        if deepest > at_least > 0:
            break  # deep enough to refuse: the rest need not be read
    return deepest


def unique_id_at_head(raw: str) -> tuple[int | None, str]:
    """The message type and unique id at the start of a frame that could not be decoded
    (too large, too deep), so that the charger learns which call failed; (None, "-1") when
    its head is no OCPP-J message either, as OCPP-J asks."""
    head = _FRAME_HEAD.match(raw, 0, 64)
    if head is None:
        return None, "-1"
    return int(head.group(1)), head.group(2)


def decode_frame(raw: str) -> Any:
    """The frame's JSON value, or MalformedFrameError (FormatViolation) when it is too large,
    too deep or no JSON at all. Numbers decode as the `ocpp` package decodes them (integers
    of any size stay integers), so what validation sees is what the charger sent."""
    if len(raw) > MAX_FRAME_CHARACTERS:
        message_type, unique_id = unique_id_at_head(raw)
        raise MalformedFrameError(
            "FormatViolation",
            f"frame of {len(raw)} characters exceeds the limit of {MAX_FRAME_CHARACTERS}",
            unique_id,
            message_type,
        )
    if nesting_depth(raw, at_least=MAX_DEPTH) > MAX_DEPTH:
        message_type, unique_id = unique_id_at_head(raw)
        raise MalformedFrameError(
            "FormatViolation",
            f"frame nests deeper than {MAX_DEPTH} levels",
            unique_id,
            message_type,
        )
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError: not JSON, or an integer of more than 4,300 digits (Python's limit).
        raise MalformedFrameError("FormatViolation", "frame is not valid JSON") from None


def unpack_frame(raw: str) -> Call | CallResult | CallError:
    """The OCPP-J message in a frame, as the `ocpp` package's `unpack` makes it, from a frame
    decoded by `decode_frame`."""
    message = decode_frame(raw)
    if not isinstance(message, list) or not message:
        raise MalformedFrameError("ProtocolError", "frame is not a JSON array of a message")
    message_type = message[0]
    unique_id = message[1] if len(message) > 1 and isinstance(message[1], str) else "-1"
    unique_id = unique_id[:MAX_UNIQUE_ID_CHARACTERS]
    if isinstance(message_type, bool) or not isinstance(message_type, int):
        raise MalformedFrameError(
            "MessageTypeNotSupported", "the message type is no number", unique_id
        )
    shapes: dict[int, tuple[type[Call] | type[CallResult] | type[CallError], int]] = {
        MessageType.Call: (Call, 4),
        MessageType.CallResult: (CallResult, 3),
        MessageType.CallError: (CallError, 5),
    }
    shape = shapes.get(message_type)
    if shape is None:
        raise MalformedFrameError(
            "MessageTypeNotSupported",
            "unknown message type",  # (the charger's number is not quoted: it may be huge)
            unique_id,
            message_type if -1000 < message_type < 1000 else None,
        )
    message_class, length = shape
    if len(message) != length or not isinstance(message[1], str):
        raise MalformedFrameError(
            "ProtocolError",
            f"a message of type {message_type} has {length} elements, a text unique id first",
            unique_id,
            message_type,
        )
    if message_class is Call and (
        not isinstance(message[2], str) or not isinstance(message[3], dict)
    ):
        raise MalformedFrameError(
            "FormatViolation",
            "a CALL's action must be text and its payload an object",
            unique_id,
            message_type,
        )
    return message_class(*message[1:])


def loggable(value: object, limit: int = MAX_LOGGED_CHARACTERS) -> str:
    """A charger's text as a log line may quote it: at most `limit` characters (and how many
    more there were), line breaks and other control characters escaped, so that it can
    neither flood the log nor forge lines in it."""
    text = value if isinstance(value, str) else str(value)
    cut = text[:limit]
    if not cut.isprintable():
        cut = "".join(
            character if character.isprintable() else _escaped(character) for character in cut
        )
    if len(text) > limit:
        cut += f"…(+{len(text) - limit} characters)"
    return cut


def _escaped(character: str) -> str:
    return repr(character)[1:-1] if character != "'" else character


class BoundedLogMessages(logging.Filter):
    """Keeps every message of a logger loggable (see `loggable`), whatever a caller put in
    it: for the `ocpp` package's own lines, which quote whole frames."""

    def __init__(self, limit: int = MAX_LOGGED_CHARACTERS * 5) -> None:
        super().__init__()
        self.limit = limit

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        bounded = loggable(message, self.limit)
        if bounded != message:
            record.msg, record.args = bounded, None
        return True
