"""Time-of-use tariff calendars, and splitting a session's energy into registers t1..t4.

A calendar says which register meters energy at each local wall-clock time: ordered rules
(first match wins), each naming a register, the days it applies to ("mon".."sun" and
"holiday", a public holiday of the calendar's country), and a from/to time of day. A rule whose
`from` is later than its `to` wraps past midnight and belongs to the day it starts on (Friday
22:00-07:00 covers Saturday until 07:00); `from == to` covers the whole day. Times no rule covers
go to the default register.

Local time is computed in the calendar's IANA zone. Within a stretch of constant UTC offset,
wall time is UTC plus that offset, so a day on which the clocks change is simply 23 or 25 hours
long and every instant is charged by the wall clock actually showing then.
"""

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Final, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from chargeledger.domain.charge_record import TieredEnergyKwh
from chargeledger.domain.physical_ranges import MAX_SESSION_DURATION_MS

Register = Literal["t1", "t2", "t3", "t4"]
REGISTERS: Final[tuple[Register, ...]] = ("t1", "t2", "t3", "t4")
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAY: Final = "holiday"
DAY_TOKENS: Final = (*WEEKDAYS, HOLIDAY)

_MINUTE_MS: Final = 60_000
_DAY_MS: Final = 86_400_000
_MINUTES_PER_DAY: Final = 1440

# The split walks the calendar day by day, so its cost grows with the span it covers: it
# takes at most a year (twelve times the longest session, MAX_SESSION_DURATION_MS; some
# 15 ms of work), never what a bogus timestamp would make it (1970 to 9999 took minutes).
MAX_SPLIT_SPAN_MS: Final = 12 * MAX_SESSION_DURATION_MS
# Registers are whole Wh held in floats, exact up to 2**53 Wh (9e12 kWh): up to this much
# energy they add up to the total exactly. It is a thousand times the largest meter register
# the ledger accepts (1e9 kWh); more is no energy at all.
MAX_SPLIT_ENERGY_KWH: Final = 1e12


class UnsplittableProfileError(ValueError):
    """An energy profile the split refuses rather than spend unbounded work on: energy that
    is not a finite number below MAX_SPLIT_ENERGY_KWH, or a span longer than
    MAX_SPLIT_SPAN_MS. Input within the physical ranges never is."""


