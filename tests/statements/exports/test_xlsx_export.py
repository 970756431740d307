"""XLSX export (chargeledger.statements.exports.xlsx_export): read back with openpyxl, a workbook
has a Summary sheet then one sheet per driver; totals are values equal to the documents' and to
the sum of the lines; cells are typed (local date-times, numbers with formats in the currency's
minor units); user text stays text."""

import gc
import tracemalloc
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from chargeledger.domain.reimbursement.rates import RatePeriod, RatePlan
from chargeledger.domain.reimbursement.registers import REGISTERS, Registers
from chargeledger.domain.reimbursement.statements import PlanAssignment
from chargeledger.statements.exports import xlsx_export
from chargeledger.statements.exports.xlsx_export import (
    LINE_HEADER,
    SUMMARY_HEADER,
    SUMMARY_TITLE,
    sheet_title,
    write_xlsx,
)
from tests.statements.exports.documents import at_home, document, rich_document, small_document


def exported(tmp_path: Path, documents: list[dict[str, Any]]) -> Any:
    path = tmp_path / "statements.xlsx"
    write_xlsx(iter(documents), path)
    return load_workbook(path)


def local(text: str) -> datetime:
    """A wall-clock date-time without a zone, as Excel keeps them."""
    return datetime.fromisoformat(text)


def number(cell: Any) -> Decimal:
    """A numeric cell's value as the decimal it was written from."""
    assert cell.data_type == "n", f"{cell.coordinate} is not a number: {cell.value!r}"
    return Decimal(repr(cell.value))


def rows_by_label(sheet: Any) -> dict[str, tuple[Any, ...]]:
    return {row[0].value: row for row in sheet.iter_rows() if row and row[0].value is not None}


def line_rows(sheet: Any) -> list[tuple[Any, ...]]:
    rows = list(sheet.iter_rows())
    header = next(i for i, row in enumerate(rows) if row[0].value == LINE_HEADER[0])
    return [row for row in rows[header + 1 :] if isinstance(row[0].value, int)]


def column(name: str) -> int:
    return LINE_HEADER.index(name)


def test_a_summary_sheet_comes_first_then_one_sheet_per_driver(tmp_path: Path) -> None:
    workbook = exported(
        tmp_path,
        [
            rich_document(employee_number="E-001"),
            document(employee_number="E-002"),
            rich_document(employee_number="E-003"),
        ],
    )
    assert workbook.sheetnames == [SUMMARY_TITLE, "E-001", "E-002", "E-003"]
    summary = workbook[SUMMARY_TITLE]
    assert [cell.value for cell in next(summary.iter_rows())] == list(SUMMARY_HEADER)


def test_each_drivers_totals_are_values_equal_to_the_document_and_to_the_sum_of_the_lines(
    tmp_path: Path,
) -> None:
    source = rich_document(number="2026-000042")
    workbook = exported(tmp_path, [source])
    sheet = workbook["E-001"]
    lines = line_rows(sheet)
    assert len(lines) == 5
    total = rows_by_label(sheet)["Total"]
    amount = column("Amount")
    assert number(total[amount]) == Decimal(source["totals"]["amount"]) == Decimal("9.19")
    assert sum(number(row[amount]) for row in lines) == number(total[amount])
    for register in REGISTERS:
        index = column(f"{register} kWh")
        assert number(total[index]) == Decimal(source["totals"]["energy"][register])
        assert sum(number(row[index]) for row in lines) == number(total[index])
    assert number(total[column("Total kWh")]) == Decimal("37.375")
    # The check row holds formulas over exactly the line rows (a reader computes them).
    check = rows_by_label(sheet)["Sum of the lines (formula)"]
    first, last = lines[0][0].row, lines[-1][0].row
    assert check[amount].value == f"=SUM(P{first}:P{last})"


def test_the_summary_has_a_row_per_driver_and_a_total_per_currency(tmp_path: Path) -> None:
    documents = [
        rich_document(employee_number="E-001"),
        document(employee_number="E-002", name="Bram Claes"),
    ]
    summary = exported(tmp_path, documents)[SUMMARY_TITLE]
    rows = rows_by_label(summary)
    header = list(SUMMARY_HEADER)
    first, second = rows["E-001"], rows["E-002"]
    assert first[header.index("Name")].value == "An Peeters"
    assert first[header.index("Statement")].value == "DRAFT"
    assert number(first[header.index("Amount")]) == Decimal("9.19")
    assert number(first[header.index("t2 kWh")]) == Decimal("20.25")
    assert first[header.index("Lines")].value == 5
    assert number(second[header.index("Amount")]) == Decimal("0")
    total = rows["Total"]
    assert total[header.index("Currency")].value == "EUR"
    assert number(total[header.index("Amount")]) == Decimal("9.19")
    assert number(total[header.index("Total kWh")]) == Decimal("37.375")


def test_cells_are_typed_with_local_date_times_and_number_formats(tmp_path: Path) -> None:
    sheet = exported(tmp_path, [rich_document(number="2026-000042")])["E-001"]
    first, *_, removed = line_rows(sheet)
    start, end = first[column("Start (local)")], first[column("End (local)")]
    # 08:00 UTC on 3 November is 09:00 in Brussels: Excel has no zones, so local and naive.
    assert start.value == local("2026-11-03T09:00")
    assert end.value == local("2026-11-03T11:00")
    assert start.is_date
    assert start.number_format == "yyyy-mm-dd hh:mm"
    assert first[column("t1 kWh")].number_format == "0.000"
    assert first[column("t1 price per kWh")].number_format == "0.000000"
    assert number(first[column("t1 price per kWh")]) == Decimal("0.3")
    assert first[column("Amount")].number_format == "0.00"
    assert number(removed[column("Amount")]) == Decimal("-1.5")
    assert removed[column("t1 price per kWh")].value is None
    assert removed[column("Adjusts statement")].value == "2026-000001"
    header = rows_by_label(sheet)
    assert header["Statement"][1].value == "2026-000042"
    assert header["Period from"][1].value == local("2026-11-01T00:00")
    assert header["Period to (last day)"][1].value == local("2026-11-30T00:00")
    assert header["Finalised"][1].value == local("2026-12-02T10:30")
    assert len(header["Content SHA-256"][1].value) == 64


