"""Time-of-use tariff calendars and the t1..t4 split (chargeledger.domain.tariffs).

Expected values are worked out by hand in the comments: instants are written with their local
UTC offset (so the wall-clock time is visible) and the UTC instant is given next to them.
Energies are constant-power profiles: register energy = power x hours metered in that register.
"""

import itertools
import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from chargeledger.domain.charge_record import TieredEnergyKwh
from chargeledger.domain.instants import parse_instant_ms
from chargeledger.domain.tariffs import (
    BELGIAN_DAY_NIGHT,
    DUTCH_NORMAL_LOW,
    MAX_SPLIT_ENERGY_KWH,
    MAX_SPLIT_SPAN_MS,
    PRESETS,
    REGISTERS,
    WEEKDAYS,
    CalendarVersion,
    EnergyInterval,
    InvalidCalendarError,
    Register,
    RegisterSegment,
    TariffCalendar,
    TariffRule,
    UnsplittableProfileError,
    _whole_watt_hours,
    calendar_from_dict,
    calendar_to_dict,
    constant_power_profile,
    format_time_of_day,
    make_rule,
    parse_time_of_day,
    register_segments,
    split_energy,
)
from tests.support.work_budget import WorkBudgetExceededError, work_budget

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]
ALL_DAYS = list(WEEKDAYS)
# valid_from of a calendar version that is in force for every instant these tests use.
SINCE_EPOCH = 0


def ms(text: str) -> int:
    return parse_instant_ms(text)


def wh(kwh: float) -> int:
    return round(kwh * 1000)


def tiers_wh(tiers: TieredEnergyKwh) -> tuple[int, int, int, int, int]:
    """(t1, t2, t3, t4, total) in whole Wh."""
    return (wh(tiers.t1), wh(tiers.t2), wh(tiers.t3), wh(tiers.t4), wh(tiers.total))


def always(calendar: TariffCalendar) -> list[CalendarVersion]:
    return [CalendarVersion(SINCE_EPOCH, calendar)]


def split_constant(
    start: str, end: str, power_kw: float, calendar: TariffCalendar
) -> tuple[int, int, int, int, int]:
    """Split a constant-power session from start to end; (t1, t2, t3, t4, total) in Wh."""
    start_ms, end_ms = ms(start), ms(end)
    energy_kwh = power_kw * (end_ms - start_ms) / HOUR_MS
    profile = constant_power_profile(start_ms, end_ms, energy_kwh)
    return tiers_wh(split_energy(profile, always(calendar)))


def segments(start: str, end: str, calendar: TariffCalendar) -> list[tuple[int, int, str]]:
    return [
        (segment.start_ms, segment.end_ms, segment.register)
        for segment in register_segments(ms(start), ms(end), always(calendar))
    ]


def seg(start: str, end: str, register: Register) -> tuple[int, int, str]:
    return (ms(start), ms(end), register)


def utc_calendar(*rules: TariffRule, default: Register = "t1") -> TariffCalendar:
    return TariffCalendar(time_zone="UTC", rules=rules, default_register=default)


# Belgian day/night without public holidays, to see the DST arithmetic on its own (Easter
# Monday 2024 is 1 April, the day after the spring change).
BRUSSELS_WORKDAY_DAY_NIGHT = TariffCalendar(
    time_zone="Europe/Brussels",
    rules=(make_rule("t1", WORKDAYS, "07:00", "22:00"),),
    default_register="t2",
)
# t3 from 01:00 to 04:00 local every night, t1 otherwise.
BRUSSELS_SMALL_HOURS_T3 = TariffCalendar(
    time_zone="Europe/Brussels",
    rules=(make_rule("t3", ALL_DAYS, "01:00", "04:00"),),
    default_register="t1",
)


# --- Belgian day/night preset -------------------------------------------------------------


def test_belgian_overnight_charge_splits_at_22h_and_07h() -> None:
    # Monday 2024-06-03 19:30 CEST (17:30Z) to Tuesday 06:30 CEST (04:30Z) at 11 kW: 11 h.
    # Day (t1) 19:30-22:00 = 2.5 h x 11 kW = 27.5 kWh; night (t2) 22:00-06:30 = 8.5 h x 11 =
    # 93.5 kWh; total 11 h x 11 = 121 kWh.
    start, end = "2024-06-03T19:30:00+02:00", "2024-06-04T06:30:00+02:00"
    assert split_constant(start, end, 11, BELGIAN_DAY_NIGHT) == (27_500, 93_500, 0, 0, 121_000)
    assert segments(start, end, BELGIAN_DAY_NIGHT) == [
        seg("2024-06-03T17:30:00Z", "2024-06-03T20:00:00Z", "t1"),
        seg("2024-06-03T20:00:00Z", "2024-06-04T04:30:00Z", "t2"),
    ]


def test_belgian_saturday_and_sunday_are_all_night_tariff() -> None:
    # Saturday 2024-06-08 08:00 to Sunday 2024-06-09 20:00 CEST: 36 h x 2 kW = 72 kWh, all t2.
    start, end = "2024-06-08T08:00:00+02:00", "2024-06-09T20:00:00+02:00"
    assert split_constant(start, end, 2, BELGIAN_DAY_NIGHT) == (0, 72_000, 0, 0, 72_000)


def test_belgian_friday_evening_to_monday_morning_has_day_tariff_only_on_workdays() -> None:
    # Friday 2024-06-07 20:00 CEST to Monday 2024-06-10 08:00 CEST: 60 h at 2 kW.
    # t1: Friday 20:00-22:00 (2 h) + Monday 07:00-08:00 (1 h) = 3 h x 2 = 6 kWh.
    # t2: Friday 22:00-24:00 (2 h) + Saturday 24 h + Sunday 24 h + Monday 00:00-07:00 (7 h)
    #     = 57 h x 2 = 114 kWh.
    start, end = "2024-06-07T20:00:00+02:00", "2024-06-10T08:00:00+02:00"
    assert split_constant(start, end, 2, BELGIAN_DAY_NIGHT) == (6_000, 114_000, 0, 0, 120_000)


def test_belgian_easter_monday_is_all_night_tariff_and_the_tuesday_after_is_not() -> None:
    # Easter Monday 2024-04-01 is a Belgian public holiday: 09:00-17:00 CEST at 7 kW = 56 kWh,
    # all night tariff t2. The same hours on Tuesday 2024-04-02 are all day tariff t1.
    holiday = split_constant(
        "2024-04-01T09:00:00+02:00", "2024-04-01T17:00:00+02:00", 7, BELGIAN_DAY_NIGHT
    )
    assert holiday == (0, 56_000, 0, 0, 56_000)
    tuesday = split_constant(
        "2024-04-02T09:00:00+02:00", "2024-04-02T17:00:00+02:00", 7, BELGIAN_DAY_NIGHT
    )
    assert tuesday == (56_000, 0, 0, 0, 56_000)


def test_belgian_all_saints_day_on_a_friday_is_all_night_tariff() -> None:
    # All Saints' Day, Friday 2024-11-01 (CET, +01:00): 10:00-12:00 at 3 kW = 6 kWh, all t2.
    start, end = "2024-11-01T10:00:00+01:00", "2024-11-01T12:00:00+01:00"
    assert split_constant(start, end, 3, BELGIAN_DAY_NIGHT) == (0, 6_000, 0, 0, 6_000)


# --- Dutch normal/low preset --------------------------------------------------------------


def test_dutch_overnight_charge_splits_at_23h_and_07h() -> None:
    # Monday 2024-06-03 19:30 CEST to Tuesday 06:30 CEST at 11 kW (11 h, 121 kWh).
    # Normal (t2) 19:30-23:00 = 3.5 h x 11 = 38.5 kWh; low (t1) 23:00-06:30 = 7.5 h x 11 =
    # 82.5 kWh.
    start, end = "2024-06-03T19:30:00+02:00", "2024-06-04T06:30:00+02:00"
    assert split_constant(start, end, 11, DUTCH_NORMAL_LOW) == (82_500, 38_500, 0, 0, 121_000)
    assert segments(start, end, DUTCH_NORMAL_LOW) == [
        seg("2024-06-03T17:30:00Z", "2024-06-03T21:00:00Z", "t2"),
        seg("2024-06-03T21:00:00Z", "2024-06-04T04:30:00Z", "t1"),
    ]


