"""Frames are read without trusting them (ocpp/charge_points/frames.py): too large or too deep is
refused before decoding, with the unique id when its head has one; what is decoded is what
the `ocpp` package would have decoded; a charger's text in a log line is short and one line."""

import json
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.messages import Call, CallError, CallResult

from chargeledger.ocpp.charge_points.frames import (
    MAX_DEPTH,
    MAX_FRAME_CHARACTERS,
    BoundedLogMessages,
    MalformedFrameError,
    decode_frame,
    loggable,
    nesting_depth,
    unique_id_at_head,
    unpack_frame,
)


def nested(depth: int, inner: str = "") -> str:
    """A JSON array `depth` levels deep."""
    return "[" * depth + inner + "]" * depth


def heartbeat_with(value: str, unique_id: str = "deep-1") -> str:
    return f'[2,"{unique_id}","DataTransfer",{{"vendorId":"v","data":{value}}}]'


def refusal(raw: str) -> MalformedFrameError:
    with pytest.raises(MalformedFrameError) as raised:
        decode_frame(raw)
    return raised.value


def test_a_frame_exactly_as_deep_as_allowed_is_decoded() -> None:
    # The frame's own array and the payload object are two levels.
    frame = heartbeat_with(nested(MAX_DEPTH - 2))
    assert nesting_depth(frame) == MAX_DEPTH
    assert decode_frame(frame)[3]["data"] == json.loads(nested(MAX_DEPTH - 2))


def test_one_level_deeper_is_a_format_violation_for_its_unique_id() -> None:
    error = refusal(heartbeat_with(nested(MAX_DEPTH - 1)))
    assert (error.code, error.unique_id, error.message_type) == ("FormatViolation", "deep-1", 2)
    assert str(MAX_DEPTH) in error.description


@pytest.mark.parametrize("depth", [1_000, 10_000, 500_000])
def test_a_frame_nested_far_beyond_any_recursion_limit_is_refused_not_crashed(depth: int) -> None:
    error = refusal(heartbeat_with(nested(depth)))
    assert error.unique_id == "deep-1"
    # Unbalanced too: a frame that never closes its brackets.
    assert refusal("[" * depth).unique_id == "-1"


def test_brackets_inside_strings_do_not_count() -> None:
    text = '"' + "[{" * 10_000 + '\\"]] \\\\' + '"'
    frame = heartbeat_with(text)
    assert nesting_depth(frame) == 2  # the frame and its payload
    assert decode_frame(frame)[3]["data"] == json.loads(text)


def test_an_oversized_frame_is_refused_unread_with_its_unique_id() -> None:
    frame = heartbeat_with('"' + "x" * MAX_FRAME_CHARACTERS + '"', unique_id="big-1")
    error = refusal(frame)
    assert (error.code, error.unique_id) == ("FormatViolation", "big-1")
    assert f"{len(frame)} characters" in error.description


@pytest.mark.parametrize(
    "frame",
    ["{not json", "", '[2, "u", "Heartbeat", {}', "[" + "1" * 5000 + "]", "[NaN-]"],
    ids=["garbage", "empty", "unterminated", "integer-of-5000-digits", "bad-literal"],
)
def test_what_is_not_json_is_a_format_violation_for_unique_id_minus_1(frame: str) -> None:
    error = refusal(frame)
    assert (error.code, error.unique_id) == ("FormatViolation", "-1")


def test_numbers_decode_as_the_ocpp_package_decodes_them() -> None:
    """Integers of any size stay integers (orjson would make 2^70 a float, which schema
    validation then refuses as no integer), and floats stay floats."""
    decoded = decode_frame(f"[2, 1.5, {2**70}, {-(2**63)}, 1e400]")
    assert decoded[2:4] == [2**70, -(2**63)]
    assert isinstance(decoded[2], int)
    assert decoded[1] == 1.5
    assert decoded[4] == float("inf")


