"""The `period` of a statement: a month ("2026-10"), a quarter ("2026-Q4") or custom dates
("2026-10-01/2026-11-01", the end exclusive), as local dates of the policy's time zone, and the
UTC instants its local midnights fall on.

A period's days are local dates: October in Brussels starts at 2026-09-30T22:00Z (CEST) and ends
at 2026-10-31T23:00Z (CET, the clocks went back on the 25th), 745 hours long. Midnight is found
with zoneinfo's rules, so a day of 23 or 25 hours, or a zone whose clocks jump at midnight, still
gives the first instant of the local date.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_CUSTOM_DAYS = 366
FORMS = (
    'a month "2026-10", a quarter "2026-Q4", or two dates "2026-10-01/2026-11-01" '
    f"(the end not included, at most {MAX_CUSTOM_DAYS} days)"
)

_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_QUARTER = re.compile(r"(\d{4})-Q([1-4])", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# Years a statement can be about (beyond them, the end of a December would not be a date).
_FIRST_YEAR, _LAST_YEAR = 1970, 9998


class PeriodError(ValueError):
    """A period parameter that is none of the three forms; the message says why."""


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date  # the first day not included

    @property
    def text(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    def overlaps(self, start: date, end: date) -> bool:
        return self.start < end and start < self.end


def _year(text: str) -> int:
    year = int(text)
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise PeriodError(f"the year {year} is outside {_FIRST_YEAR}..{_LAST_YEAR}")
    return year


def _next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _date(text: str) -> date:
    if not _DATE.fullmatch(text):
        raise PeriodError(f"{text!r} is not a date YYYY-MM-DD; give {FORMS}")
    try:
        day = date.fromisoformat(text)
    except ValueError as error:
        raise PeriodError(f"{text!r} is not a date ({error})") from None
    _year(text[:4])
    return day


def parse_period(text: str) -> Period:
    """The period named by `text`; PeriodError explains the three forms otherwise."""
    text = text.strip()
    if match := _MONTH.fullmatch(text):
        month = int(match[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"{text!r}: there is no month {match[2]}; give {FORMS}")
        start = date(_year(match[1]), month, 1)
        return Period(start, _next_month(start))
    if match := _QUARTER.fullmatch(text):
        start = date(_year(match[1]), 3 * int(match[2]) - 2, 1)
        return Period(start, _next_month(_next_month(_next_month(start))))
    if text.count("/") == 1:
        start_text, end_text = text.split("/")
        start, end = _date(start_text), _date(end_text)
        if end <= start:
            raise PeriodError(f"{text!r}: the end {end} must be after the start {start}")
        if end - start > timedelta(days=MAX_CUSTOM_DAYS):
            raise PeriodError(
                f"{text!r} is {(end - start).days} days long; a period is at most "
                f"{MAX_CUSTOM_DAYS} days"
            )
        return Period(start, end)
    raise PeriodError(f"{text!r} is not a period; give {FORMS}")


def local_midnight_ms(day: date, zone: ZoneInfo) -> int:
    """The first instant (UTC epoch ms) of the local date `day` in `zone`.

    fold=0 takes the earlier of two midnights when the clocks go back over midnight, and when
    they jump over it (midnight does not exist) the offset before the jump, which lands exactly
    on the jump: the first instant the local date shows.
    """
    local = datetime.combine(day, time(0), tzinfo=zone)
    instant = local.astimezone(UTC)
    return int((instant - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) // 1000


def period_window_ms(period: Period, zone: ZoneInfo) -> tuple[int, int]:
    """[start, end) in UTC epoch ms of the period's local dates."""
    return local_midnight_ms(period.start, zone), local_midnight_ms(period.end, zone)