class InvalidCalendarError(ValueError):
    """A calendar that cannot be used; `field` names the offending part as the API does."""

    def __init__(self, message: str, *, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class TariffRule:
    register: Register
    days: frozenset[str]
    from_minute: int  # minutes after local midnight, 0..1439
    to_minute: int  # 0..1440; equal to from_minute means the whole day

    def covers(
        self, day_tokens: frozenset[str], previous_day_tokens: frozenset[str], minute: int
    ) -> bool:
        if self.from_minute == self.to_minute:
            return bool(self.days & day_tokens)
        if self.from_minute < self.to_minute:
            return bool(self.days & day_tokens) and self.from_minute <= minute < self.to_minute
        # Wraps past midnight: the evening part today, the morning part of a period that
        # started on the previous day.
        if minute >= self.from_minute:
            return bool(self.days & day_tokens)
        return minute < self.to_minute and bool(self.days & previous_day_tokens)


@dataclass(frozen=True, slots=True)
class TariffCalendar:
    time_zone: str
    rules: tuple[TariffRule, ...]
    default_register: Register
    country: str | None = None
    subdivision: str | None = None
    # Holidays (by the `holidays` package's English name) that do not count, for meters that
    # ignore some of them (Dutch meters treat Good Friday as a working day).
    ignored_holidays: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidCalendarError(
                f"'{self.time_zone}' is not an IANA time zone", field="timeZone"
            ) from None
        if self.country is not None:
            try:
                _holidays(self.country, self.subdivision, (), 2024)
            except NotImplementedError:
                if self.country in holidays.list_supported_countries():
                    raise InvalidCalendarError(
                        f"'{self.subdivision}' is not a subdivision of '{self.country}'",
                        field="subdivision",
                    ) from None
                raise InvalidCalendarError(
                    f"no public holidays are known for country '{self.country}'", field="country"
                ) from None
            except (ValueError, KeyError) as error:
                raise InvalidCalendarError(
                    f"subdivision '{self.subdivision}' of '{self.country}': {error}",
                    field="subdivision",
                ) from None
            unknown = set(self.ignored_holidays) - _holiday_names(self.country, self.subdivision)
            if unknown:
                raise InvalidCalendarError(
                    f"{', '.join(sorted(unknown))}: not a holiday of '{self.country}' "
                    "(use the English names of the holidays package)",
                    field="ignoredHolidays",
                )
        elif self.subdivision is not None:
            raise InvalidCalendarError("a subdivision needs a country", field="country")
        elif self.ignored_holidays:
            raise InvalidCalendarError("ignoredHolidays need a country", field="country")
        uses_holidays = any(HOLIDAY in rule.days for rule in self.rules)
        if uses_holidays and self.country is None:
            raise InvalidCalendarError(
                "rules that name 'holiday' need the calendar's country", field="country"
            )

    def register_at(self, local_day: date, minute: int) -> Register:
        tokens = self._day_tokens(local_day)
        previous = self._day_tokens(local_day - timedelta(days=1))
        for rule in self.rules:
            if rule.covers(tokens, previous, minute):
                return rule.register
        return self.default_register

    def _day_tokens(self, day: date) -> frozenset[str]:
        weekday = WEEKDAYS[day.weekday()]
        if self.country is not None and day in _holidays(
            self.country, self.subdivision, self.ignored_holidays, day.year
        ):
            return frozenset((weekday, HOLIDAY))
        return frozenset((weekday,))

    @property
    def edge_minutes(self) -> tuple[int, ...]:
        """Every minute of the day at which the register can change."""
        edges = {0, _MINUTES_PER_DAY}
        for rule in self.rules:
            edges.update((rule.from_minute, rule.to_minute))
        return tuple(sorted(edges))


@dataclass(frozen=True, slots=True)
class CalendarVersion:
    """A calendar in force from `valid_from_ms` until the next version's start."""

    valid_from_ms: int
    calendar: TariffCalendar


@dataclass(frozen=True, slots=True)
class EnergyInterval:
    """Energy that flowed evenly between two instants (one step of a session's profile)."""

    start_ms: int
    end_ms: int
    energy_kwh: float


@dataclass(frozen=True, slots=True)
class RegisterSegment:
    start_ms: int
    end_ms: int
    register: Register


@lru_cache(maxsize=512)
def _holidays(
    country: str, subdivision: str | None, ignored: tuple[str, ...], year: int
) -> frozenset[date]:
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=year, language="en_US")
    return frozenset(
        day
        for day, names in calendar.items()
        # A day can carry several names ("Easter Monday; ..."): it counts if any is not ignored.
        if any(name.strip() not in ignored for name in str(names).split(";"))
    )


@lru_cache(maxsize=64)
def _holiday_names(country: str, subdivision: str | None) -> frozenset[str]:
    """Every holiday name the country has in the years a ledger deals with."""
    calendar = holidays.country_holidays(
        country, subdiv=subdivision, years=range(2000, 2051), language="en_US"
    )
    return frozenset(name.strip() for names in calendar.values() for name in str(names).split(";"))


def parse_time_of_day(text: str, *, allow_24: bool, field: str = "body") -> int:
    """'07:30' -> 450 minutes; '24:00' (end of day) only where allowed."""
    parts = text.split(":")
    if len(parts) != 2 or not all(
        len(part) == 2 and part.isascii() and part.isdigit() for part in parts
    ):
        raise InvalidCalendarError(f"'{text}' is not a time of day like 07:30", field=field)
    hours, minutes = int(parts[0]), int(parts[1])
    if allow_24 and hours == 24 and minutes == 0:
        return _MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise InvalidCalendarError(f"'{text}' is not a time of day like 07:30", field=field)
    return hours * 60 + minutes