@pytest.mark.parametrize(
    ("raw", "head"),
    [
        ('[2,"abc","Heartbeat",' + nested(100) + "}", (2, "abc")),
        ('  [ 3 , "id-\u00e9" , {', (3, "id-\u00e9")),
        ('[2,"' + "x" * 37 + '"', (None, "-1")),  # longer than a unique id may be
        ('[2,"line\nbreak"]', (None, "-1")),
        ('{"a": 1}', (None, "-1")),
        ("[2, 17, ", (None, "-1")),
    ],
)
def test_the_unique_id_is_read_from_the_head_of_an_unreadable_frame(
    raw: str, head: tuple[int | None, str]
) -> None:
    assert unique_id_at_head(raw) == head


def test_messages_are_unpacked_as_the_ocpp_package_unpacks_them() -> None:
    call = unpack_frame('[2, "c-1", "Heartbeat", {}]')
    assert isinstance(call, Call)
    assert (call.unique_id, call.action, call.payload) == ("c-1", "Heartbeat", {})
    result = unpack_frame('[3, "r-1", {"status": "Accepted"}]')
    assert isinstance(result, CallResult)
    assert result.payload == {"status": "Accepted"}
    error = unpack_frame('[4, "e-1", "GenericError", "", {}]')
    assert isinstance(error, CallError)
    assert error.error_code == "GenericError"


@pytest.mark.parametrize(
    ("raw", "code", "unique_id"),
    [
        ("{}", "ProtocolError", "-1"),
        ("[]", "ProtocolError", "-1"),
        ('"Heartbeat"', "ProtocolError", "-1"),
        ('[2, "only-id"]', "ProtocolError", "only-id"),
        ('[2, "c", "Heartbeat", {}, "extra"]', "ProtocolError", "c"),
        ('[2, 17, "Heartbeat", {}]', "ProtocolError", "-1"),
        ('[7, "type-7", "Heartbeat", {}]', "MessageTypeNotSupported", "type-7"),
        ('["2", "t", "Heartbeat", {}]', "MessageTypeNotSupported", "t"),
        (f'[{2**80}, "t", "Heartbeat", {{}}]', "MessageTypeNotSupported", "t"),
        ('[2, "c", ["Heartbeat"], {}]', "FormatViolation", "c"),
        ('[2, "c", "Heartbeat", []]', "FormatViolation", "c"),
        ('[2, "' + "i" * 40 + '", "Heartbeat"]', "ProtocolError", "i" * 36),
    ],
)
def test_json_that_is_no_ocpp_message_is_refused_with_a_code_and_what_id_there_is(
    raw: str, code: str, unique_id: str
) -> None:
    with pytest.raises(MalformedFrameError) as raised:
        unpack_frame(raw)
    assert (raised.value.code, raised.value.unique_id) == (code, unique_id)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n'),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=3), children, max_size=3)
    ),
    max_leaves=30,
)


def true_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(true_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(true_depth, value.values()), default=0)
    return 0


@given(json_values)
def test_the_depth_scan_agrees_with_the_decoded_value(value: Any) -> None:
    """Whatever the strings hold (brackets, quotes, escapes), the scan of the text finds the
    depth of the value it decodes to."""
    assert nesting_depth(json.dumps(value)) == true_depth(value)


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("CP-1 Heartbeat", "CP-1 Heartbeat"),
        ("a\nFORGED line", "a\\nFORGED line"),
        ("a\r\n\x1b[31m\x00", "a\\r\\n\\x1b[31m\\x00"),
        ("para\u2028graph", "para\\u2028graph"),
        ("Wallbox Müller ✓ 'quoted'", "Wallbox Müller ✓ 'quoted'"),
    ],
)
def test_a_chargers_text_in_a_log_line_is_one_line(text: str, logged: str) -> None:
    assert loggable(text) == logged


def test_a_chargers_text_in_a_log_line_is_cut_short_saying_how_much_was_left() -> None:
    logged = loggable("x" * (1024 * 1024), 200)
    assert logged == "x" * 200 + f"…(+{1024 * 1024 - 200} characters)"


def test_the_log_filter_bounds_a_message_whatever_its_arguments() -> None:
    record = logging.LogRecord(
        "ocpp", logging.WARNING, __file__, 1, "Received a CALLError: %s", ("a\nb" * 10_000,), None
    )
    assert BoundedLogMessages(limit=100).filter(record)
    message = record.getMessage()
    assert "\n" not in message
    assert message.startswith("Received a CALLError: a\\nba\\nb")
    assert len(message) < 200
