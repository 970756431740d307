"""POST /v1/rate-plans/import: rate plans and their periods from a CSV file, all or nothing.

The file is UTF-8 (a byte order mark is allowed: spreadsheets write one), comma-separated, with
a header row naming the columns in any order:

    plan, currency, valid_from, valid_to, t1_price_per_kwh, t2_price_per_kwh, t3_price_per_kwh,
    t4_price_per_kwh

`plan`, `currency`, `valid_from` and `t1_price_per_kwh` are required; `valid_to` and t2..t4 may
be left out or empty (open end; t1's price). A plan the tenant has no plan of that name is
created; otherwise the file's periods replace the plan's periods with the same valid_from (and
the others are kept). Any problem refuses the whole file, with "row N, column C: why" (the
header is row 1); nothing is stored.
"""

import csv
import io
import itertools
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Final
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.reimbursement.money import MINOR_UNITS, MoneyError, parse_price
from chargeledger.domain.reimbursement.rates import RatePeriod, checked_periods
from chargeledger.domain.reimbursement.registers import Registers
from chargeledger.errors import InvalidInputError
from chargeledger.rate_plans import repository
from chargeledger.rate_plans.schemas import parse_local_date
from chargeledger.rate_plans.service import merged_periods

PLAN: Final = "plan"
CURRENCY: Final = "currency"
VALID_FROM: Final = "valid_from"
VALID_TO: Final = "valid_to"
PRICES: Final = tuple(f"t{n}_price_per_kwh" for n in range(1, 5))
COLUMNS: Final = (PLAN, CURRENCY, VALID_FROM, VALID_TO, *PRICES)
REQUIRED: Final = (PLAN, CURRENCY, VALID_FROM, PRICES[0])
MAX_NAME_CHARACTERS: Final = 200
# A file with many bad rows is reported in part: enough to fix a pattern, not a wall of text.
MAX_REPORTED_PROBLEMS: Final = 20


@dataclass(frozen=True, slots=True)
class ImportRow:
    number: int  # the header is row 1
    period: RatePeriod


