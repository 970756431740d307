"""RFC 3339 text <-> UTC epoch milliseconds (chargeledger.domain.instants)."""

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from chargeledger.domain.instants import (
    MAX_INSTANT_MS,
    MIN_INSTANT_MS,
    InvalidInstantError,
    datetime_to_ms,
    format_instant,
    ms_to_datetime,
    parse_instant_ms,
)

# 2024-05-27T13:00:00Z, from calendar.timegm((2024, 5, 27, 13, 0, 0)) * 1000.
MAY_27_13H_MS = 1_716_814_800_000
# 0001-01-01T00:00:00Z, the earliest datetime Python has.
FIRST_YEAR_1_MS = -62_135_596_800_000

instants_ms = st.integers(min_value=MIN_INSTANT_MS, max_value=MAX_INSTANT_MS)
# Offsets RFC 3339 can express: -23:59 .. +23:59, in minutes.
offsets_min = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59)


def wall_clock(ms: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS` of a UTC instant, built without the module under test."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


def parse_or_message(text: str) -> int | str:
    """The instant, or the InvalidInstantError message (any other exception propagates)."""
    try:
        return parse_instant_ms(text)
    except InvalidInstantError as error:
        return str(error)


def offset_text(offset_min: int) -> str:
    sign = "-" if offset_min < 0 else "+"
    hours, minutes = divmod(abs(offset_min), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


# ---- accepted forms, hand-computed ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.001Z", 1),
        ("1970-01-01T01:00:00+01:00", 0),
        ("2023-11-07T05:31:56Z", 1_699_335_116_000),
        ("2024-05-27T13:00:00Z", MAY_27_13H_MS),
        ("2024-05-27t13:00:00z", MAY_27_13H_MS),
        ("2024-05-27 13:00:00Z", MAY_27_13H_MS),
        ("2024-05-27T15:00:00+02:00", MAY_27_13H_MS),
        ("2024-05-27T08:30:00-04:30", MAY_27_13H_MS),
        ("2024-05-27T13:00:00+00:00", MAY_27_13H_MS),
        ("2024-05-27T13:00:00-00:00", MAY_27_13H_MS),
        # +23:59 is the largest offset: 00:30 local is 00:31 UTC the day before.
        ("2024-05-28T00:30:00+23:59", 1_716_769_860_000),
        ("2024-05-26T13:01:00-23:59", MAY_27_13H_MS),
        # 2024 is a leap year: 54 * 365 + 13 leap days + 59 days = 19782 days.
        ("2024-02-29T00:00:00Z", 19_782 * 86_400_000),
        ("2024-05-27T13:00:00.5Z", MAY_27_13H_MS + 500),
        ("2024-05-27T13:00:00.12Z", MAY_27_13H_MS + 120),
        ("2024-05-27T13:00:00.123Z", MAY_27_13H_MS + 123),
        ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
        ("9999-12-31T23:59:59.999999999Z", 253_402_300_799_999),
    ],
)
def test_parse_instant_ms_gives_hand_computed_epoch_ms(text: str, expected_ms: int) -> None:
    assert parse_instant_ms(text) == expected_ms


@pytest.mark.parametrize(
    ("fraction", "expected_ms_part"),
    [
        ("0009", 0),
        ("9999", 999),
        ("1235", 123),
        ("123999", 123),
        ("999999999", 999),
        ("0005", 0),
    ],
)
def test_parse_truncates_sub_millisecond_digits_instead_of_rounding(
    fraction: str, expected_ms_part: int
) -> None:
    """`.9999` is 999 ms, not the next second: an instant never moves forward."""
    assert parse_instant_ms(f"2024-05-27T13:00:00.{fraction}Z") == MAY_27_13H_MS + expected_ms_part


def test_parse_truncation_never_crosses_into_the_next_second_or_day() -> None:
    assert parse_instant_ms("2024-05-27T23:59:59.99999Z") == MAY_27_13H_MS + 11 * 3_600_000 - 1


def test_parse_rejects_an_offset_that_pushes_the_instant_past_year_9999() -> None:
    """9999-12-31T23:59:59.999-00:01 is 10000-01-01T00:00:59.999Z, past MAX_INSTANT_MS."""
    with pytest.raises(InvalidInstantError, match="outside the years 1970 to 9999"):
        parse_instant_ms("9999-12-31T23:59:59.999-00:01")


# ---- rejected forms ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # no time zone, no time, incomplete time
        ("2024-05-27T13:00:00", "a time zone, Z or an offset like"),
        ("2024-05-27T13:00:00.123", "a time zone, Z or an offset like"),
        ("2024-05-27", "is not an RFC 3339 date-time"),
        ("2024-05-27T13:00Z", "is not an RFC 3339 date-time"),
        ("13:00:00Z", "is not an RFC 3339 date-time"),
        # malformed offsets
        ("2024-05-27T13:00:00+0200", "is not an RFC 3339 date-time"),
        ("2024-05-27T13:00:00+02", "is not an RFC 3339 date-time"),
        ("2024-05-27T13:00:00 +02:00", "is not an RFC 3339 date-time"),
        ("2024-05-27T13:00:00UTC", "is not an RFC 3339 date-time"),
        ("2024-05-27T13:00:00ZZ", "is not an RFC 3339 date-time"),
        # impossible offsets
        ("2024-05-27T13:00:00+24:00", r"impossible UTC offset \+24:00"),
        ("2024-05-27T13:00:00-24:00", "impossible UTC offset -24:00"),
        ("2024-05-27T13:00:00+02:60", r"impossible UTC offset \+02:60"),
        ("2024-05-27T13:00:00+99:99", r"impossible UTC offset \+99:99"),
        # impossible dates and times
        ("2024-02-30T00:00:00Z", "is not a valid date-time"),
        ("2023-02-29T00:00:00Z", "is not a valid date-time"),
        ("2024-04-31T00:00:00Z", "is not a valid date-time"),
        ("2024-13-01T00:00:00Z", "is not a valid date-time"),
        ("2024-00-10T00:00:00Z", "is not a valid date-time"),
        ("2024-05-00T00:00:00Z", "is not a valid date-time"),
        ("2024-05-27T24:00:00Z", "is not a valid date-time"),
        ("2024-05-27T13:60:00Z", "is not a valid date-time"),
        ("2016-12-31T23:59:60Z", "is not a valid date-time"),
        ("0000-01-01T00:00:00Z", "is not a valid date-time"),
        # outside 1970..9999
        ("1969-12-31T23:59:59.999Z", "outside the years 1970 to 9999"),
        ("1970-01-01T00:30:00+01:00", "outside the years 1970 to 9999"),
        ("0001-01-01T00:00:00Z", "outside the years 1970 to 9999"),
        ("1900-06-01T12:00:00Z", "outside the years 1970 to 9999"),
        ("10000-01-01T00:00:00Z", "is not an RFC 3339 date-time"),
        # fractions
        ("2024-05-27T13:00:00.Z", "is not an RFC 3339 date-time"),
        ("2024-05-27T13:00:00.1234567890Z", "is not an RFC 3339 date-time"),
        ("2024-05-27T13:00:00,123Z", "is not an RFC 3339 date-time"),
        # garbage
        ("", "is not an RFC 3339 date-time"),
        ("garbage", "is not an RFC 3339 date-time"),
        ("1716814800000", "is not an RFC 3339 date-time"),
        ("2024-05-27X13:00:00Z", "is not an RFC 3339 date-time"),
        ("２０２４-05-27T13:00:00Z", "is not an RFC 3339 date-time"),
    ],
)
def test_parse_rejects_non_instants_with_invalid_instant_error_and_a_message(
    text: str, message: str
) -> None:
    with pytest.raises(InvalidInstantError, match=message) as caught:
        parse_instant_ms(text)
    assert f"'{text}'" in str(caught.value), "the message quotes the offending text"


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-27T13:00:00.\u0661\u0662\u0663Z",  # Arabic-Indic digits in the fraction
        "2024-05-27T13:00:00+\u0660\u0661:\u0660\u0660",  # ... in the offset
        "2024-05-27T13:00:00+\uff10\uff11:\uff10\uff10",  # fullwidth digits in the offset
    ],
)
def test_parse_rejects_non_ascii_digits_which_rfc_3339_does_not_allow(text: str) -> None:
    """RFC 3339 DIGIT is %x30-39; other Unicode decimal digits are not an instant."""
    with pytest.raises(InvalidInstantError):
        parse_instant_ms(text)


def test_invalid_instant_error_is_a_value_error() -> None:
    """Callers (pydantic validators) rely on it being a ValueError."""
    with pytest.raises(ValueError, match="is not an RFC 3339 date-time"):
        parse_instant_ms("yesterday")


# ---- properties -------------------------------------------------------------------------


@given(instants_ms)
def test_parse_of_format_is_identity_for_every_instant_in_range(ms: int) -> None:
    assert parse_instant_ms(format_instant(ms)) == ms


@given(instants_ms)
def test_format_is_wall_clock_plus_milliseconds_only_when_nonzero(ms: int) -> None:
    millis = ms % 1000
    expected = wall_clock(ms) + (f".{millis:03d}" if millis else "") + "Z"
    assert format_instant(ms) == expected


@given(
    st.integers(min_value=86_400_000, max_value=MAX_INSTANT_MS - 86_400_000),
    offsets_min,
)
def test_offset_form_equals_z_form_shifted_by_the_offset(wall_ms: int, offset_min: int) -> None:
    """The same wall clock at +HH:MM is HH:MM earlier than at Z (and later for -HH:MM)."""
    wall = wall_clock(wall_ms)
    assert parse_instant_ms(f"{wall}{offset_text(offset_min)}") == (
        parse_instant_ms(f"{wall}Z") - offset_min * 60_000
    )


@given(instants_ms, offsets_min)
def test_an_instant_written_in_any_offset_parses_to_the_same_ms(ms: int, offset_min: int) -> None:
    local_ms = ms + offset_min * 60_000  # the wall clock at that offset, as if it were UTC
    assume(FIRST_YEAR_1_MS <= local_ms <= MAX_INSTANT_MS)
    text = f"{wall_clock(local_ms)}.{ms % 1000:03d}{offset_text(offset_min)}"
    assert parse_instant_ms(text) == ms


@given(instants_ms, st.sampled_from(["T", "t", " "]), st.sampled_from(["Z", "z", "+00:00"]))
def test_space_and_lowercase_separators_parse_like_the_canonical_t_form(
    ms: int, separator: str, zone: str
) -> None:
    canonical = format_instant(ms)
    variant = canonical[:10] + separator + canonical[11:-1] + zone
    assert parse_instant_ms(variant) == parse_instant_ms(canonical) == ms


@given(instants_ms, st.text(alphabet="0123456789", min_size=0, max_size=6))
def test_fractional_seconds_are_truncated_to_the_millisecond(ms: int, extra: str) -> None:
    text = f"{wall_clock(ms)}.{ms % 1000:03d}{extra}Z"
    assert parse_instant_ms(text) == ms


@given(
    year=st.integers(min_value=1, max_value=9999),
    month=st.integers(min_value=0, max_value=13),
    day=st.integers(min_value=0, max_value=32),
    hour=st.integers(min_value=0, max_value=25),
    minute=st.integers(min_value=0, max_value=61),
    second=st.integers(min_value=0, max_value=61),
    offset_hours=st.integers(min_value=0, max_value=30),
    offset_minutes=st.integers(min_value=0, max_value=70),
    negative=st.booleans(),
)
def test_well_shaped_text_parses_exactly_when_every_field_is_valid(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    offset_hours: int,
    offset_minutes: int,
    negative: bool,
) -> None:
    """Independent oracle: calendar.monthrange and calendar.timegm decide validity and value."""
    sign = "-" if negative else "+"
    text = (
        f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
        f"{sign}{offset_hours:02d}:{offset_minutes:02d}"
    )
    valid_fields = (
        1 <= month <= 12
        and 1 <= day <= calendar.monthrange(year, month)[1]
        and hour <= 23
        and minute <= 59
        and second <= 59
        and offset_hours <= 23
        and offset_minutes <= 59
    )
    expected_ms: int | None = None
    if valid_fields:
        offset_s = (offset_hours * 3600 + offset_minutes * 60) * (-1 if negative else 1)
        ms = (calendar.timegm((year, month, day, hour, minute, second)) - offset_s) * 1000
        if MIN_INSTANT_MS <= ms <= MAX_INSTANT_MS:
            expected_ms = ms
    if expected_ms is None:
        with pytest.raises(InvalidInstantError):
            parse_instant_ms(text)
    else:
        assert parse_instant_ms(text) == expected_ms


@given(st.integers(min_value=FIRST_YEAR_1_MS, max_value=-1))
def test_instants_before_1970_are_rejected(ms: int) -> None:
    with pytest.raises(InvalidInstantError, match="outside the years 1970 to 9999"):
        parse_instant_ms(wall_clock(ms) + "Z")


@example("0" * 65)  # longer than a quote: found by a local run
@given(st.text())
def test_arbitrary_text_either_parses_into_range_or_raises_invalid_instant_error(
    text: str,
) -> None:
    result = parse_or_message(text)
    if isinstance(result, str):
        # Quoted as sent, cut to 64 characters, with what UTF-8 cannot carry escaped.
        shown = text if len(text) <= 64 else text[:63] + "…"
        quoted = "'" + shown.encode("utf-8", "backslashreplace").decode("utf-8") + "'"
        assert quoted in result, "the message quotes the offending text"
    else:
        assert MIN_INSTANT_MS <= result <= MAX_INSTANT_MS


@given(st.text(alphabet="0123456789-:TZ+. tz", max_size=40))
def test_near_miss_text_either_parses_into_range_or_raises_invalid_instant_error(
    text: str,
) -> None:
    result = parse_or_message(text)
    if isinstance(result, str):
        # Quoted as sent, cut to 64 characters, with what UTF-8 cannot carry escaped.
        shown = text if len(text) <= 64 else text[:63] + "…"
        quoted = "'" + shown.encode("utf-8", "backslashreplace").decode("utf-8") + "'"
        assert quoted in result, "the message quotes the offending text"
    else:
        assert MIN_INSTANT_MS <= result <= MAX_INSTANT_MS
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)",
            text.strip(),
        )


# ---- datetime helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected_ms"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), 0),
        (datetime(2024, 5, 27, 13, 0, 0, 999_999, tzinfo=UTC), MAY_27_13H_MS + 999),
        (datetime(2024, 5, 27, 15, 0, tzinfo=timezone(timedelta(hours=2))), MAY_27_13H_MS),
        (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), -1000),
    ],
)
def test_datetime_to_ms_converts_aware_datetimes_truncating_microseconds(
    moment: datetime, expected_ms: int
) -> None:
    assert datetime_to_ms(moment) == expected_ms


def test_datetime_to_ms_rejects_a_naive_datetime() -> None:
    with pytest.raises(InvalidInstantError, match="without a time zone"):
        datetime_to_ms(datetime(2024, 5, 27, 13, 0))  # noqa: DTZ001


@given(instants_ms)
def test_ms_to_datetime_is_an_aware_utc_datetime_that_round_trips(ms: int) -> None:
    moment = ms_to_datetime(ms)
    assert moment.utcoffset() == timedelta(0)
    assert datetime_to_ms(moment) == ms


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (MAY_27_13H_MS, "2024-05-27T13:00:00Z"),
        (MAY_27_13H_MS + 120, "2024-05-27T13:00:00.120Z"),
        (1_699_335_116_000, "2023-11-07T05:31:56Z"),
        (MAX_INSTANT_MS, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_format_instant_gives_hand_computed_text(ms: int, expected: str) -> None:
    assert format_instant(ms) == expected
