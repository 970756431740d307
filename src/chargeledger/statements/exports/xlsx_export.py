"""Statements as an XLSX workbook: a "Summary" sheet (one row per driver, then a total per
currency), then one sheet per driver with a header block, the lines and the totals.

The workbook is write-only: rows stream to temporary files as they are appended and each
driver's sheet is closed once written, so memory and open files stay flat however many drivers
there are. Cells are typed: local date-times as Excel date-times (naive, in the statement's
time zone), energy, prices and amounts as numbers (written from the document's decimals) with
number formats. Totals are the statement's own values; a row of SUM formulas below them lets a
reader check them in Excel (openpyxl and other readers without a calculation engine see the
values, never the formulas' results).
"""

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.worksheet._write_only import WriteOnlyWorksheet  # type: ignore[import-untyped]

from chargeledger.domain.instants import ms_to_datetime, parse_instant_ms
from chargeledger.domain.reimbursement.money import MINOR_UNITS
from chargeledger.domain.reimbursement.registers import REGISTERS

SUMMARY_TITLE: Final = "Summary"
KWH_FORMAT: Final = "0.000"
PRICE_FORMAT: Final = "0.000000"
DATETIME_FORMAT: Final = "yyyy-mm-dd hh:mm"
DATE_FORMAT: Final = "yyyy-mm-dd"
MAX_TITLE_LENGTH: Final = 31
_BOLD: Final = Font(bold=True)
# Excel refuses these in a sheet's title; "History" is its own, reserved.
_TITLE_FORBIDDEN: Final = re.compile(r"[\[\]:*?/\\]")
_RESERVED_TITLES: Final = frozenset(("history",))

SUMMARY_HEADER: Final = (
    "Employee number",
    "Name",
    "Statement",
    "Period from",
    "Period to (last day)",
    "Currency",
    *(f"{register} kWh" for register in REGISTERS),
    "Total kWh",
    "Amount",
    "Lines",
    "Problems",
)
LINE_HEADER: Final = (
    "Line",
    "Kind",
    "Start (local)",
    "End (local)",
    "Location",
    "Address",
    *(f"{register} kWh" for register in REGISTERS),
    "Total kWh",
    *(f"{register} price per kWh" for register in REGISTERS),
    "Amount",
    "Evidence",
    "Uncertainty kWh",
    "Counted as",
    "Also seen by",
    "Adjusts statement",
    "Problem",
    "Session id",
)
# Where the energy and amount columns are in LINE_HEADER (1-based), for the totals' formulas.
_ENERGY_COLUMNS: Final = tuple(
    range(LINE_HEADER.index("t1 kWh") + 1, LINE_HEADER.index("Total kWh") + 2)
)
_AMOUNT_COLUMN: Final = LINE_HEADER.index("Amount") + 1


def amount_format(currency: str) -> str:
    """The currency's minor units as a number format: EUR 0.00, JPY 0, KWD 0.000."""
    digits = MINOR_UNITS.get(currency, 2)
    return "0." + "0" * digits if digits else "0"


def sheet_title(employee_number: str, taken: set[str]) -> str:
    """A valid sheet title from an employee number (at most 31 characters, none of []:*?/\\,
    no apostrophe at either end), unique among `taken` (casefolded, as Excel compares them),
    which it joins."""
    base = _TITLE_FORBIDDEN.sub("_", ILLEGAL_CHARACTERS_RE.sub("", employee_number))
    base = base.strip().strip("'").strip() or "driver"
    title = base[:MAX_TITLE_LENGTH]
    counter = 1
    while title.casefold() in taken or title.casefold() in _RESERVED_TITLES:
        counter += 1
        suffix = f" ({counter})"
        title = base[: MAX_TITLE_LENGTH - len(suffix)] + suffix
    taken.add(title.casefold())
    return title