@dataclass(slots=True)
class PlanRows:
    """A plan of the file: its name, currency and rows, in the file's order."""

    name: str
    currency: str
    rows: list[ImportRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ImportedPlan:
    id: UUID
    name: str
    created: bool
    periods_imported: int


class _Problems:
    """The problems found so far; refuses the file once it has one."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.columns: list[str] = []

    def add(self, row: int, column: str, why: str) -> None:
        self.messages.append(f"row {row}, column {column}: {why}")
        self.columns.append(column)

    def add_row(self, row: int, why: str) -> None:
        self.messages.append(f"row {row}: {why}")
        self.columns.append("body")

    def refuse(self) -> None:
        if not self.messages:
            return
        shown = self.messages[:MAX_REPORTED_PROBLEMS]
        detail = "; ".join(shown)
        if len(self.messages) > len(shown):
            detail += f"; and {len(self.messages) - len(shown)} more problems"
        detail += ". Nothing was imported."
        raise InvalidInputError(
            detail,
            errors=[
                {"name": column, "in": "body", "detail": message}
                for column, message in zip(self.columns, shown, strict=False)
            ],
        )


def _file_problem(detail: str) -> InvalidInputError:
    detail = f"{detail}. Nothing was imported."
    return InvalidInputError(detail, errors=[{"name": "body", "in": "body", "detail": detail}])


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        row = data.count(b"\n", 0, error.start) + 1
        raise _file_problem(
            f"the file is not UTF-8: line {row} has a byte (0x{data[error.start]:02x}) that "
            "UTF-8 does not allow; save it as CSV UTF-8"
        ) from None


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """The records with their numbers (a quoted field may span lines: not line numbers)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    number = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _file_problem(f"row {number + 1}: not readable as CSV ({error})") from None
        number += 1
        yield number, record


def _header(record: list[str]) -> dict[str, int]:
    names = [name.strip().lower() for name in record]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        hint = ""
        if any(";" in name or "\t" in name for name in unknown):
            hint = " (the columns must be separated by commas, not semicolons or tabs)"
        raise _file_problem(
            "row 1: unknown column"
            + ("s " if len(unknown) > 1 else " ")
            + ", ".join(repr(name) for name in unknown)
            + hint
            + "; the columns are "
            + ", ".join(COLUMNS)
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _file_problem(f"row 1: the column {', '.join(repeated)} is named more than once")
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise _file_problem(f"row 1: the required column {', '.join(missing)} is missing")
    return {name: index for index, name in enumerate(names)}


def _price(text: str, column: str) -> tuple[Decimal | None, str | None]:
    try:
        return parse_price(text, field=column), None
    except MoneyError as error:
        return None, str(error).removeprefix(f"{column}: ")


def _date(text: str) -> tuple[date | None, str | None]:
    try:
        return parse_local_date(text), None
    except ValueError as error:
        return None, str(error)


def _row(
    number: int, values: dict[str, str], problems: _Problems
) -> tuple[str, str, RatePeriod] | None:
    """The row's plan name, currency and period, or None after adding its problems."""
    before = len(problems.messages)
    for column, value in values.items():
        if "\x00" in value:
            problems.add(number, column, "contains the NUL character")
            return None
    name = values.get(PLAN, "").strip()
    if not name:
        problems.add(number, PLAN, "the plan's name is required")
    elif len(name) > MAX_NAME_CHARACTERS:
        problems.add(number, PLAN, f"longer than {MAX_NAME_CHARACTERS} characters")
    currency = values.get(CURRENCY, "").strip()
    if currency not in MINOR_UNITS:
        problems.add(
            number,
            CURRENCY,
            f"{currency!r} is not an ISO 4217 code we know; use one of "
            + ", ".join(sorted(MINOR_UNITS)),
        )
    valid_from, why = _date(values.get(VALID_FROM, "").strip())
    if why is not None:
        problems.add(number, VALID_FROM, why)
    valid_to: date | None = None
    if values.get(VALID_TO, "").strip():
        valid_to, why = _date(values[VALID_TO].strip())
        if why is not None:
            problems.add(number, VALID_TO, why)
        elif valid_from is not None and valid_to is not None and valid_to <= valid_from:
            problems.add(
                number,
                VALID_TO,
                f"{valid_to} is not after valid_from ({valid_from}); valid_to is the first "
                "day no longer included",
            )
    prices: list[Decimal] = []
    for column in PRICES:
        text = values.get(column, "").strip()
        if not text:
            if column == PRICES[0]:
                problems.add(number, column, "the price is required (t2..t4 default to it)")
            elif prices:
                prices.append(prices[0])
            continue
        price, why = _price(text, column)
        if price is None:
            problems.add(number, column, why or "is not a price")
        else:
            prices.append(price)
    if len(problems.messages) > before or valid_from is None or len(prices) != len(PRICES):
        return None
    return name, currency, RatePeriod(valid_from, valid_to, Registers(*prices))


def parse_plans(data: bytes) -> list[PlanRows]:
    """The file's plans in the order it first names them; InvalidInputError for any problem."""
    records = _records(_text(data))
    first = next(records, None)
    if first is None or not any(value.strip() for value in first[1]):
        raise _file_problem(
            "the file is empty: it needs a header row naming its columns, e.g. "
            + ",".join(REQUIRED)
        )
    columns = _header(first[1])
    problems = _Problems()
    plans: dict[str, PlanRows] = {}
    first_row_of: dict[tuple[str, date], int] = {}
    for number, record in records:
        if not any(value.strip() for value in record):
            continue  # a blank line, or a spreadsheet's empty row
        if len(record) != len(columns):
            problems.add_row(number, f"has {len(record)} values, the header {len(columns)} columns")
            continue
        values = {name: record[index] for name, index in columns.items()}
        parsed = _row(number, values, problems)
        if parsed is None:
            continue
        name, currency, period = parsed
        plan = plans.setdefault(name, PlanRows(name=name, currency=currency))
        if currency != plan.currency:
            problems.add(
                number,
                CURRENCY,
                f"plan {name!r} is in {plan.currency} on row {plan.rows[0].number}",
            )
            continue
        earlier = first_row_of.setdefault((name, period.valid_from), number)
        if earlier != number:
            problems.add(
                number,
                VALID_FROM,
                f"plan {name!r} has a period from {period.valid_from} on row {earlier} already",
            )
            continue
        plan.rows.append(ImportRow(number=number, period=period))
    problems.refuse()
    if not plans:
        raise _file_problem("the file has no rows after its header")
    return list(plans.values())


def _overlaps(plan: PlanRows, stored: Sequence[RatePeriod], problems: _Problems) -> None:
    """Adds a problem for each period of the file that overlaps another (of the file, or
    stored and not replaced), naming the row to change."""
    rows_by_start = {row.period.valid_from: row.number for row in plan.rows}
    merged = sorted(
        merged_periods(stored, [row.period for row in plan.rows]),
        key=lambda period: period.valid_from,
    )
    for earlier, later in itertools.pairwise(merged):
        if earlier.valid_to is not None and earlier.valid_to <= later.valid_from:
            continue
        blamed = rows_by_start.get(later.valid_from)
        other = later if blamed is None else earlier
        if blamed is None:
            blamed = rows_by_start[earlier.valid_from]
        where = rows_by_start.get(other.valid_from)
        other_text = f"row {where}" if where is not None else "stored, not replaced by the file"
        problems.add(
            blamed,
            VALID_FROM,
            f"plan {plan.name!r}: the periods from {earlier.valid_from} "
            f"(to {earlier.valid_to or 'open'}) and from {later.valid_from} overlap "
            f"(the other is {other_text})",
        )


async def import_plans(
    connection: AsyncConnection, *, tenant_id: UUID, plans: Sequence[PlanRows], now_ms: int
) -> list[ImportedPlan]:
    """Stores the parsed plans, or raises InvalidInputError having stored nothing (the
    caller's transaction is rolled back with it)."""
    await repository.lock_tenant(connection, tenant_id=tenant_id)
    existing = await repository.plans_named(
        connection, tenant_id=tenant_id, names=[plan.name for plan in plans]
    )
    named: dict[str, list[UUID]] = {}
    currencies: dict[UUID, str] = {}
    for row in existing:
        named.setdefault(row.name, []).append(row.id)
        currencies[row.id] = row.currency
    stored = await repository.periods_of(
        connection, [ids[0] for ids in named.values() if len(ids) == 1]
    )
    problems = _Problems()
    for plan in plans:
        ids = named.get(plan.name, [])
        first_row = plan.rows[0].number
        if len(ids) > 1:
            problems.add(
                first_row,
                PLAN,
                f"the tenant has {len(ids)} plans named {plan.name!r}: the import cannot tell "
                "which to update; rename all but one",
            )
        elif ids and currencies[ids[0]] != plan.currency:
            problems.add(
                first_row,
                CURRENCY,
                f"plan {plan.name!r} exists in {currencies[ids[0]]}, not {plan.currency}",
            )
        else:
            _overlaps(plan, stored.get(ids[0], []) if ids else [], problems)
    problems.refuse()

    imported = []
    new_plans = []
    periods: dict[UUID, list[RatePeriod]] = {}
    for plan in plans:
        ids = named.get(plan.name, [])
        plan_id = ids[0] if ids else uuid.uuid4()
        periods[plan_id] = [row.period for row in plan.rows]
        # Checked above, row by row; this is the domain's word on it, the last line of defence.
        checked_periods(merged_periods(stored.get(plan_id, []), periods[plan_id]))
        if not ids:
            new_plans.append(
                {
                    "id": plan_id,
                    "tenant_id": tenant_id,
                    "name": plan.name,
                    "currency": plan.currency,
                    "cap_plan_id": None,
                    "created_ms": now_ms,
                    "updated_ms": now_ms,
                }
            )
        imported.append(
            ImportedPlan(
                id=plan_id, name=plan.name, created=not ids, periods_imported=len(plan.rows)
            )
        )
    await repository.insert_plans(connection, new_plans)
    await repository.touch_plans(
        connection,
        plan_ids=[plan.id for plan in imported if not plan.created],
        updated_ms=now_ms,
    )
    await repository.delete_periods_starting(
        connection, {plan.id: periods[plan.id] for plan in imported if not plan.created}
    )
    await repository.insert_periods(connection, periods)
    return imported
