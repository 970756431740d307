"""CSV export (chargeledger.statements.exports.csv_export): read back with the csv module, a
file gives every statement's lines and a total row that equals both the sum of its lines and the
document's totals; decimals are the document's own text; user text cannot become a formula."""

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from chargeledger.domain.reimbursement.registers import REGISTERS
from chargeledger.statements.exports.csv_export import COLUMNS, guarded, write_csv
from tests.statements.exports.documents import at_home, document, rich_document


def exported(documents: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = io.StringIO(newline="")
    write_csv(iter(documents), out)
    return list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))


def test_the_header_names_every_column_with_its_unit() -> None:
    out = io.StringIO(newline="")
    write_csv([], out)
    assert next(csv.reader(io.StringIO(out.getvalue()))) == list(COLUMNS)
    assert {"t1_kwh", "total_kwh", "t4_price_per_kwh", "amount", "uncertainty_kwh"} <= set(COLUMNS)


def test_read_back_each_statements_lines_sum_to_its_total_row_and_to_the_documents_totals() -> None:
    documents = [
        rich_document(number="2026-000042", employee_number="E-001"),
        rich_document(employee_number="E-002", name="Bram Claes"),
    ]
    rows = exported(documents)
    for source in documents:
        employee = source["driver"]["employeeNumber"]
        mine = [row for row in rows if row["driver_employee_number"] == employee]
        lines = [row for row in mine if row["kind"] != "total"]
        (total,) = [row for row in mine if row["kind"] == "total"]
        assert mine[-1] is total  # the total closes the statement
        assert len(lines) == len(source["lines"]) == 5
        assert sum(Decimal(row["amount"]) for row in lines) == Decimal(total["amount"])
        assert total["amount"] == source["totals"]["amount"] == "9.19"
        for register in REGISTERS:
            column = f"{register}_kwh"
            assert sum(Decimal(row[column]) for row in lines) == Decimal(total[column])
            assert total[column] == source["totals"]["energy"][register]
        assert total["total_kwh"] == source["totals"]["energy"]["total"] == "37.375"


def test_decimals_are_written_exactly_as_the_document_has_them() -> None:
    source = rich_document(number="2026-000042")
    rows = exported([source])
    for row, line in zip(rows, source["lines"], strict=False):
        assert row["amount"] == line["amount"]
        assert row["total_kwh"] == line["energy"]["total"]
    by_number = {row["line_number"]: row for row in rows}
    assert by_number["3"]["t1_kwh"] == "7.125"
    assert by_number["3"]["t2_price_per_kwh"] == "0.20"
    assert by_number["3"]["uncertainty_kwh"] == "0.010"
    # A removed session pays back: its negative amount and energy are numbers, not guarded.
    assert (by_number["5"]["amount"], by_number["5"]["t1_kwh"]) == ("-1.50", "-5")
    assert by_number["5"]["t1_price_per_kwh"] == ""  # no rate: nothing to invent


def test_lines_name_the_statement_driver_evidence_and_what_they_adjust() -> None:
    rows = exported([rich_document(number="2026-000042")])
    first = rows[0]
    assert (first["statement_number"], first["status"]) == ("2026-000042", "finalised")
    assert (first["driver_employee_number"], first["driver_name"]) == ("E-001", "An Peeters")
    assert (first["period_start"], first["period_end"], first["currency"]) == (
        "2026-11-01",
        "2026-12-01",
        "EUR",
    )
    assert first["location"] == "Home / Kerkstraat 1, Gent"
    assert first["evidence"] == "carEnergyCounter"
    charge_point = rows[2]
    assert charge_point["evidence"] == "chargerMeter"
    assert charge_point["also_seen_by"].endswith("(carPower)")
    assert [row["adjusts_statement"] for row in rows[3:5]] == ["2026-000001", "2026-000001"]
    assert [row["kind"] for row in rows] == ["session"] * 3 + ["adjustment"] * 2 + ["total"]


def test_times_are_local_with_their_offset_across_a_daylight_saving_change() -> None:
    rows = exported([rich_document()])
    # 08:00 UTC in November is 09:00 in Brussels (+01:00); the October correction's 18:00 UTC
    # was 20:00 summer time (+02:00).
    assert (rows[0]["start"], rows[0]["end"]) == (
        "2026-11-03T09:00:00+01:00",
        "2026-11-03T11:00:00+01:00",
    )
    assert rows[3]["start"] == "2026-10-20T20:00:00+02:00"


def test_a_statement_without_lines_is_one_total_row_of_zeros() -> None:
    rows = exported([document(employee_number="E-404")])
    assert len(rows) == 1
    (total,) = rows
    assert (total["kind"], total["driver_employee_number"], total["amount"]) == (
        "total",
        "E-404",
        "0.00",
    )
    assert total["statement_number"] == ""  # a draft has no number
    assert total["status"] == "draft"


def test_the_total_row_carries_the_statements_problems() -> None:
    no_plan = document(
        sessions=(at_home("2026-11-03T08:00", "2026-11-03T10:00", t1="4"),), plans=[]
    )
    rows = exported([no_plan])
    assert rows[0]["problem"] == "no rate plan for 2026-11-03"
    assert rows[-1]["problem"] == "line 1: no rate plan for 2026-11-03"


def test_text_that_a_spreadsheet_would_run_as_a_formula_gets_a_leading_apostrophe() -> None:
    hostile = document(
        name='=HYPERLINK("http://evil.example","click")',
        employee_number="+32-0001",
        sessions=(at_home("2026-11-03T08:00", "2026-11-03T10:00", t1="4"),),
    )
    hostile["lines"][0]["location"] = {"label": "@SUM(A1)", "address": None}
    rows = exported([hostile])
    line, total = rows
    assert line["driver_name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert line["driver_employee_number"] == "'+32-0001"
    assert line["location"] == "'@SUM(A1)"
    assert total["driver_name"].startswith("'=")
    assert line["amount"] == "1.20"


def test_guarded_leaves_ordinary_text_alone_and_guards_each_formula_mark() -> None:
    assert guarded("An Peeters") == "An Peeters"
    assert guarded("E-001") == "E-001"
    for mark in ("=", "+", "-", "@", "\t", "\r"):
        assert guarded(f"{mark}1+1") == f"'{mark}1+1"


def test_unicode_names_are_written_as_they_are() -> None:
    rows = exported([document(name="Zoë Straße 中文")])
    assert rows[0]["driver_name"] == "Zoë Straße 中文"


def test_each_statement_is_written_before_the_next_is_read() -> None:
    """Documents are streamed: a run of 10,000 drivers never holds them all."""
    out = io.StringIO(newline="")
    written_when_asked: list[int] = []

    def documents() -> Iterator[dict[str, Any]]:
        for number in ("E-1", "E-2", "E-3"):
            written_when_asked.append(out.getvalue().count("\r\n"))
            yield rich_document(employee_number=number)

    write_csv(documents(), out)
    # Header, then 5 lines and a total per statement, already written when the next is asked.
    assert written_when_asked == [1, 7, 13]