def test_dutch_ascension_day_on_a_thursday_is_all_low_tariff() -> None:
    # Ascension Day, Thursday 2024-05-09: 08:00-18:00 CEST at 5 kW = 50 kWh, all low (t1).
    # Friday 2024-05-10 is an ordinary working day: the same hours are all normal (t2).
    ascension = split_constant(
        "2024-05-09T08:00:00+02:00", "2024-05-09T18:00:00+02:00", 5, DUTCH_NORMAL_LOW
    )
    assert ascension == (50_000, 0, 0, 0, 50_000)
    friday = split_constant(
        "2024-05-10T08:00:00+02:00", "2024-05-10T18:00:00+02:00", 5, DUTCH_NORMAL_LOW
    )
    assert friday == (0, 50_000, 0, 0, 50_000)


def test_dutch_kings_day_is_low_tariff_on_a_weekday_and_a_saturday() -> None:
    # King's Day 2023-04-27 was a Thursday: 12:00-14:00 CEST at 4 kW = 8 kWh, all low (t1).
    weekday = split_constant(
        "2023-04-27T12:00:00+02:00", "2023-04-27T14:00:00+02:00", 4, DUTCH_NORMAL_LOW
    )
    assert weekday == (8_000, 0, 0, 0, 8_000)
    # King's Day 2024-04-27 is a Saturday: low anyway.
    saturday = split_constant(
        "2024-04-27T12:00:00+02:00", "2024-04-27T14:00:00+02:00", 4, DUTCH_NORMAL_LOW
    )
    assert saturday == (8_000, 0, 0, 0, 8_000)


# --- Daylight saving time -----------------------------------------------------------------


def test_spring_forward_weekend_is_one_hour_shorter_in_a_calendar_without_holidays() -> None:
    # Saturday 2024-03-30 20:00 CET (19:00Z) to Monday 2024-04-01 09:00 CEST (07:00Z).
    # Clocks jump 02:00 CET -> 03:00 CEST on Sunday 31 March (at 01:00Z): Sunday has 23 hours.
    # Real duration 19:00Z -> 07:00Z two days later = 36 h.
    # t2: Saturday 20:00-24:00 (4 h) + Sunday (23 h) + Monday 00:00-07:00 CEST (7 h) = 34 h,
    #     i.e. 19:00Z Saturday to 05:00Z Monday; t1: Monday 07:00-09:00 CEST = 05:00Z-07:00Z.
    # At 10 kW: t2 = 340 kWh, t1 = 20 kWh, total 360 kWh.
    start, end = "2024-03-30T20:00:00+01:00", "2024-04-01T09:00:00+02:00"
    assert ms(end) - ms(start) == 36 * HOUR_MS
    assert segments(start, end, BRUSSELS_WORKDAY_DAY_NIGHT) == [
        seg("2024-03-30T19:00:00Z", "2024-04-01T05:00:00Z", "t2"),
        seg("2024-04-01T05:00:00Z", "2024-04-01T07:00:00Z", "t1"),
    ]
    assert split_constant(start, end, 10, BRUSSELS_WORKDAY_DAY_NIGHT) == (
        20_000,
        340_000,
        0,
        0,
        360_000,
    )


def test_spring_forward_weekend_ending_on_easter_monday_is_all_belgian_night_tariff() -> None:
    # Same 36 real hours; Monday 2024-04-01 is Easter Monday, so the Belgian preset meters all
    # of it as night (t2): 36 h x 10 kW = 360 kWh, one segment.
    start, end = "2024-03-30T20:00:00+01:00", "2024-04-01T09:00:00+02:00"
    assert segments(start, end, BELGIAN_DAY_NIGHT) == [
        seg("2024-03-30T19:00:00Z", "2024-04-01T07:00:00Z", "t2")
    ]
    assert split_constant(start, end, 10, BELGIAN_DAY_NIGHT) == (0, 360_000, 0, 0, 360_000)


def test_fall_back_weekend_is_one_hour_longer_in_the_belgian_preset() -> None:
    # Saturday 2024-10-26 20:00 CEST (18:00Z) to Monday 2024-10-28 09:00 CET (08:00Z).
    # Clocks go back 03:00 CEST -> 02:00 CET on Sunday 27 October (at 01:00Z): Sunday has 25 h.
    # Real duration 18:00Z -> 08:00Z two days later = 38 h.
    # t2: Saturday 20:00-24:00 (4 h) + Sunday (25 h) + Monday 00:00-07:00 CET (7 h) = 36 h,
    #     i.e. 18:00Z Saturday to 06:00Z Monday; t1: Monday 07:00-09:00 CET = 06:00Z-08:00Z.
    # At 10 kW: t2 = 360 kWh, t1 = 20 kWh, total 380 kWh.
    start, end = "2024-10-26T20:00:00+02:00", "2024-10-28T09:00:00+01:00"
    assert ms(end) - ms(start) == 38 * HOUR_MS
    assert segments(start, end, BELGIAN_DAY_NIGHT) == [
        seg("2024-10-26T18:00:00Z", "2024-10-28T06:00:00Z", "t2"),
        seg("2024-10-28T06:00:00Z", "2024-10-28T08:00:00Z", "t1"),
    ]
    assert split_constant(start, end, 10, BELGIAN_DAY_NIGHT) == (20_000, 360_000, 0, 0, 380_000)


def test_fall_back_weekend_in_the_dutch_preset() -> None:
    # Same 38 h in Europe/Amsterdam (same DST rules): low (t1) until Monday 07:00 CET = 36 h,
    # normal (t2) 07:00-09:00 CET = 2 h. At 10 kW: t1 = 360 kWh, t2 = 20 kWh.
    start, end = "2024-10-26T20:00:00+02:00", "2024-10-28T09:00:00+01:00"
    assert split_constant(start, end, 10, DUTCH_NORMAL_LOW) == (360_000, 20_000, 0, 0, 380_000)


def test_small_hours_register_lasts_two_real_hours_on_the_spring_forward_night() -> None:
    # t3 01:00-04:00 local. Sunday 2024-03-31: 01:00 CET = 00:00Z; at 02:00 CET (01:00Z) the
    # clocks jump to 03:00 CEST; 04:00 CEST = 02:00Z. So t3 = 00:00Z-02:00Z = 2 real hours
    # (wall 01:00-02:00 and 03:00-04:00). The Saturday's t3 (00:00Z-03:00Z) is before the start.
    # Saturday 12:00Z to Sunday 12:00Z at 1 kW: t3 = 2 kWh, t1 = 22 kWh.
    start, end = "2024-03-30T12:00:00Z", "2024-03-31T12:00:00Z"
    assert segments(start, end, BRUSSELS_SMALL_HOURS_T3) == [
        seg("2024-03-30T12:00:00Z", "2024-03-31T00:00:00Z", "t1"),
        seg("2024-03-31T00:00:00Z", "2024-03-31T02:00:00Z", "t3"),
        seg("2024-03-31T02:00:00Z", "2024-03-31T12:00:00Z", "t1"),
    ]
    assert split_constant(start, end, 1, BRUSSELS_SMALL_HOURS_T3) == (22_000, 0, 2_000, 0, 24_000)


def test_small_hours_register_lasts_four_real_hours_on_the_fall_back_night() -> None:
    # t3 01:00-04:00 local. Sunday 2024-10-27: 01:00 CEST = 2024-10-26T23:00Z; 03:00 CEST =
    # 01:00Z becomes 02:00 CET, so 02:00-03:00 happens twice; 04:00 CET = 03:00Z. So t3 =
    # 23:00Z-03:00Z = 4 real hours. Saturday 12:00Z to Sunday 12:00Z (25 h) at 1 kW:
    # t3 = 4 kWh, t1 = 21 kWh.
    start, end = "2024-10-26T12:00:00Z", "2024-10-27T12:00:00Z"
    assert segments(start, end, BRUSSELS_SMALL_HOURS_T3) == [
        seg("2024-10-26T12:00:00Z", "2024-10-26T23:00:00Z", "t1"),
        seg("2024-10-26T23:00:00Z", "2024-10-27T03:00:00Z", "t3"),
        seg("2024-10-27T03:00:00Z", "2024-10-27T12:00:00Z", "t1"),
    ]
    assert split_constant(start, end, 1, BRUSSELS_SMALL_HOURS_T3) == (20_000, 0, 4_000, 0, 24_000)


def test_small_hours_register_lasts_three_real_hours_on_an_ordinary_night() -> None:
    # Sunday 2024-06-09: 01:00-04:00 CEST = 2024-06-08T23:00Z to 02:00Z, 3 h.
    start, end = "2024-06-08T12:00:00Z", "2024-06-09T12:00:00Z"
    assert segments(start, end, BRUSSELS_SMALL_HOURS_T3) == [
        seg("2024-06-08T12:00:00Z", "2024-06-08T23:00:00Z", "t1"),
        seg("2024-06-08T23:00:00Z", "2024-06-09T02:00:00Z", "t3"),
        seg("2024-06-09T02:00:00Z", "2024-06-09T12:00:00Z", "t1"),
    ]