class _Cells:
    """Typed cells of one sheet."""

    def __init__(self, sheet: WriteOnlyWorksheet) -> None:
        self.sheet = sheet

    def text(self, value: str | None, *, bold: bool = False) -> Any:
        if value is None:
            return None
        cell = WriteOnlyCell(self.sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
        # openpyxl takes any text starting with "=" for a formula: a name or an address is
        # always text.
        cell.data_type = "s"
        if bold:
            cell.font = _BOLD
        return cell

    def number(self, value: str | None, number_format: str, *, bold: bool = False) -> Any:
        if value is None or value == "":
            return None
        cell = WriteOnlyCell(self.sheet, value=Decimal(value))
        cell.number_format = number_format
        if bold:
            cell.font = _BOLD
        return cell

    def formula(self, formula: str, number_format: str) -> Any:
        cell = WriteOnlyCell(self.sheet, value=formula)
        cell.number_format = number_format
        return cell

    def moment(self, value: datetime | date | None, number_format: str) -> Any:
        if value is None:
            return None
        cell = WriteOnlyCell(self.sheet, value=value)
        cell.number_format = number_format
        return cell

    def header(self, names: Iterable[str]) -> list[Any]:
        return [self.text(name, bold=True) for name in names]


def _local(instant: str | None, zone: ZoneInfo) -> datetime | None:
    # Excel has no time zones: the wall-clock time of the statement's zone, naive.
    if instant is None:
        return None
    return ms_to_datetime(parse_instant_ms(instant)).astimezone(zone).replace(tzinfo=None)


def _period(document: Mapping[str, Any]) -> tuple[date, date]:
    period = document["period"]
    end_exclusive = date.fromisoformat(period["end"])
    return date.fromisoformat(period["start"]), end_exclusive - timedelta(days=1)


def _statement_label(document: Mapping[str, Any]) -> str:
    return str(document.get("number") or "DRAFT")


class _Summary:
    """The Summary sheet, filled as the drivers stream by; a total per currency at the end."""

    def __init__(self, workbook: Workbook) -> None:
        self.sheet = workbook.create_sheet(SUMMARY_TITLE)
        self.cells = _Cells(self.sheet)
        for column, width in enumerate((16, 28, 14, 12, 12, 9), start=1):
            self.sheet.column_dimensions[get_column_letter(column)].width = width
        self.sheet.append(self.cells.header(SUMMARY_HEADER))
        self.totals: dict[str, list[Decimal]] = {}

    def add(self, document: Mapping[str, Any]) -> None:
        cells, driver, totals = self.cells, document["driver"], document["totals"]
        currency, energy = document["currency"], totals["energy"]
        first_day, last_day = _period(document)
        self.sheet.append(
            [
                cells.text(driver["employeeNumber"]),
                cells.text(driver["name"]),
                cells.text(_statement_label(document)),
                cells.moment(first_day, DATE_FORMAT),
                cells.moment(last_day, DATE_FORMAT),
                cells.text(currency),
                *(cells.number(energy[register], KWH_FORMAT) for register in REGISTERS),
                cells.number(energy["total"], KWH_FORMAT),
                cells.number(totals["amount"], amount_format(currency)),
                len(document["lines"]),
                cells.text("; ".join(document.get("problems", []))),
            ]
        )
        values = [Decimal(energy[r]) for r in (*REGISTERS, "total")] + [Decimal(totals["amount"])]
        running = self.totals.setdefault(currency, [Decimal(0)] * len(values))
        self.totals[currency] = [a + b for a, b in zip(running, values, strict=True)]

    def finish(self) -> None:
        cells = self.cells
        for currency, values in sorted(self.totals.items()):
            *energy, amount = values
            self.sheet.append(
                [
                    cells.text("Total", bold=True),
                    None,
                    None,
                    None,
                    None,
                    cells.text(currency, bold=True),
                    *(cells.number(str(kwh), KWH_FORMAT, bold=True) for kwh in energy),
                    cells.number(str(amount), amount_format(currency), bold=True),
                ]
            )


# What a worksheet keeps for writing its own XML (page setup, views, dimensions, header and
# footer, ...): once a write-only sheet is closed its XML is on disk, and saving the workbook
# reads only its title, state, names, relations and writer. Dropping these takes what each
# driver's sheet holds until the save from about 16 KiB to 5 (tests/statements/exports).
_WRITTEN_SHEET_PARTS: Final = (
    "page_setup",
    "print_options",
    "page_margins",
    "views",
    "protection",
    "conditional_formatting",
    "data_validations",
    "HeaderFooter",
    "column_dimensions",
    "row_dimensions",
    "sheet_format",
    "sheet_properties",
    "merged_cells",
)


def _close(sheet: WriteOnlyWorksheet) -> None:
    sheet.close()
    for part in _WRITTEN_SHEET_PARTS:
        if part in vars(sheet):
            delattr(sheet, part)


def _header_block(cells: _Cells, document: Mapping[str, Any]) -> list[list[Any]]:
    driver, period = document["driver"], document["period"]
    first_day, last_day = _period(document)
    zone = ZoneInfo(period["timeZone"])
    rows: list[list[Any]] = [
        [cells.text("Home charging statement", bold=True)],
        [cells.text("Driver"), cells.text(driver["name"])],
        [cells.text("Employee number"), cells.text(driver["employeeNumber"])],
        [cells.text("Period from"), cells.moment(first_day, DATE_FORMAT)],
        [cells.text("Period to (last day)"), cells.moment(last_day, DATE_FORMAT)],
        [cells.text("Time zone"), cells.text(period["timeZone"])],
        [cells.text("Statement"), cells.text(_statement_label(document))],
        [cells.text("Status"), cells.text(document["status"])],
    ]
    if document.get("finalised"):
        rows.append(
            [
                cells.text("Finalised"),
                cells.moment(_local(document["finalised"], zone), DATETIME_FORMAT),
            ]
        )
    rows += [
        [cells.text("Currency"), cells.text(document["currency"])],
        [cells.text("Content SHA-256"), cells.text(document.get("contentSha256"))],
    ]
    if document.get("problems"):
        rows.append([cells.text("Problems"), cells.text("; ".join(document["problems"]))])
    return rows


def _line_row(
    cells: _Cells, line: Mapping[str, Any], zone: ZoneInfo, money_format: str
) -> list[Any]:
    energy, prices, evidence = line["energy"], line.get("prices"), line.get("evidence")
    location, adjusts = line["location"], line.get("adjusts")
    return [
        line["lineNumber"],
        cells.text(line["kind"]),
        cells.moment(_local(line["start"], zone), DATETIME_FORMAT),
        cells.moment(_local(line["end"], zone), DATETIME_FORMAT),
        cells.text(location.get("label")),
        cells.text(location.get("address")),
        *(cells.number(energy[register], KWH_FORMAT) for register in REGISTERS),
        cells.number(energy["total"], KWH_FORMAT),
        *(cells.number(prices[r] if prices else None, PRICE_FORMAT) for r in REGISTERS),
        cells.number(line["amount"], money_format),
        cells.text(evidence["kind"] if evidence else None),
        cells.number(evidence.get("uncertaintyKwh") if evidence else None, KWH_FORMAT),
        cells.text(line.get("countedAs")),
        cells.text(
            "; ".join(
                f"{seen['entityId']}/{seen['sessionId']} ({seen['evidence']})"
                for seen in evidence.get("alsoSeenBy", [])
            )
            if evidence
            else None
        ),
        cells.text(adjusts["number"] if adjusts else None),
        cells.text(line.get("problem")),
        cells.text(line["sessionId"]),
    ]


def _write_driver_sheet(workbook: Workbook, document: Mapping[str, Any], taken: set[str]) -> None:
    sheet = workbook.create_sheet(sheet_title(document["driver"]["employeeNumber"], taken))
    cells = _Cells(sheet)
    # Widths before the first row: a write-only sheet writes its columns first.
    for column, width in enumerate((18, 12, 17, 17, 16, 28), start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    zone = ZoneInfo(document["period"]["timeZone"])
    money_format = amount_format(document["currency"])
    rows = _header_block(cells, document)
    for row in rows:
        sheet.append(row)
    sheet.append([])
    sheet.append(cells.header(LINE_HEADER))
    first_line_row = len(rows) + 3
    for line in document["lines"]:
        sheet.append(_line_row(cells, line, zone, money_format))
    last_line_row = first_line_row + len(document["lines"]) - 1
    totals = document["totals"]
    energy = totals["energy"]
    total_row: list[Any] = [cells.text("Total", bold=True), None, None, None, None, None]
    total_row += [cells.number(energy[r], KWH_FORMAT, bold=True) for r in (*REGISTERS, "total")]
    total_row += [None] * len(REGISTERS)
    total_row.append(cells.number(totals["amount"], money_format, bold=True))
    sheet.append(total_row)
    if document["lines"]:
        check: list[Any] = [None] * _AMOUNT_COLUMN
        check[0] = cells.text("Sum of the lines (formula)")
        for column in (*_ENERGY_COLUMNS, _AMOUNT_COLUMN):
            letter = get_column_letter(column)
            check[column - 1] = cells.formula(
                f"=SUM({letter}{first_line_row}:{letter}{last_line_row})",
                money_format if column == _AMOUNT_COLUMN else KWH_FORMAT,
            )
        sheet.append(check)
    _close(sheet)


def write_xlsx(documents: Iterable[Mapping[str, Any]], path: Path) -> None:
    """One workbook at `path`: Summary first, then each driver's sheet in the documents' order;
    documents are read once, one at a time."""
    workbook = Workbook(write_only=True)
    summary = _Summary(workbook)
    taken = {SUMMARY_TITLE.casefold()}
    for document in documents:
        summary.add(document)
        _write_driver_sheet(workbook, document, taken)
    summary.finish()
    workbook.save(path)