def format_time_of_day(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def make_rule(register: str, days: Sequence[str], from_text: str, to_text: str) -> TariffRule:
    if register not in REGISTERS:
        raise InvalidCalendarError(
            f"register '{register}' is not one of t1, t2, t3, t4", field="register"
        )
    unknown = [day for day in days if day not in DAY_TOKENS]
    if unknown or not days:
        raise InvalidCalendarError(
            f"days must be some of {', '.join(DAY_TOKENS)}; got {', '.join(days) or 'none'}",
            field="days",
        )
    return TariffRule(
        register=register,
        days=frozenset(days),
        from_minute=parse_time_of_day(from_text, allow_24=False, field="from"),
        to_minute=parse_time_of_day(to_text, allow_24=True, field="to") % _MINUTES_PER_DAY,
    )


def _utc_offset_ms(zone: ZoneInfo, instant_ms: int) -> int:
    offset = datetime.fromtimestamp(instant_ms / 1000, tz=UTC).astimezone(zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds() * 1000)


def _constant_offset_pieces(
    zone: ZoneInfo, start_ms: int, end_ms: int
) -> list[tuple[int, int, int]]:
    """Split [start, end) where the zone's UTC offset changes: (start, end, offset) pieces."""
    pieces: list[tuple[int, int, int]] = []
    cursor = start_ms
    while cursor < end_ms:
        offset = _utc_offset_ms(zone, cursor)
        # Offsets change at most a few times a year; probe a day ahead, then bisect to the
        # minute (changes happen on whole minutes).
        probe = min(end_ms, cursor + _DAY_MS)
        if _utc_offset_ms(zone, probe - 1) == offset:
            if probe == end_ms:
                pieces.append((cursor, end_ms, offset))
                break
            pieces.append((cursor, probe, offset))
            cursor = probe
            continue
        low, high = cursor, probe - 1  # offset(low) == offset, offset(high) != offset
        while high - low > 1:
            middle = (low + high) // 2
            if _utc_offset_ms(zone, middle) == offset:
                low = middle
            else:
                high = middle
        pieces.append((cursor, high, offset))
        cursor = high
    return _merge_pieces(pieces)


def _merge_pieces(pieces: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    merged: list[tuple[int, int, int]] = []
    for piece in pieces:
        if merged and merged[-1][2] == piece[2] and merged[-1][1] == piece[0]:
            merged[-1] = (merged[-1][0], piece[1], piece[2])
        else:
            merged.append(piece)
    return merged


def _calendar_segments(
    calendar: TariffCalendar, start_ms: int, end_ms: int
) -> list[RegisterSegment]:
    zone = ZoneInfo(calendar.time_zone)
    edges = calendar.edge_minutes
    segments: list[RegisterSegment] = []
    for piece_start, piece_end, offset in _constant_offset_pieces(zone, start_ms, end_ms):
        local = piece_start + offset
        local_end = piece_end + offset
        while local < local_end:
            day_start = local - local % _DAY_MS
            local_day = date(1970, 1, 1) + timedelta(days=day_start // _DAY_MS)
            minute = (local - day_start) // _MINUTE_MS
            next_edge = next(edge for edge in edges if edge > minute)
            boundary = min(local_end, day_start + next_edge * _MINUTE_MS)
            register = calendar.register_at(local_day, int(minute))
            _append(segments, RegisterSegment(local - offset, boundary - offset, register))
            local = boundary
    return segments


def _append(segments: list[RegisterSegment], segment: RegisterSegment) -> None:
    if (
        segments
        and segments[-1].register == segment.register
        and segments[-1].end_ms == segment.start_ms
    ):
        segments[-1] = RegisterSegment(segments[-1].start_ms, segment.end_ms, segment.register)
    else:
        segments.append(segment)


def register_segments(
    start_ms: int, end_ms: int, versions: Sequence[CalendarVersion]
) -> list[RegisterSegment]:
    """Which register meters each part of [start, end). Before the first calendar version
    (or with none) everything is t1: a single-register meter."""
    ordered = sorted(versions, key=lambda version: version.valid_from_ms)
    segments: list[RegisterSegment] = []
    cursor = start_ms
    for index, version in enumerate([None, *ordered]):
        version_end = ordered[index].valid_from_ms if index < len(ordered) else end_ms
        piece_end = min(end_ms, max(cursor, version_end))
        if piece_end > cursor:
            if version is None:
                _append(segments, RegisterSegment(cursor, piece_end, "t1"))
            else:
                for segment in _calendar_segments(version.calendar, cursor, piece_end):
                    _append(segments, segment)
            cursor = piece_end
        if cursor >= end_ms:
            break
    return segments


def split_energy(
    intervals: Sequence[EnergyInterval], versions: Sequence[CalendarVersion]
) -> TieredEnergyKwh:
    """Energy per register: each interval's energy spread evenly over it and cut at every
    register boundary. Registers are whole Wh that add up exactly to the total's whole Wh.

    The work is bounded by the number of intervals and of register segments, whatever the
    energies: UnsplittableProfileError for a profile beyond what any session can be.
    """
    steps = [interval for interval in intervals if interval.energy_kwh != 0]
    per_register = dict.fromkeys(REGISTERS, 0.0)
    if not steps:
        return _whole_watt_hours(per_register, 0.0)
    _check_splittable(steps)
    segments = register_segments(
        min(step.start_ms for step in steps), max(step.end_ms for step in steps), versions
    )
    # The segments tile the profile's span in order: each step starts its walk at the
    # segment holding its start, so the work is the steps plus the segments they cross.
    segment_starts = [segment.start_ms for segment in segments]
    for step in sorted(steps, key=lambda interval: interval.start_ms):
        if step.end_ms <= step.start_ms:
            # Energy at an instant (no duration): it belongs to that instant's register.
            register = register_segments(step.start_ms, step.start_ms + 1, versions)[0].register
            per_register[register] += step.energy_kwh
            continue
        duration = step.end_ms - step.start_ms
        index = max(bisect.bisect_right(segment_starts, step.start_ms) - 1, 0)
        while index < len(segments) and segments[index].start_ms < step.end_ms:
            segment = segments[index]
            overlap = min(step.end_ms, segment.end_ms) - max(step.start_ms, segment.start_ms)
            if overlap > 0:
                per_register[segment.register] += step.energy_kwh * overlap / duration
            index += 1
    return _whole_watt_hours(per_register, sum(step.energy_kwh for step in steps))


def _check_splittable(steps: Sequence[EnergyInterval]) -> None:
    # Bounding the sum of magnitudes bounds every partial sum and every register too.
    magnitude_kwh = sum(abs(step.energy_kwh) for step in steps)
    if not magnitude_kwh <= MAX_SPLIT_ENERGY_KWH:  # also NaN
        raise UnsplittableProfileError(
            f"energy of {magnitude_kwh:.6g} kWh cannot be split into registers "
            f"(at most {MAX_SPLIT_ENERGY_KWH:.0e} kWh)"
        )
    span_ms = max(step.end_ms for step in steps) - min(step.start_ms for step in steps)
    if span_ms > MAX_SPLIT_SPAN_MS:
        raise UnsplittableProfileError(
            f"a profile spanning {span_ms / _DAY_MS:.6g} days cannot be split into registers "
            f"(at most {MAX_SPLIT_SPAN_MS // _DAY_MS} days)"
        )


def _whole_watt_hours(per_register: dict[Register, float], total_kwh: float) -> TieredEnergyKwh:
    """Round to Wh by largest remainder, so the registers sum to exactly the rounded total."""
    # Rounded to a millionth of a Wh first: float noise must not decide which of two registers
    # tied at half a Wh gets it (it would make the split depend on where readings fall).
    total_wh = round(round(total_kwh * 1000, 6))
    exact_wh = {register: round(per_register[register] * 1000, 6) for register in REGISTERS}
    floors = {register: math.floor(value) for register, value in exact_wh.items()}
    by_remainder = sorted(REGISTERS, key=lambda register: floors[register] - exact_wh[register])
    # The shortfall handed out (or taken back) a Wh at a time, round the registers in order
    # of remainder, in closed form: each gets the whole rounds, the first ones the rest.
    shortfall = total_wh - sum(floors.values())
    rounds, rest = divmod(abs(shortfall), len(REGISTERS))
    sign = 1 if shortfall > 0 else -1
    for index, register in enumerate(by_remainder):
        floors[register] += sign * (rounds + (1 if index < rest else 0))
    return TieredEnergyKwh(
        t1=floors["t1"] / 1000,
        t2=floors["t2"] / 1000,
        t3=floors["t3"] / 1000,
        t4=floors["t4"] / 1000,
        total=total_wh / 1000,
    )


def constant_power_profile(start_ms: int, end_ms: int, energy_kwh: float) -> list[EnergyInterval]:
    """A session known only by its start, end and energy: evenly spread over the whole of it."""
    return [EnergyInterval(start_ms, end_ms, energy_kwh)]


def calendar_to_dict(calendar: TariffCalendar) -> dict[str, object]:
    """The calendar in the API's words (also how it is stored)."""
    return {
        "timeZone": calendar.time_zone,
        "country": calendar.country,
        "subdivision": calendar.subdivision,
        "ignoredHolidays": list(calendar.ignored_holidays),
        "defaultRegister": calendar.default_register,
        "rules": [
            {
                "register": rule.register,
                "days": [day for day in DAY_TOKENS if day in rule.days],
                "from": format_time_of_day(rule.from_minute),
                "to": format_time_of_day(rule.to_minute),
            }
            for rule in calendar.rules
        ],
    }


def calendar_from_dict(definition: dict[str, object]) -> TariffCalendar:
    """Inverse of calendar_to_dict; InvalidCalendarError names what is wrong."""
    rules_data = definition.get("rules") or []
    if not isinstance(rules_data, list):
        raise InvalidCalendarError("rules must be a list")
    rules = []
    for index, rule in enumerate(rules_data):
        if not isinstance(rule, dict):
            raise InvalidCalendarError("each rule must be an object", field=f"rules.{index}")
        try:
            rules.append(
                make_rule(
                    str(rule.get("register")),
                    [str(day) for day in rule.get("days") or []],
                    str(rule.get("from")),
                    str(rule.get("to")),
                )
            )
        except InvalidCalendarError as error:
            raise InvalidCalendarError(str(error), field=f"rules.{index}.{error.field}") from None
    default = str(definition.get("defaultRegister") or "t1")
    if default not in REGISTERS:
        raise InvalidCalendarError(
            f"defaultRegister '{default}' is not one of t1, t2, t3, t4", field="defaultRegister"
        )
    if not isinstance(definition.get("timeZone"), str):
        raise InvalidCalendarError(
            "timeZone is required, an IANA name such as Europe/Brussels", field="timeZone"
        )
    country, subdivision = definition.get("country"), definition.get("subdivision")
    ignored = definition.get("ignoredHolidays") or []
    if not isinstance(ignored, list):
        raise InvalidCalendarError(
            "ignoredHolidays must be a list of holiday names", field="ignoredHolidays"
        )
    return TariffCalendar(
        ignored_holidays=tuple(str(name) for name in ignored),
        time_zone=str(definition.get("timeZone")),
        rules=tuple(rules),
        default_register=default,
        country=None if country is None else str(country),
        subdivision=None if subdivision is None else str(subdivision),
    )


_WEEKEND_AND_HOLIDAYS = ["sat", "sun", "holiday"]
_WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]

# Belgian bi-hourly meters (Fluvius in Flanders, Sibelga in Brussels): day tariff on working
# days 07:00-22:00, night tariff at all other times, all weekend, and on public holidays.
# t1 = day, t2 = night.
BELGIAN_DAY_NIGHT = TariffCalendar(
    time_zone="Europe/Brussels",
    country="BE",
    rules=(
        make_rule("t2", _WEEKEND_AND_HOLIDAYS, "00:00", "00:00"),
        make_rule("t1", _WORKDAYS, "07:00", "22:00"),
    ),
    default_register="t2",
)

# Dutch dual-tariff meters (DSMR numbering): t1 = low ("dal"), t2 = normal. Normal on working
# days 07:00-23:00; low at night, all weekend and on national holidays (most grid operators;
# a few regions start low at 21:00: use a calendar of your own there). Meters do not treat
# Good Friday as a holiday, though the `holidays` package lists it for NL.
DUTCH_NORMAL_LOW = TariffCalendar(
    time_zone="Europe/Amsterdam",
    country="NL",
    ignored_holidays=("Good Friday",),
    rules=(
        make_rule("t1", _WEEKEND_AND_HOLIDAYS, "00:00", "00:00"),
        make_rule("t2", _WORKDAYS, "07:00", "23:00"),
    ),
    default_register="t1",
)

PRESETS: Final[dict[str, TariffCalendar]] = {
    "BE-day-night": BELGIAN_DAY_NIGHT,
    "NL-normal-low": DUTCH_NORMAL_LOW,
}


@dataclass(frozen=True)
class CalendarBook:
    """Every calendar that can apply to one entity's sessions."""

    entity_versions: list[CalendarVersion]
    location_versions: dict[UUID, list[CalendarVersion]] = field(default_factory=dict)

    def for_location(self, best_match: UUID | None) -> list[CalendarVersion]:
        """A session matched to a location with its own calendar uses that one from its first
        version's validFrom on, and the entity's calendar before."""
        if best_match is None or best_match not in self.location_versions:
            return self.entity_versions
        own = self.location_versions[best_match]
        since = min(version.valid_from_ms for version in own)
        return [v for v in self.entity_versions if v.valid_from_ms < since] + own