def test_register_for_the_skipped_hour_never_applies_and_the_repeated_hour_applies_twice() -> None:
    # t4 02:00-03:00 local. On 2024-03-31 that hour does not exist: no t4 at all.
    # On 2024-10-27 it happens twice: 02:00 CEST = 00:00Z to 03:00 CET = 02:00Z, 2 real hours.
    calendar = TariffCalendar(
        time_zone="Europe/Brussels",
        rules=(make_rule("t4", ALL_DAYS, "02:00", "03:00"),),
        default_register="t1",
    )
    spring = segments("2024-03-30T22:00:00Z", "2024-03-31T04:00:00Z", calendar)
    assert spring == [seg("2024-03-30T22:00:00Z", "2024-03-31T04:00:00Z", "t1")]
    autumn = segments("2024-10-26T22:00:00Z", "2024-10-27T04:00:00Z", calendar)
    assert autumn == [
        seg("2024-10-26T22:00:00Z", "2024-10-27T00:00:00Z", "t1"),
        seg("2024-10-27T00:00:00Z", "2024-10-27T02:00:00Z", "t4"),
        seg("2024-10-27T02:00:00Z", "2024-10-27T04:00:00Z", "t1"),
    ]


# --- Rule semantics -----------------------------------------------------------------------


def test_wrapping_rule_belongs_to_the_day_it_starts_on() -> None:
    # Friday 22:00-06:00 (UTC): Friday 2024-06-07 22:00 to Saturday 06:00 only. Thursday night
    # into Friday morning is not covered (Thursday is not in the days), and neither is
    # Saturday 22:00 onwards (Saturday is not in the days).
    calendar = utc_calendar(make_rule("t3", ["fri"], "22:00", "06:00"))
    assert segments("2024-06-06T00:00:00Z", "2024-06-10T00:00:00Z", calendar) == [
        seg("2024-06-06T00:00:00Z", "2024-06-07T22:00:00Z", "t1"),
        seg("2024-06-07T22:00:00Z", "2024-06-08T06:00:00Z", "t3"),
        seg("2024-06-08T06:00:00Z", "2024-06-10T00:00:00Z", "t1"),
    ]


def test_wrapping_holiday_rule_covers_the_morning_after_the_holiday_only() -> None:
    # 'holiday' 22:00-06:00 in Belgium: Ascension Day, Thursday 2024-05-09, 22:00 CEST (20:00Z)
    # to Friday 06:00 CEST (04:00Z). Wednesday 22:00 to Thursday 06:00 stays t1: the period
    # belongs to the day it starts on, and Wednesday is no holiday.
    calendar = TariffCalendar(
        time_zone="Europe/Brussels",
        rules=(make_rule("t2", ["holiday"], "22:00", "06:00"),),
        default_register="t1",
        country="BE",
    )
    assert segments("2024-05-08T12:00:00Z", "2024-05-10T12:00:00Z", calendar) == [
        seg("2024-05-08T12:00:00Z", "2024-05-09T20:00:00Z", "t1"),
        seg("2024-05-09T20:00:00Z", "2024-05-10T04:00:00Z", "t2"),
        seg("2024-05-10T04:00:00Z", "2024-05-10T12:00:00Z", "t1"),
    ]


def test_rule_with_equal_from_and_to_covers_the_whole_day() -> None:
    # Wednesday 09:00-09:00 means all of Wednesday 2024-06-05, midnight to midnight.
    calendar = utc_calendar(make_rule("t4", ["wed"], "09:00", "09:00"))
    assert segments("2024-06-04T12:00:00Z", "2024-06-06T12:00:00Z", calendar) == [
        seg("2024-06-04T12:00:00Z", "2024-06-05T00:00:00Z", "t1"),
        seg("2024-06-05T00:00:00Z", "2024-06-06T00:00:00Z", "t4"),
        seg("2024-06-06T00:00:00Z", "2024-06-06T12:00:00Z", "t1"),
    ]


def test_first_matching_rule_wins_where_rules_overlap() -> None:
    # Monday 2024-06-03, t2 08:00-12:00 listed before t3 10:00-14:00: 10:00-12:00 is t2.
    first_t2 = utc_calendar(
        make_rule("t2", ["mon"], "08:00", "12:00"), make_rule("t3", ["mon"], "10:00", "14:00")
    )
    assert segments("2024-06-03T06:00:00Z", "2024-06-03T16:00:00Z", first_t2) == [
        seg("2024-06-03T06:00:00Z", "2024-06-03T08:00:00Z", "t1"),
        seg("2024-06-03T08:00:00Z", "2024-06-03T12:00:00Z", "t2"),
        seg("2024-06-03T12:00:00Z", "2024-06-03T14:00:00Z", "t3"),
        seg("2024-06-03T14:00:00Z", "2024-06-03T16:00:00Z", "t1"),
    ]
    # The other way round, 10:00-12:00 is t3.
    first_t3 = utc_calendar(
        make_rule("t3", ["mon"], "10:00", "14:00"), make_rule("t2", ["mon"], "08:00", "12:00")
    )
    assert segments("2024-06-03T06:00:00Z", "2024-06-03T16:00:00Z", first_t3) == [
        seg("2024-06-03T06:00:00Z", "2024-06-03T08:00:00Z", "t1"),
        seg("2024-06-03T08:00:00Z", "2024-06-03T10:00:00Z", "t2"),
        seg("2024-06-03T10:00:00Z", "2024-06-03T14:00:00Z", "t3"),
        seg("2024-06-03T14:00:00Z", "2024-06-03T16:00:00Z", "t1"),
    ]


def test_times_no_rule_covers_go_to_the_default_register() -> None:
    # t1 on working days 09:00-17:00, default t4: Friday 2024-06-07 16:00 to Saturday 10:00
    # is t1 for one hour (16:00-17:00) and t4 for 17 hours; at 1 kW: t1 = 1 kWh, t4 = 17 kWh.
    calendar = utc_calendar(make_rule("t1", WORKDAYS, "09:00", "17:00"), default="t4")
    tiers = split_constant("2024-06-07T16:00:00Z", "2024-06-08T10:00:00Z", 1, calendar)
    assert tiers == (1_000, 0, 0, 17_000, 18_000)


def test_no_rules_at_all_puts_everything_in_the_default_register() -> None:
    calendar = utc_calendar(default="t3")
    assert split_constant("2024-06-07T16:00:00Z", "2024-06-09T10:00:00Z", 1, calendar) == (
        0,
        0,
        42_000,
        0,
        42_000,
    )


def test_24h_as_to_means_until_midnight() -> None:
    # Tuesday 18:00-24:00: Tuesday 2024-06-04 18:00 to Wednesday 00:00 only.
    calendar = utc_calendar(make_rule("t2", ["tue"], "18:00", "24:00"))
    assert segments("2024-06-04T12:00:00Z", "2024-06-05T12:00:00Z", calendar) == [
        seg("2024-06-04T12:00:00Z", "2024-06-04T18:00:00Z", "t1"),
        seg("2024-06-04T18:00:00Z", "2024-06-05T00:00:00Z", "t2"),
        seg("2024-06-05T00:00:00Z", "2024-06-05T12:00:00Z", "t1"),
    ]
    # 00:00-24:00 is the whole day, the same as 00:00-00:00.
    whole = utc_calendar(make_rule("t2", ["tue"], "00:00", "24:00"))
    assert segments("2024-06-03T12:00:00Z", "2024-06-05T12:00:00Z", whole) == [
        seg("2024-06-03T12:00:00Z", "2024-06-04T00:00:00Z", "t1"),
        seg("2024-06-04T00:00:00Z", "2024-06-05T00:00:00Z", "t2"),
        seg("2024-06-05T00:00:00Z", "2024-06-05T12:00:00Z", "t1"),
    ]
    assert make_rule("t2", ["tue"], "00:00", "24:00") == make_rule("t2", ["tue"], "00:00", "00:00")


def test_parse_time_of_day_counts_minutes_after_midnight() -> None:
    assert parse_time_of_day("00:00", allow_24=False) == 0
    assert parse_time_of_day("07:30", allow_24=False) == 450  # 7 x 60 + 30
    assert parse_time_of_day("23:59", allow_24=False) == 1439
    assert parse_time_of_day("24:00", allow_24=True) == 1440
    assert format_time_of_day(450) == "07:30"