def test_amounts_use_the_currencys_minor_units(tmp_path: Path) -> None:
    yen = RatePlan(
        uuid4(), "yen", "JPY", (RatePeriod(date(2026, 1, 1), None, Registers(*[Decimal(31)] * 4)),)
    )
    source = document(
        sessions=(at_home("2026-11-03T08:00", "2026-11-03T10:00", t1="10.5"),),
        plans=[PlanAssignment(yen, date(2026, 1, 1), None)],
    )
    sheet = exported(tmp_path, [source])["E-001"]
    (line,) = line_rows(sheet)
    assert line[column("Amount")].number_format == "0"
    assert number(line[column("Amount")]) == Decimal("326")  # 325.5 rounded half up


def test_a_statement_without_lines_has_its_header_and_a_zero_total(tmp_path: Path) -> None:
    sheet = exported(tmp_path, [document(employee_number="E-404")])["E-404"]
    assert line_rows(sheet) == []
    rows = rows_by_label(sheet)
    assert number(rows["Total"][column("Amount")]) == Decimal("0")
    assert "Sum of the lines (formula)" not in rows


def test_no_statements_make_a_workbook_with_its_summary_only(tmp_path: Path) -> None:
    workbook = exported(tmp_path, [])
    assert workbook.sheetnames == [SUMMARY_TITLE]


def test_text_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    source = document(name="=1+1", employee_number="@E1", sessions=())
    workbook = exported(tmp_path, [source])
    cell = rows_by_label(workbook[SUMMARY_TITLE])["@E1"][1]
    assert (cell.value, cell.data_type) == ("=1+1", "s")
    driver = rows_by_label(workbook["@E1"])["Driver"][1]
    assert (driver.value, driver.data_type) == ("=1+1", "s")


def test_unicode_names_and_control_characters(tmp_path: Path) -> None:
    workbook = exported(tmp_path, [document(name="Zoë Straße 中文\x07", employee_number="É-1")])
    assert rows_by_label(workbook["É-1"])["Driver"][1].value == "Zoë Straße 中文"


def test_sheet_titles_from_employee_numbers_are_valid_and_unique(tmp_path: Path) -> None:
    numbers = ["E/1", "E:1", "E[1]", "E?1", "e_1", "x" * 40, "x" * 40, "'quoted'", "", "History"]
    workbook = exported(tmp_path, [document(employee_number=n) for n in numbers])
    titles = workbook.sheetnames[1:]
    assert titles == [
        "E_1",
        "E_1 (2)",
        "E_1_",
        "E_1 (3)",
        "e_1 (4)",
        "x" * 31,
        "x" * 27 + " (2)",
        "quoted",
        "driver",
        "History (2)",
    ]
    assert len({t.casefold() for t in workbook.sheetnames}) == len(workbook.sheetnames)


@pytest.mark.parametrize(
    ("number", "expected"),
    [("E-001", "E-001"), ("a*b", "a_b"), ("Summary", "Summary (2)"), ("  ", "driver")],
)
def test_sheet_title(number: str, expected: str) -> None:
    assert sheet_title(number, {"summary"}) == expected


def peak_memory_bytes(write: Callable[[], None]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        write()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_per_driver_is_what_a_closed_sheet_keeps_not_its_rows(tmp_path: Path) -> None:
    """Ten times the drivers: each adds what openpyxl keeps of a written sheet until the save
    (about 6 KiB; 17 KiB before the written sheet's parts are dropped), not its rows or its
    statement."""

    def write(count: int) -> None:
        documents = (small_document(index) for index in range(count))
        write_xlsx(documents, tmp_path / f"{count}.xlsx")

    few, many = 10, 100
    peak_few = peak_memory_bytes(lambda: write(few))
    peak_many = peak_memory_bytes(lambda: write(many))
    per_driver = (peak_many - peak_few) / (many - few)
    print(  # shown with pytest -s: the numbers behind the bound
        f"XLSX peak: {few} drivers {peak_few // 1024} KiB, {many} drivers "
        f"{peak_many // 1024} KiB, {per_driver / 1024:.1f} KiB per driver"
    )
    assert per_driver < 12 * 1024
    written = load_workbook(tmp_path / f"{many}.xlsx", read_only=True)
    try:
        assert len(written.sheetnames) == many + 1
    finally:
        written.close()


def test_dropping_a_written_sheets_parts_changes_nothing_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The memory saving is safe: every part of the workbook is the same byte for byte as
    when openpyxl keeps the written sheets whole (but the creation time of docProps)."""
    documents = [rich_document(number="2026-000042"), document(employee_number="E-2")]
    write_xlsx(iter(documents), tmp_path / "trimmed.xlsx")
    monkeypatch.setattr(xlsx_export, "_WRITTEN_SHEET_PARTS", ())
    write_xlsx(iter(documents), tmp_path / "whole.xlsx")

    def parts(name: str) -> dict[str, bytes]:
        with zipfile.ZipFile(tmp_path / name) as archive:
            return {
                entry: archive.read(entry)
                for entry in archive.namelist()
                if entry != "docProps/core.xml"
            }

    trimmed, whole = parts("trimmed.xlsx"), parts("whole.xlsx")
    assert "xl/worksheets/sheet2.xml" in trimmed
    assert trimmed == whole
