"""Statements as CSV: one row per line of every statement, then a "total" row per statement.

The total row repeats the statement's own totals (energy per register and amount) and its
problems, so a reader can check a statement without summing, and a statement with no lines
still shows up. Decimals are the document's own text, never reformatted; instants are local
date-times of the statement's time zone with their UTC offset (RFC 3339: unambiguous, and what
the driver saw on the clock). Open `out` with newline="" (the csv module writes CRLF itself).
"""

import csv
from collections.abc import Iterable, Mapping
from typing import Any, Final, TextIO
from zoneinfo import ZoneInfo

from chargeledger.domain.instants import ms_to_datetime, parse_instant_ms
from chargeledger.domain.reimbursement.registers import REGISTERS

COLUMNS: Final = (
    "statement_number",
    "status",
    "driver_employee_number",
    "driver_name",
    "period_start",
    "period_end",
    "currency",
    "line_number",
    "kind",
    "start",
    "end",
    "location",
    *(f"{register}_kwh" for register in REGISTERS),
    "total_kwh",
    *(f"{register}_price_per_kwh" for register in REGISTERS),
    "amount",
    "evidence",
    "uncertainty_kwh",
    "also_seen_by",
    "adjusts_statement",
    "problem",
)
# Columns holding decimals or counts: written as they are (a negative adjustment keeps its
# minus). Every other column may carry someone's text and is guarded against formulas.
NUMERIC_COLUMNS: Final = frozenset(
    (
        "line_number",
        *(f"{register}_kwh" for register in REGISTERS),
        "total_kwh",
        *(f"{register}_price_per_kwh" for register in REGISTERS),
        "amount",
        "uncertainty_kwh",
    )
)
TOTAL_KIND: Final = "total"
# A spreadsheet opening the file runs a cell starting with one of these as a formula
# (OWASP "CSV injection"); tab and carriage return can hide one after a separator.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def guarded(text: str) -> str:
    """Text a spreadsheet shows as text: a leading apostrophe before a formula's first mark."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def local_time_text(instant: str, zone: ZoneInfo) -> str:
    """An RFC 3339 UTC instant of the document as the local date-time with its offset."""
    return ms_to_datetime(parse_instant_ms(instant)).astimezone(zone).isoformat()


def location_text(location: Mapping[str, Any]) -> str:
    return " / ".join(part for part in (location.get("label"), location.get("address")) if part)


def _statement_columns(document: Mapping[str, Any]) -> dict[str, str]:
    driver, period = document["driver"], document["period"]
    return {
        "statement_number": document.get("number") or "",
        "status": document["status"],
        "driver_employee_number": driver["employeeNumber"],
        "driver_name": driver["name"],
        "period_start": period["start"],
        "period_end": period["end"],
        "currency": document["currency"],
    }


def _line_row(line: Mapping[str, Any], zone: ZoneInfo) -> dict[str, str]:
    energy, prices, evidence = line["energy"], line.get("prices"), line.get("evidence")
    adjusts = line.get("adjusts")
    uncertainty = evidence.get("uncertaintyKwh") if evidence else None
    also_seen = evidence.get("alsoSeenBy", []) if evidence else []
    return {
        "line_number": str(line["lineNumber"]),
        "kind": line["kind"],
        "start": local_time_text(line["start"], zone),
        "end": local_time_text(line["end"], zone),
        "location": location_text(line["location"]),
        **{f"{register}_kwh": energy[register] for register in REGISTERS},
        "total_kwh": energy["total"],
        **{
            f"{register}_price_per_kwh": prices[register] if prices else ""
            for register in REGISTERS
        },
        "amount": line["amount"],
        "evidence": evidence["kind"] if evidence else "",
        "uncertainty_kwh": uncertainty or "",
        "also_seen_by": "; ".join(
            f"{seen['entityId']}/{seen['sessionId']} ({seen['evidence']})" for seen in also_seen
        ),
        "adjusts_statement": adjusts["number"] if adjusts else "",
        "problem": line.get("problem") or "",
    }


def _total_row(document: Mapping[str, Any]) -> dict[str, str]:
    totals = document["totals"]
    energy = totals["energy"]
    return {
        "kind": TOTAL_KIND,
        **{f"{register}_kwh": energy[register] for register in REGISTERS},
        "total_kwh": energy["total"],
        "amount": totals["amount"],
        "problem": "; ".join(document.get("problems", [])),
    }


def statement_rows(document: Mapping[str, Any]) -> Iterable[list[str]]:
    """The rows of one statement, in COLUMNS order, guarded."""
    zone = ZoneInfo(document["period"]["timeZone"])
    common = _statement_columns(document)
    rows = [_line_row(line, zone) for line in document["lines"]]
    rows.append(_total_row(document))
    for row in rows:
        values = {**common, **row}
        yield [
            value if column in NUMERIC_COLUMNS else guarded(value)
            for column in COLUMNS
            for value in (values.get(column, ""),)
        ]


def write_csv(documents: Iterable[Mapping[str, Any]], out: TextIO) -> None:
    """Every statement's rows after one header row; documents are read once, one at a time."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for document in documents:
        writer.writerows(statement_rows(document))