@pytest.mark.parametrize(
    ("text", "allow_24"),
    [
        ("24:00", False),
        ("24:01", True),
        ("25:00", True),
        ("12:60", False),
        ("7:30", False),
        ("07:30:00", False),
        ("0730", False),
        ("x", False),
        ("", False),
        ("-1:00", False),
        ("07:3a", False),
    ],
)
def test_parse_time_of_day_refuses_what_is_not_a_time_of_day(text: str, allow_24: bool) -> None:
    with pytest.raises(InvalidCalendarError, match=re.escape(f"'{text}'")):
        parse_time_of_day(text, allow_24=allow_24)


# --- Holidays -----------------------------------------------------------------------------


def holiday_calendar(zone: str, country: str, subdivision: str | None = None) -> TariffCalendar:
    return TariffCalendar(
        time_zone=zone,
        rules=(make_rule("t2", ["holiday"], "00:00", "00:00"),),
        default_register="t1",
        country=country,
        subdivision=subdivision,
    )


def test_holiday_of_a_subdivision_applies_only_with_that_subdivision() -> None:
    # Corpus Christi, Thursday 2024-05-30, is a public holiday in Bavaria (DE-BY) but not in
    # Germany as a whole nor in Belgium. The whole local day, 2024-05-29T22:00Z to
    # 2024-05-30T22:00Z (CEST), is t2 in Bavaria only.
    start, end = "2024-05-29T12:00:00Z", "2024-05-31T12:00:00Z"
    bavaria = holiday_calendar("Europe/Berlin", "DE", "BY")
    assert segments(start, end, bavaria) == [
        seg("2024-05-29T12:00:00Z", "2024-05-29T22:00:00Z", "t1"),
        seg("2024-05-29T22:00:00Z", "2024-05-30T22:00:00Z", "t2"),
        seg("2024-05-30T22:00:00Z", "2024-05-31T12:00:00Z", "t1"),
    ]
    germany = holiday_calendar("Europe/Berlin", "DE")
    assert segments(start, end, germany) == [seg(start, end, "t1")]
    belgium = holiday_calendar("Europe/Brussels", "BE")
    assert segments(start, end, belgium) == [seg(start, end, "t1")]
    # 10:00-14:00 CEST on the day at 5 kW = 20 kWh.
    day_start, day_end = "2024-05-30T10:00:00+02:00", "2024-05-30T14:00:00+02:00"
    assert split_constant(day_start, day_end, 5, bavaria) == (0, 20_000, 0, 0, 20_000)
    assert split_constant(day_start, day_end, 5, germany) == (20_000, 0, 0, 0, 20_000)


def test_national_holiday_applies_in_every_subdivision() -> None:
    # Ascension Day 2024-05-09 is a holiday all over Germany, Bavaria included.
    start, end = "2024-05-09T10:00:00+02:00", "2024-05-09T14:00:00+02:00"
    for calendar in (
        holiday_calendar("Europe/Berlin", "DE"),
        holiday_calendar("Europe/Berlin", "DE", "BY"),
    ):
        assert split_constant(start, end, 5, calendar) == (0, 20_000, 0, 0, 20_000)


def test_holidays_are_looked_up_in_the_year_of_the_local_day() -> None:
    # New Year's Day 2025 starts at 2024-12-31T23:00Z in Brussels; the year's holidays must come
    # from 2025, not from the UTC date's 2024. 23:00Z to 01:00Z at 1 kW: 2 kWh, all t2.
    calendar = holiday_calendar("Europe/Brussels", "BE")
    assert segments("2024-12-31T22:00:00Z", "2025-01-01T01:00:00Z", calendar) == [
        seg("2024-12-31T22:00:00Z", "2024-12-31T23:00:00Z", "t1"),
        seg("2024-12-31T23:00:00Z", "2025-01-01T01:00:00Z", "t2"),
    ]


# --- Calendar versions --------------------------------------------------------------------

ALL_T2 = utc_calendar(default="t2")
ALL_T3 = utc_calendar(default="t3")


def test_before_the_first_calendar_version_everything_is_t1() -> None:
    versions = [CalendarVersion(ms("2024-01-01T00:00:00Z"), ALL_T2)]
    # 2023-12-31 22:00Z to 2024-01-01 02:00Z, 4 kWh evenly: 2 h before (t1), 2 h after (t2).
    profile = constant_power_profile(ms("2023-12-31T22:00:00Z"), ms("2024-01-01T02:00:00Z"), 4.0)
    assert tiers_wh(split_energy(profile, versions)) == (2_000, 2_000, 0, 0, 4_000)
    # Wholly before: all t1.
    earlier = constant_power_profile(ms("2023-06-01T00:00:00Z"), ms("2023-06-01T03:00:00Z"), 3.0)
    assert tiers_wh(split_energy(earlier, versions)) == (3_000, 0, 0, 0, 3_000)


def test_without_any_calendar_everything_is_t1() -> None:
    profile = constant_power_profile(ms("2024-06-03T19:30:00Z"), ms("2024-06-04T06:30:00Z"), 7.5)
    assert tiers_wh(split_energy(profile, [])) == (7_500, 0, 0, 0, 7_500)
    assert register_segments(ms("2024-06-03T19:30:00Z"), ms("2024-06-04T06:30:00Z"), []) == [
        RegisterSegment(ms("2024-06-03T19:30:00Z"), ms("2024-06-04T06:30:00Z"), "t1")
    ]


def test_second_calendar_version_applies_only_from_its_valid_from() -> None:
    change = ms("2024-06-05T12:00:00Z")
    versions = [
        CalendarVersion(ms("2024-01-01T00:00:00Z"), ALL_T2),
        CalendarVersion(change, ALL_T3),
    ]
    # An interval 10:00Z-14:00Z with 4 kWh is cut at 12:00Z: 2 kWh t2 before, 2 kWh t3 after.
    profile = constant_power_profile(ms("2024-06-05T10:00:00Z"), ms("2024-06-05T14:00:00Z"), 4.0)
    assert tiers_wh(split_energy(profile, versions)) == (0, 2_000, 2_000, 0, 4_000)
    assert register_segments(ms("2024-06-05T10:00:00Z"), ms("2024-06-05T14:00:00Z"), versions) == [
        RegisterSegment(ms("2024-06-05T10:00:00Z"), change, "t2"),
        RegisterSegment(change, ms("2024-06-05T14:00:00Z"), "t3"),
    ]
    # Versions given in any order mean the same.
    reversed_versions = list(reversed(versions))
    assert tiers_wh(split_energy(profile, reversed_versions)) == (0, 2_000, 2_000, 0, 4_000)
    # Entirely before the change: the old calendar only.
    before = constant_power_profile(ms("2024-06-05T08:00:00Z"), change, 4.0)
    assert tiers_wh(split_energy(before, versions)) == (0, 4_000, 0, 0, 4_000)


def test_belgian_day_tariff_extended_to_23h_from_a_given_day() -> None:
    # The Belgian preset until Tuesday 2024-06-04 00:00 CEST, then day tariff 07:00-23:00.
    # Monday 2024-06-03 19:30 CEST to Tuesday 23:30 CEST at 1 kW, 28 h:
    #   Monday (old):  t1 19:30-22:00 = 2.5 h, t2 22:00-24:00 = 2 h;
    #   Tuesday (new): t2 00:00-07:00 = 7 h, t1 07:00-23:00 = 16 h, t2 23:00-23:30 = 0.5 h.
    #   t1 = 2.5 + 16 = 18.5 kWh; t2 = 2 + 7 + 0.5 = 9.5 kWh.
    later = TariffCalendar(
        time_zone="Europe/Brussels",
        country="BE",
        rules=(
            make_rule("t2", ["sat", "sun", "holiday"], "00:00", "00:00"),
            make_rule("t1", WORKDAYS, "07:00", "23:00"),
        ),
        default_register="t2",
    )
    versions = [
        CalendarVersion(ms("2020-01-01T00:00:00Z"), BELGIAN_DAY_NIGHT),
        CalendarVersion(ms("2024-06-04T00:00:00+02:00"), later),
    ]
    start, end = ms("2024-06-03T19:30:00+02:00"), ms("2024-06-04T23:30:00+02:00")
    tiers = split_energy(constant_power_profile(start, end, 28.0), versions)
    assert tiers_wh(tiers) == (18_500, 9_500, 0, 0, 28_000)


# --- split_energy details -----------------------------------------------------------------


