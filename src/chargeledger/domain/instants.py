"""Instants as integer UTC epoch milliseconds, and their RFC 3339 text form.

Storing integers makes SQLite and PostgreSQL order, compare and page identically.
"""

import re
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

# RFC 3339 date-time, plus the space separator re.alto's own docs use ("2024-05-27 13:00:00Z").
_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<fraction>\d{1,9}))?(?P<offset>[Zz]|[+-]\d{2}:\d{2})$",
    re.ASCII,  # RFC 3339 digits are 0-9 only, not every Unicode digit
)

# Instants outside these years are almost certainly bugs in the caller (a unit mix-up such
# as seconds sent as milliseconds); refusing them keeps nonsense out of the ledger.
MIN_INSTANT_MS = 0
MAX_INSTANT_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class InvalidInstantError(ValueError):
    """Text that is not an RFC 3339 date-time with a time zone."""


def parse_instant_ms(text: str) -> int:
    """Parse an RFC 3339 date-time with `Z` or an offset into UTC epoch milliseconds.

    Sub-millisecond digits are truncated, never rounded, so an instant never moves
    into the next millisecond (and so never across a frame boundary).
    """
    match = _RFC3339.match(text.strip())
    if match is None:
        raise InvalidInstantError(
            f"{_quoted(text)} is not an RFC 3339 date-time such as 2024-05-27T13:00:00Z "
            "(a time zone, Z or an offset like +02:00, is required)"
        )
    fraction = (match["fraction"] or "").ljust(3, "0")[:3]
    offset_text = match["offset"]
    if offset_text in ("Z", "z"):
        tz = UTC
    else:
        sign = 1 if offset_text[0] == "+" else -1
        hours, minutes = int(offset_text[1:3]), int(offset_text[4:6])
        if hours > 23 or minutes > 59:
            raise InvalidInstantError(f"'{text}' has an impossible UTC offset {offset_text}")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        naive = datetime.fromisoformat(f"{match['date']}T{match['time']}")
    except ValueError as error:
        raise InvalidInstantError(f"'{text}' is not a valid date-time: {error}") from None
    instant_ms = datetime_to_ms(naive.replace(tzinfo=tz, microsecond=int(fraction) * 1000))
    if not MIN_INSTANT_MS <= instant_ms <= MAX_INSTANT_MS:
        raise InvalidInstantError(f"'{text}' is outside the years 1970 to 9999")
    return instant_ms


# A charger's timestamp: as RFC 3339 but the zone may be missing (a common deviation).
_ZONELESS = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?$",
    re.ASCII,
)


def parse_charger_instant(text: str, *, zoneless_as_utc: bool) -> tuple[int, bool]:
    """A charger's timestamp as UTC epoch milliseconds, and whether it lacked a time zone.

    OCPP requires a zone; many chargers leave it out and mean UTC. Read so only when the
    charger is configured to be tolerated (`zoneless_as_utc`); otherwise refused as usual.
    """
    stripped = text.strip()
    if zoneless_as_utc and _ZONELESS.match(stripped):
        return parse_instant_ms(stripped + "Z"), True
    return parse_instant_ms(stripped), False


# How much of a text that is not an instant its error quotes.
_MAX_QUOTED_CHARS = 64


def _quoted(text: str) -> str:
    """The text in quotes for an error message: shortened, and with what cannot be encoded
    (a lone surrogate from a JSON escape) escaped, so the message can always be sent."""
    shown = text if len(text) <= _MAX_QUOTED_CHARS else text[: _MAX_QUOTED_CHARS - 1] + "…"
    return "'" + shown.encode("utf-8", "backslashreplace").decode("utf-8") + "'"


def datetime_to_ms(instant: datetime) -> int:
    if instant.tzinfo is None:
        raise InvalidInstantError("a datetime without a time zone is not an instant")
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def ms_to_datetime(instant_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=instant_ms)


@lru_cache(maxsize=8192)
def _date_text(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def format_instant(instant_ms: int) -> str:
    """`2023-11-07T05:31:56Z`, with `.123` milliseconds only when they are not zero.

    Arithmetic rather than datetime.strftime: a page of 1000 records formats 3000 of these.
    """
    day, ms_of_day = divmod(instant_ms, 86_400_000)
    seconds, millis = divmod(ms_of_day, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{_date_text(day)}T{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"
