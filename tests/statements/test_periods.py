"""The `period` parameter: its three forms, what is refused and why, and the UTC window of its
local dates (DST-safe: the local date at the window's start is the period's first day)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chargeledger.domain.instants import format_instant
from chargeledger.domain.reimbursement.counting import local_date
from chargeledger.statements.periods import (
    Period,
    PeriodError,
    local_midnight_ms,
    parse_period,
    period_window_ms,
)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-10", date(2026, 10, 1), date(2026, 11, 1)),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        ("2028-02", date(2028, 2, 1), date(2028, 3, 1)),
        ("2026-Q1", date(2026, 1, 1), date(2026, 4, 1)),
        ("2026-Q4", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026-10-01/2026-11-01", date(2026, 10, 1), date(2026, 11, 1)),
        ("2026-10-15/2026-10-16", date(2026, 10, 15), date(2026, 10, 16)),
        # 366 days, a leap year's whole: the longest custom period.
        ("2028-01-01/2029-01-01", date(2028, 1, 1), date(2029, 1, 1)),
    ],
)
def test_the_three_forms(text: str, start: date, end: date) -> None:
    assert parse_period(text) == Period(start, end)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-13", "no month 13"),
        ("2026-00", "no month 00"),
        ("2026-Q5", "is not a period"),
        ("2026-10-01/2026-10-01", "must be after the start"),
        ("2026-11-01/2026-10-01", "must be after the start"),
        ("2026-01-01/2027-01-03", "at most 366 days"),
        ("2026-02-30/2026-03-01", "is not a date"),
        ("2026-10-1/2026-11-01", "is not a date YYYY-MM-DD"),
        ("October", "is not a period"),
        ("2026", "is not a period"),
        ("", "is not a period"),
        ("2026-10/2026-11", "is not a date YYYY-MM-DD"),
        ("0000-01", "outside"),
        ("9999-12", "outside"),
        ("２０２６-10", "is not a period"),  # full-width digits are not digits here
    ],
)
def test_other_text_is_refused_with_the_forms(text: str, why: str) -> None:
    with pytest.raises(PeriodError) as raised:
        parse_period(text)

    assert why in str(raised.value)


def test_the_refusal_names_the_three_forms() -> None:
    with pytest.raises(PeriodError) as raised:
        parse_period("last month")

    message = str(raised.value)
    assert '"2026-10"' in message
    assert '"2026-Q4"' in message
    assert '"2026-10-01/2026-11-01"' in message


def test_october_in_brussels_is_745_hours_from_local_midnight_to_local_midnight() -> None:
    """2026-10-01 00:00 CEST is 2026-09-30T22:00Z; 2026-11-01 00:00 CET is 2026-10-31T23:00Z:
    31 days of 24 h plus the hour the clocks went back on the 25th = 745 h."""
    start_ms, end_ms = period_window_ms(parse_period("2026-10"), ZoneInfo("Europe/Brussels"))

    assert format_instant(start_ms) == "2026-09-30T22:00:00Z"
    assert format_instant(end_ms) == "2026-10-31T23:00:00Z"
    assert end_ms - start_ms == 745 * 3_600_000


def test_the_dst_night_itself_is_a_25_hour_day() -> None:
    zone = ZoneInfo("Europe/Brussels")

    day_ms = local_midnight_ms(date(2026, 10, 26), zone) - local_midnight_ms(
        date(2026, 10, 25), zone
    )

    assert day_ms == 25 * 3_600_000


@pytest.mark.parametrize(
    ("zone_name", "day"),
    [
        ("Europe/Brussels", date(2026, 3, 29)),  # spring forward at 02:00
        ("Europe/Brussels", date(2026, 10, 25)),  # back at 03:00
        ("America/Havana", date(2026, 3, 8)),  # spring forward at midnight: no 00:00
        ("America/Havana", date(2026, 11, 1)),  # back at 01:00 to midnight
        ("America/Santiago", date(2026, 9, 6)),  # forward at midnight
        ("America/Santiago", date(2026, 4, 5)),  # back at midnight
        ("Asia/Beirut", date(2026, 3, 29)),  # forward at midnight
        ("Pacific/Apia", date(2011, 12, 31)),  # a day that never happened there
        ("Asia/Kolkata", date(2026, 6, 1)),  # +05:30
        ("UTC", date(2026, 10, 1)),
    ],
)
def test_the_window_starts_at_the_first_instant_of_the_local_date(
    zone_name: str, day: date
) -> None:
    """Whatever the zone does around midnight, the window's start shows the period's first
    local date (or a later one when the date was skipped), and the millisecond before it an
    earlier one: a session is in the period exactly when its local start date is."""
    zone = ZoneInfo(zone_name)

    start_ms = local_midnight_ms(day, zone)

    assert local_date(start_ms, zone) >= day
    assert local_date(start_ms - 1, zone) < day


def test_midnight_is_computed_from_the_zone_not_from_a_fixed_offset() -> None:
    winter = local_midnight_ms(date(2026, 1, 15), ZoneInfo("Europe/Brussels"))
    summer = local_midnight_ms(date(2026, 7, 15), ZoneInfo("Europe/Brussels"))

    assert datetime.fromtimestamp(winter / 1000, UTC).hour == 23
    assert datetime.fromtimestamp(summer / 1000, UTC).hour == 22
    assert timedelta(milliseconds=summer - winter) == timedelta(days=181, hours=-1)