def test_stepped_profile_puts_each_step_in_its_own_registers() -> None:
    # Belgian Monday 2024-06-03: 21:00-22:00 CEST 3 kWh (all day tariff t1), 22:00-23:00 1 kWh
    # (all night tariff t2); a step 23:00-23:30 with 0 kWh adds nothing.
    profile = [
        EnergyInterval(ms("2024-06-03T21:00:00+02:00"), ms("2024-06-03T22:00:00+02:00"), 3.0),
        EnergyInterval(ms("2024-06-03T22:00:00+02:00"), ms("2024-06-03T23:00:00+02:00"), 1.0),
        EnergyInterval(ms("2024-06-03T23:00:00+02:00"), ms("2024-06-03T23:30:00+02:00"), 0.0),
    ]
    assert tiers_wh(split_energy(profile, always(BELGIAN_DAY_NIGHT))) == (
        3_000,
        1_000,
        0,
        0,
        4_000,
    )
    # One step across 22:00, 21:30-22:30 with 2 kWh: half an hour each side, 1 kWh each.
    straddling = [
        EnergyInterval(ms("2024-06-03T21:30:00+02:00"), ms("2024-06-03T22:30:00+02:00"), 2.0)
    ]
    assert tiers_wh(split_energy(straddling, always(BELGIAN_DAY_NIGHT))) == (
        1_000,
        1_000,
        0,
        0,
        2_000,
    )


def test_energy_at_an_instant_goes_to_that_instants_register() -> None:
    # A zero-length step at Monday 22:30 CEST (night) carrying 0.5 kWh, next to an hour of day
    # tariff 20:00-21:00 with 1 kWh.
    profile = [
        EnergyInterval(ms("2024-06-03T20:00:00+02:00"), ms("2024-06-03T21:00:00+02:00"), 1.0),
        EnergyInterval(ms("2024-06-03T22:30:00+02:00"), ms("2024-06-03T22:30:00+02:00"), 0.5),
    ]
    assert tiers_wh(split_energy(profile, always(BELGIAN_DAY_NIGHT))) == (
        1_000,
        500,
        0,
        0,
        1_500,
    )


def test_energy_at_an_instant_at_the_end_of_the_profile_goes_to_that_instants_register() -> None:
    # Day-tariff hour 21:00-22:00 CEST with 1 kWh, then 0.5 kWh at exactly 22:00 CEST, when
    # the night tariff (t2) has begun: t1 = 1 kWh, t2 = 0.5 kWh.
    profile = [
        EnergyInterval(ms("2024-06-03T21:00:00+02:00"), ms("2024-06-03T22:00:00+02:00"), 1.0),
        EnergyInterval(ms("2024-06-03T22:00:00+02:00"), ms("2024-06-03T22:00:00+02:00"), 0.5),
    ]
    assert tiers_wh(split_energy(profile, always(BELGIAN_DAY_NIGHT))) == (
        1_000,
        500,
        0,
        0,
        1_500,
    )


def test_energy_at_a_single_instant_goes_to_that_instants_register() -> None:
    # 0.5 kWh at Saturday 2024-06-08 12:00 CEST, nothing else: Belgian night tariff (t2).
    instant = ms("2024-06-08T12:00:00+02:00")
    profile = [EnergyInterval(instant, instant, 0.5)]
    assert tiers_wh(split_energy(profile, always(BELGIAN_DAY_NIGHT))) == (0, 500, 0, 0, 500)


def test_no_energy_splits_into_zeros() -> None:
    assert split_energy([], always(BELGIAN_DAY_NIGHT)) == TieredEnergyKwh(0, 0, 0, 0, 0)
    zero = [EnergyInterval(0, HOUR_MS, 0.0)]
    assert split_energy(zero, always(BELGIAN_DAY_NIGHT)) == TieredEnergyKwh(0, 0, 0, 0, 0)


def test_registers_are_rounded_by_largest_remainder_to_add_up_to_the_total() -> None:
    # UTC: t1 00:00-07:00, t2 07:00-16:00, t3 otherwise. 13 Wh spread over Monday 00:00-20:00:
    #   t1 = 13 x 7/20 = 4.55 Wh, t2 = 13 x 9/20 = 5.85 Wh, t3 = 13 x 4/20 = 2.6 Wh.
    # Floors 4 + 5 + 2 = 11, 2 Wh short: the largest remainders are t2 (.85) and t3 (.6), so
    # t1 = 4, t2 = 6, t3 = 3 (sum 13). Plain rounding would give 5 + 6 + 3 = 14.
    calendar = utc_calendar(
        make_rule("t1", ALL_DAYS, "00:00", "07:00"),
        make_rule("t2", ALL_DAYS, "07:00", "16:00"),
        default="t3",
    )
    profile = constant_power_profile(ms("2024-06-03T00:00:00Z"), ms("2024-06-03T20:00:00Z"), 0.013)
    assert tiers_wh(split_energy(profile, always(calendar))) == (4, 6, 3, 0, 13)


def test_total_is_the_energy_rounded_to_whole_watt_hours() -> None:
    # 1.23456 kWh = 1234.56 Wh -> 1235 Wh, all in t1 under the single-register meter.
    profile = constant_power_profile(0, HOUR_MS, 1.23456)
    assert split_energy(profile, []) == TieredEnergyKwh(1.235, 0, 0, 0, 1.235)


# --- Validation ---------------------------------------------------------------------------


def definition(**changes: object) -> dict[str, object]:
    """A valid calendar definition in the API's words, with some keys changed."""
    base: dict[str, object] = {
        "timeZone": "Europe/Brussels",
        "country": "BE",
        "subdivision": None,
        "defaultRegister": "t2",
        "rules": [{"register": "t1", "days": WORKDAYS, "from": "07:00", "to": "22:00"}],
    }
    base.update(changes)
    return base


def rule(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {"register": "t1", "days": ["mon"], "from": "07:00", "to": "22:00"}
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        pytest.param(definition(timeZone="Europe/Brusels"), "'Europe/Brusels'", id="bad-zone"),
        pytest.param(definition(timeZone="CET+1"), "'CET+1'", id="zone-not-iana"),
        pytest.param(definition(timeZone=None), "timeZone", id="missing-zone"),
        pytest.param(definition(rules=[rule(register="t5")]), "register 't5'", id="bad-register"),
        pytest.param(definition(rules=[rule(register="T1")]), "register 'T1'", id="upper-reg"),
        pytest.param(definition(rules=[rule(days=["monday"])]), "monday", id="bad-day"),
        pytest.param(definition(rules=[rule(days=["mon", "xmas"])]), "xmas", id="bad-day-2"),
        pytest.param(definition(rules=[rule(days=[])]), "days", id="no-days"),
        pytest.param(definition(rules=[rule(**{"from": "25:00"})]), "'25:00'", id="hour-25"),
        pytest.param(definition(rules=[rule(to="x")]), "'x'", id="not-a-time"),
        pytest.param(definition(rules=[rule(**{"from": "24:00"})]), "'24:00'", id="from-24"),
        pytest.param(definition(rules=[rule(to="24:30")]), "'24:30'", id="to-24-30"),
        pytest.param(definition(rules=[rule(to=None)]), "'None'", id="missing-to"),
        pytest.param(definition(rules="t1 always"), "rules must be a list", id="rules-not-list"),
        pytest.param(definition(rules=["t1"]), "each rule must be an object", id="rule-not-obj"),
        pytest.param(definition(defaultRegister="t0"), "defaultRegister 't0'", id="bad-default"),
        pytest.param(
            definition(country=None, rules=[rule(days=["holiday"])]),
            "'holiday' need the calendar's country",
            id="holiday-without-country",
        ),
        pytest.param(definition(country="XX"), "country 'XX'", id="unknown-country"),
        pytest.param(
            definition(country=None, subdivision="BY"),
            "a subdivision needs a country",
            id="subdivision-without-country",
        ),
    ],
)
def test_invalid_calendar_definitions_are_refused_naming_the_problem(
    bad: dict[str, object], named: str
) -> None:
    with pytest.raises(InvalidCalendarError, match=re.escape(named)):
        calendar_from_dict(bad)


def test_unknown_subdivision_is_refused_naming_the_subdivision() -> None:
    # 'XX' is no German state: the message must say that the subdivision is wrong (not that
    # Germany has no holidays).
    with pytest.raises(InvalidCalendarError, match="XX") as refused:
        TariffCalendar(
            time_zone="Europe/Berlin",
            rules=(),
            default_register="t1",
            country="DE",
            subdivision="XX",
        )
    assert "subdivision" in str(refused.value)


def test_invalid_calendar_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not an IANA time zone"):
        TariffCalendar(time_zone="Nowhere/Atlantis", rules=(), default_register="t1")


def test_make_rule_refuses_bad_parts() -> None:
    with pytest.raises(InvalidCalendarError, match="register 't9'"):
        make_rule("t9", ["mon"], "07:00", "08:00")
    with pytest.raises(InvalidCalendarError, match="funday"):
        make_rule("t1", ["funday"], "07:00", "08:00")
    with pytest.raises(InvalidCalendarError, match="got none"):
        make_rule("t1", [], "07:00", "08:00")
    with pytest.raises(InvalidCalendarError, match="'25:00'"):
        make_rule("t1", ["mon"], "25:00", "08:00")


# --- Dictionary form ----------------------------------------------------------------------


def test_belgian_preset_in_the_apis_words() -> None:
    assert calendar_to_dict(BELGIAN_DAY_NIGHT) == {
        "timeZone": "Europe/Brussels",
        "country": "BE",
        "subdivision": None,
        "ignoredHolidays": [],
        "defaultRegister": "t2",
        "rules": [
            {"register": "t2", "days": ["sat", "sun", "holiday"], "from": "00:00", "to": "00:00"},
            {"register": "t1", "days": WORKDAYS, "from": "07:00", "to": "22:00"},
        ],
    }


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_survive_the_dict_round_trip(name: str) -> None:
    preset = PRESETS[name]
    assert calendar_from_dict(calendar_to_dict(preset)) == preset


def test_custom_calendar_with_subdivision_wrap_and_24h_survives_the_dict_round_trip() -> None:
    calendar = TariffCalendar(
        time_zone="Europe/Berlin",
        rules=(
            make_rule("t4", ["holiday"], "00:00", "00:00"),
            make_rule("t3", ["fri", "sat"], "22:00", "06:00"),
            make_rule("t2", ["tue"], "18:00", "24:00"),
        ),
        default_register="t1",
        country="DE",
        subdivision="BY",
    )
    as_dict = calendar_to_dict(calendar)
    assert calendar_from_dict(as_dict) == calendar
    assert as_dict["subdivision"] == "BY"


def test_default_register_defaults_to_t1_when_left_out() -> None:
    bare: dict[str, object] = {"timeZone": "UTC", "rules": []}
    assert calendar_from_dict(bare) == TariffCalendar("UTC", (), "t1")


# --- Properties ---------------------------------------------------------------------------

# Zones with DST, without, with half-hour offsets, with a 30-minute DST shift.
ZONES = [
    "UTC",
    "Etc/GMT-1",
    "Europe/Brussels",
    "Europe/Amsterdam",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
]
# 2015-01-01 .. 2035-01-01
EARLIEST_MS = 1_420_070_400_000
LATEST_MS = 2_051_222_400_000


@st.composite
def times_of_day(draw: st.DrawFn, *, allow_24: bool) -> str:
    minute = draw(
        st.one_of(
            st.sampled_from([0, 360, 420, 1320, 1380]),
            st.integers(0, 1440 if allow_24 else 1439),
        )
    )
    if allow_24 and minute == 1440:
        return "24:00"
    return format_time_of_day(minute)


@st.composite
def rule_definitions(draw: st.DrawFn, *, with_holiday: bool) -> tuple[str, list[str], str, str]:
    tokens = [*WEEKDAYS, "holiday"] if with_holiday else list(WEEKDAYS)
    return (
        draw(st.sampled_from(REGISTERS)),
        draw(st.lists(st.sampled_from(tokens), min_size=1, max_size=8, unique=True)),
        draw(times_of_day(allow_24=False)),
        draw(times_of_day(allow_24=True)),
    )


@st.composite
def calendars(
    draw: st.DrawFn, *, zones: Sequence[str] = ZONES, holidays_allowed: bool = True
) -> TariffCalendar:
    zone = draw(st.sampled_from(zones))
    country, subdivision = draw(
        st.sampled_from([(None, None), ("BE", None), ("NL", None), ("DE", "BY")])
        if holidays_allowed
        else st.just((None, None))
    )
    definitions = draw(st.lists(rule_definitions(with_holiday=country is not None), max_size=5))
    return TariffCalendar(
        time_zone=zone,
        rules=tuple(make_rule(*parts) for parts in definitions),
        default_register=draw(st.sampled_from(REGISTERS)),
        country=country,
        subdivision=subdivision,
    )


def instants(low: int, high: int) -> st.SearchStrategy[int]:
    """Instants in [low, high]: often on whole minutes, sometimes anywhere."""
    anywhere = st.integers(low, high)
    first_minute, last_minute = -(-low // MINUTE_MS), high // MINUTE_MS
    if first_minute > last_minute:
        return anywhere
    on_minutes = st.integers(first_minute, last_minute).map(lambda m: m * MINUTE_MS)
    return st.one_of(on_minutes, anywhere)


durations_ms = st.one_of(
    st.integers(0, 48 * 60).map(lambda minutes: minutes * MINUTE_MS),
    st.integers(0, 48 * HOUR_MS),
)
energies_kwh = st.floats(0, 100, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def profiles(
    draw: st.DrawFn, *, low: int = EARLIEST_MS, high: int = LATEST_MS
) -> list[EnergyInterval]:
    cursor = draw(instants(low, high))
    steps = []
    for _ in range(draw(st.integers(1, 5))):
        cursor += draw(st.sampled_from([0, 0, 0, MINUTE_MS, HOUR_MS]))
        duration = draw(durations_ms)
        steps.append(EnergyInterval(cursor, cursor + duration, draw(energies_kwh)))
        cursor += duration
    return steps


def reference_register(calendar: TariffCalendar, instant_ms: int) -> Register:
    """The register at an instant, computed independently: local wall clock from zoneinfo,
    holidays straight from the holidays package, rules read as documented."""
    local = datetime.fromtimestamp(instant_ms / 1000, tz=UTC).astimezone(
        ZoneInfo(calendar.time_zone)
    )
    day, minute = local.date(), local.hour * 60 + local.minute

    def tokens(of: date) -> set[str]:
        found = {WEEKDAYS[of.weekday()]}
        if calendar.country is not None and of in holidays.country_holidays(
            calendar.country, subdiv=calendar.subdivision, years=of.year
        ):
            found.add("holiday")
        return found

    today, yesterday = tokens(day), tokens(day - timedelta(days=1))
    for rule in calendar.rules:
        start, end = rule.from_minute, rule.to_minute or 1440
        if rule.from_minute == rule.to_minute:
            hit = bool(rule.days & today)
        elif start < end:
            hit = bool(rule.days & today) and start <= minute < end
        else:
            hit = (minute >= start and bool(rule.days & today)) or (
                minute < end and bool(rule.days & yesterday)
            )
        if hit:
            return rule.register
    return calendar.default_register


PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)


@PROPERTY_SETTINGS
@given(calendar=calendars(), profile=profiles())
def test_registers_add_up_to_the_total_to_the_watt_hour(
    calendar: TariffCalendar, profile: list[EnergyInterval]
) -> None:
    tiers = split_energy(profile, always(calendar))
    t1, t2, t3, t4, total = tiers_wh(tiers)
    assert t1 + t2 + t3 + t4 == total
    assert total == round(sum(step.energy_kwh for step in profile) * 1000)
    assert min(t1, t2, t3, t4) >= 0


@PROPERTY_SETTINGS
@given(calendar=calendars(), profile=profiles())
# The smallest case Hypothesis found: energy at an instant under a calendar whose register there
# is not t1.
@example(calendar=utc_calendar(default="t2"), profile=[EnergyInterval(HOUR_MS, HOUR_MS, 1.0)])
def test_each_register_is_within_a_watt_hour_of_its_exact_share(
    calendar: TariffCalendar, profile: list[EnergyInterval]
) -> None:
    # Exact share: each step's energy times the fraction of its duration in each register,
    # the register read at every segment by the reference implementation.
    exact = dict.fromkeys(REGISTERS, 0.0)
    for step in profile:
        if step.energy_kwh == 0:
            continue
        if step.end_ms == step.start_ms:
            exact[reference_register(calendar, step.start_ms)] += step.energy_kwh * 1000
            continue
        for part in register_segments(step.start_ms, step.end_ms, always(calendar)):
            share = (part.end_ms - part.start_ms) / (step.end_ms - step.start_ms)
            exact[part.register] += step.energy_kwh * 1000 * share
    tiers = split_energy(profile, always(calendar))
    for register in REGISTERS:
        assert abs(wh(getattr(tiers, register)) - exact[register]) < 1 + 1e-6


@PROPERTY_SETTINGS
@given(calendar=calendars(), start=instants(EARLIEST_MS, LATEST_MS), duration=durations_ms)
def test_segments_tile_the_interval_and_agree_with_the_reference_register(
    calendar: TariffCalendar, start: int, duration: int
) -> None:
    end = start + duration
    parts = register_segments(start, end, always(calendar))
    if duration == 0:
        assert parts == []
        return
    assert parts[0].start_ms == start
    assert parts[-1].end_ms == end
    for before, after in itertools.pairwise(parts):
        assert before.end_ms == after.start_ms
        assert before.register != after.register  # adjacent equal registers are merged
    for part in parts:
        assert part.start_ms < part.end_ms
        for instant in {part.start_ms, (part.start_ms + part.end_ms) // 2, part.end_ms - 1}:
            assert part.register == reference_register(calendar, instant), instant


def test_an_extra_reading_on_the_line_does_not_move_a_watt_hour_between_tied_registers() -> None:
    # UTC, t1 00:00-01:00 and t2 01:00-02:00 (default t1 elsewhere). 3 Wh spread evenly over
    # 00:00-02:00 is exactly 1.5 Wh per register; largest remainder gives one of them 2 Wh.
    # Inserting a reading on the line at 00:02 (energy 3 Wh x 2/120 = 0.05 Wh before it,
    # 2.95 Wh after) describes the same charge, so the split must not change.
    calendar = utc_calendar(make_rule("t2", ALL_DAYS, "01:00", "02:00"))
    start, middle, end = 0, 2 * MINUTE_MS, 2 * HOUR_MS
    energy = 0.003
    first = energy * (middle - start) / (end - start)
    whole = split_energy([EnergyInterval(start, end, energy)], always(calendar))
    halves = split_energy(
        [EnergyInterval(start, middle, first), EnergyInterval(middle, end, energy - first)],
        always(calendar),
    )
    assert tiers_wh(whole)[4] == tiers_wh(halves)[4] == 3
    assert tiers_wh(halves) == tiers_wh(whole)


@PROPERTY_SETTINGS
@given(
    calendar=calendars(),
    start=instants(EARLIEST_MS, LATEST_MS),
    duration=st.integers(2, 48 * HOUR_MS),
    energy=st.floats(0.001, 100),
    data=st.data(),
)
def test_an_extra_reading_on_the_interpolated_line_does_not_change_the_split(
    calendar: TariffCalendar, start: int, duration: int, energy: float, data: st.DataObject
) -> None:
    end = start + duration
    middle = data.draw(instants(start + 1, end - 1), label="middle")
    assume(start < middle < end)
    first = energy * (middle - start) / duration
    whole = [EnergyInterval(start, end, energy)]
    halves = [EnergyInterval(start, middle, first), EnergyInterval(middle, end, energy - first)]
    versions = always(calendar)
    assert tiers_wh(split_energy(halves, versions)) == tiers_wh(split_energy(whole, versions))


@PROPERTY_SETTINGS
@given(
    start=instants(EARLIEST_MS, LATEST_MS),
    duration=st.integers(1, 96 * HOUR_MS),
    data=st.data(),
)
def test_segments_follow_the_calendar_version_in_force_at_each_instant(
    start: int, duration: int, data: st.DataObject
) -> None:
    end = start + duration
    versions = data.draw(
        st.lists(
            st.builds(
                CalendarVersion,
                valid_from_ms=instants(start - DAY_MS, end + DAY_MS),
                calendar=calendars(),
            ),
            max_size=3,
        ),
        label="versions",
    )
    in_order = sorted(versions, key=lambda version: version.valid_from_ms)

    def expected(instant: int) -> Register:
        in_force = [v for v in in_order if v.valid_from_ms <= instant]
        return reference_register(in_force[-1].calendar, instant) if in_force else "t1"

    parts = register_segments(start, end, versions)
    assert parts[0].start_ms == start
    assert parts[-1].end_ms == end
    for before, after in itertools.pairwise(parts):
        assert before.end_ms == after.start_ms
    for part in parts:
        assert part.start_ms < part.end_ms
        for instant in {part.start_ms, (part.start_ms + part.end_ms) // 2, part.end_ms - 1}:
            assert part.register == expected(instant), instant


@PROPERTY_SETTINGS
@given(
    calendar=calendars(),
    start=instants(EARLIEST_MS, LATEST_MS),
    energy=st.floats(0.001, 100),
    data=st.data(),
)
def test_a_session_inside_one_register_period_puts_all_its_energy_there(
    calendar: TariffCalendar, start: int, energy: float, data: st.DataObject
) -> None:
    versions = always(calendar)
    # The register period around `start`, within a week.
    period = register_segments(start, start + WEEK_MS, versions)[0]
    session_start = data.draw(st.integers(period.start_ms, period.end_ms - 1), label="start")
    session_end = data.draw(st.integers(session_start + 1, period.end_ms), label="end")
    tiers = split_energy(constant_power_profile(session_start, session_end, energy), versions)
    as_wh = dict(zip(("t1", "t2", "t3", "t4", "total"), tiers_wh(tiers), strict=True))
    assert as_wh[period.register] == as_wh["total"] == round(energy * 1000)
    assert sum(as_wh[register] for register in REGISTERS if register != period.register) == 0


@PROPERTY_SETTINGS
@given(
    calendar=calendars(zones=["UTC", "Etc/GMT-1", "Asia/Kolkata"], holidays_allowed=False),
    profile=profiles(),
    weeks=st.integers(-200, 200),
)
def test_shifting_by_whole_weeks_without_dst_or_holidays_keeps_the_split(
    calendar: TariffCalendar, profile: list[EnergyInterval], weeks: int
) -> None:
    shift = weeks * WEEK_MS
    shifted = [EnergyInterval(s.start_ms + shift, s.end_ms + shift, s.energy_kwh) for s in profile]
    versions = always(calendar)
    assert split_energy(shifted, versions) == split_energy(profile, versions)


# Brussels summer time 2024: 2024-03-31T01:00Z to 2024-10-27T01:00Z.
SUMMER_2024_START_MS = 1_711_846_800_000
SUMMER_2024_END_MS = 1_729_990_800_000


def test_summer_2024_bounds_are_the_brussels_dst_changes() -> None:
    assert ms("2024-03-31T01:00:00Z") == SUMMER_2024_START_MS
    assert ms("2024-10-27T01:00:00Z") == SUMMER_2024_END_MS


@PROPERTY_SETTINGS
@given(
    calendar=calendars(zones=["Europe/Brussels"], holidays_allowed=False),
    profile=profiles(low=SUMMER_2024_START_MS, high=SUMMER_2024_START_MS + 8 * WEEK_MS),
    weeks=st.integers(0, 12),
)
def test_shifting_by_whole_weeks_within_one_dst_period_keeps_the_split(
    calendar: TariffCalendar, profile: list[EnergyInterval], weeks: int
) -> None:
    # Profiles start within 8 weeks of the spring change and last at most 5 x (48 h + 1 h),
    # so shifted by up to 12 weeks they stay inside summer time (30 weeks long).
    shift = weeks * WEEK_MS
    assert max(step.end_ms for step in profile) + shift < SUMMER_2024_END_MS
    shifted = [EnergyInterval(s.start_ms + shift, s.end_ms + shift, s.energy_kwh) for s in profile]
    versions = always(calendar)
    assert split_energy(shifted, versions) == split_energy(profile, versions)


@PROPERTY_SETTINGS
@given(calendar=calendars())
def test_any_valid_calendar_survives_the_dict_round_trip(calendar: TariffCalendar) -> None:
    assert calendar_from_dict(calendar_to_dict(calendar)) == calendar


def test_dutch_preset_treats_good_friday_as_a_working_day() -> None:
    """The holidays package lists Good Friday for NL; Dutch meters do not: normal tariff."""
    good_friday_9_to_10 = [
        EnergyInterval(
            parse_instant_ms("2024-03-29T09:00:00+01:00"),
            parse_instant_ms("2024-03-29T10:00:00+01:00"),
            1.0,
        )
    ]
    tiers = split_energy(good_friday_9_to_10, [CalendarVersion(0, DUTCH_NORMAL_LOW)])
    assert (tiers.t1, tiers.t2) == (0.0, 1.0)  # t2 = normal
    ascension_9_to_10 = [
        EnergyInterval(
            parse_instant_ms("2024-05-09T09:00:00+02:00"),
            parse_instant_ms("2024-05-09T10:00:00+02:00"),
            1.0,
        )
    ]
    tiers = split_energy(ascension_9_to_10, [CalendarVersion(0, DUTCH_NORMAL_LOW)])
    assert (tiers.t1, tiers.t2) == (1.0, 0.0)  # t1 = low on a real holiday


# --- Bounded work, whatever the values (issue 10, finding 1) ----------------------------------

# Lines of Python a split may execute, at most: a one-day session takes about 350, a year's
# span about 60,000. Handing out a 1e27 kWh total a watt-hour at a time took 1e30.
SPLIT_WORK_BUDGET = 200_000


def test_a_total_of_1e27_kwh_is_refused_at_once_instead_of_counted_out_a_watt_hour_at_a_time() -> (
    None
):
    """The request that hung a worker for good: 1e27 kWh in a night session that runs into
    the day tariff (22:00-09:00 local). Float noise at that size left the registers 1e14 Wh
    short of the total, handed out one at a time. Now a few dozen lines refuse it."""
    profile = constant_power_profile(ms("2024-05-27T20:00:00Z"), ms("2024-05-28T07:00:00Z"), 1e27)
    with work_budget(SPLIT_WORK_BUDGET), pytest.raises(UnsplittableProfileError, match="1e\\+27"):
        split_energy(profile, always(BELGIAN_DAY_NIGHT))


def test_the_largest_splittable_energy_is_split_exactly_in_bounded_work() -> None:
    """At the bound (1e12 kWh, 1e15 Wh) the registers are still exact whole Wh that add up."""
    profile = constant_power_profile(
        ms("2024-05-27T18:00:00Z"), ms("2024-05-27T23:00:00Z"), MAX_SPLIT_ENERGY_KWH
    )
    with work_budget(SPLIT_WORK_BUDGET):
        t1, t2, t3, t4, total = tiers_wh(split_energy(profile, always(BELGIAN_DAY_NIGHT)))
    # Monday 20:00-01:00 local: 2 of 5 hours before 22:00 are day (t1), 3 are night (t2).
    assert (t1, t2, t3, t4, total) == (400_000_000_000_000, 600_000_000_000_000, 0, 0, 10**15)


def test_a_profile_longer_than_a_year_is_refused_not_walked_day_by_day() -> None:
    """1970 to 9999 would be three million days of calendar: refused before the first."""
    profile = constant_power_profile(ms("1970-01-01T00:00:00Z"), ms("9999-12-31T00:00:00Z"), 1.0)
    with work_budget(SPLIT_WORK_BUDGET), pytest.raises(UnsplittableProfileError, match="days"):
        split_energy(profile, always(BELGIAN_DAY_NIGHT))
    within = constant_power_profile(0, MAX_SPLIT_SPAN_MS, 1.0)
    with work_budget(SPLIT_WORK_BUDGET):
        assert split_energy(within, always(BELGIAN_DAY_NIGHT)).total == 1.0


@pytest.mark.parametrize("energy_kwh", [float("nan"), float("inf"), -float("inf")])
def test_energy_that_is_not_a_finite_number_is_refused(energy_kwh: float) -> None:
    profile = [EnergyInterval(0, HOUR_MS, 1.0), EnergyInterval(HOUR_MS, 2 * HOUR_MS, energy_kwh)]
    with pytest.raises(UnsplittableProfileError):
        split_energy(profile, [])


def test_many_readings_cost_the_readings_plus_the_segments_not_their_product() -> None:
    """10,000 four-minute steps over 31 days of the Belgian calendar (about 60 segments):
    each step walks only the segments it overlaps. Walking every segment for every step was
    600,000 overlaps, some two million lines."""
    start = ms("2024-01-01T00:00:00Z")
    step_ms = MAX_SPLIT_SPAN_MS // 12 // 10_000
    profile = [
        EnergyInterval(start + i * step_ms, start + (i + 1) * step_ms, 0.01) for i in range(10_000)
    ]
    with work_budget(400_000):
        tiers = split_energy(profile, always(BELGIAN_DAY_NIGHT))
    assert tiers_wh(tiers)[4] == 100_000


def _whole_watt_hours_one_at_a_time(
    per_register: dict[Register, float], total_kwh: float
) -> TieredEnergyKwh:
    """The split's rounding as it was before issue 10: the shortfall handed out a Wh at a
    time, round the registers in order of remainder. The reference for small shortfalls."""
    total_wh = round(round(total_kwh * 1000, 6))
    exact_wh = {register: round(per_register[register] * 1000, 6) for register in REGISTERS}
    floors = {register: math.floor(value) for register, value in exact_wh.items()}
    shortfall = total_wh - sum(floors.values())
    by_remainder = sorted(REGISTERS, key=lambda register: floors[register] - exact_wh[register])
    for index in range(abs(shortfall)):
        floors[by_remainder[index % len(REGISTERS)]] += 1 if shortfall > 0 else -1
    t1, t2, t3, t4 = (floors[register] / 1000 for register in REGISTERS)
    return TieredEnergyKwh(t1=t1, t2=t2, t3=t3, t4=t4, total=total_wh / 1000)


register_kwh = st.floats(-50, 50, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@PROPERTY_SETTINGS
@given(
    per_register=st.fixed_dictionaries(dict.fromkeys(REGISTERS, register_kwh)),
    total_kwh=register_kwh,
)
def test_the_shortfall_in_closed_form_rounds_as_the_watt_hour_loop_did(
    per_register: dict[Register, float], total_kwh: float
) -> None:
    """Registers that do not add up to the total by up to 200 kWh (200,000 Wh short or over,
    the loop's worst case here): the closed form gives exactly what the loop gave."""
    assert _whole_watt_hours(per_register, total_kwh) == _whole_watt_hours_one_at_a_time(
        per_register, total_kwh
    )


finite_energies_kwh = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(0, 1e15, allow_nan=False, allow_infinity=False),
    st.sampled_from([1e27, 1e305, 1e307, 1.7e308, -1e27, MAX_SPLIT_ENERGY_KWH]),
)
spans_ms = st.one_of(
    durations_ms,
    st.integers(0, MAX_SPLIT_SPAN_MS // 20),
    st.integers(MAX_SPLIT_SPAN_MS + 1, 300_000 * 365 * DAY_MS),
)


@settings(max_examples=200, deadline=None)
@given(
    total_kwh=finite_energies_kwh,
    shares=st.lists(st.floats(0, 1), min_size=1, max_size=4),
    start=instants(EARLIEST_MS, LATEST_MS),
    span_ms=spans_ms,
    calendar=st.sampled_from([BELGIAN_DAY_NIGHT, DUTCH_NORMAL_LOW, BRUSSELS_SMALL_HOURS_T3]),
)
@example(total_kwh=1e27, shares=[1.0], start=ms("2024-05-27T20:00:00Z"), span_ms=11 * HOUR_MS,
         calendar=BELGIAN_DAY_NIGHT)  # fmt: skip
def test_any_finite_energy_over_any_span_is_split_or_refused_in_bounded_work(
    total_kwh: float, shares: list[float], start: int, span_ms: int, calendar: TariffCalendar
) -> None:
    """Any finite total, cut into up to four steps of any size, over any span up to 300,000
    years: the split finishes within the same work budget whatever the magnitudes. Within the
    bounds the registers add up to the total exactly, in whole Wh; beyond them the profile
    is refused."""
    weights = [share / sum(shares) if sum(shares) > 0 else 1 / len(shares) for share in shares]
    step_ms = span_ms // len(weights)
    profile = [
        EnergyInterval(start + i * step_ms, start + (i + 1) * step_ms, total_kwh * weight)
        for i, weight in enumerate(weights)
    ]
    magnitude_kwh = sum(abs(step.energy_kwh) for step in profile)
    spanned_ms = profile[-1].end_ms - profile[0].start_ms
    try:
        with work_budget(SPLIT_WORK_BUDGET):
            tiers = split_energy(profile, always(calendar))
    except UnsplittableProfileError:
        assert magnitude_kwh > MAX_SPLIT_ENERGY_KWH or spanned_ms > MAX_SPLIT_SPAN_MS
        return
    except WorkBudgetExceededError:
        pytest.fail(f"splitting {total_kwh!r} kWh over {span_ms} ms took unbounded work")
    assert magnitude_kwh <= MAX_SPLIT_ENERGY_KWH
    t1, t2, t3, t4, total = tiers_wh(tiers)
    assert t1 + t2 + t3 + t4 == total
    assert total == round(round(sum(step.energy_kwh for step in profile) * 1000, 6))
