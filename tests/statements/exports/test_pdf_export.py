"""PDF export (chargeledger.statements.exports.pdf_export): read back as a reader does, the text
(pypdf) holds the statement's number, per-register totals and amount; page 1 rendered (pypdfium2)
is an A4 page with the chart's coloured bars; many statements each start on a new page, and
memory does not grow with them beyond the compressed pages themselves."""

import gc
import io
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from chargeledger.statements.exports import pdf_export
from chargeledger.statements.exports.pdf_export import (
    REGISTER_COLOURS,
    daily_kwh,
    printable,
    write_pdf,
    write_pdfs,
)
from tests.statements.exports.documents import at_home, document, rich_document, small_document

A4_PIXELS = (596, 842)  # 595.28 x 841.89 pt, rounded up to whole pixels at 72 dpi


def pdf_bytes(source: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    write_pdf(source, out)
    return out.getvalue()


def page_texts(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def first_page_pixels(data: bytes, scale: float = 1.0) -> np.ndarray[Any, Any]:
    page = pdfium.PdfDocument(data)[0]
    image = page.render(scale=scale).to_pil().convert("RGB")
    pixels: np.ndarray[Any, Any] = np.asarray(image, dtype=np.int32)
    return pixels


def pixels_of(
    pixels: np.ndarray[Any, Any], register: str, tolerance: int = 24
) -> np.ndarray[Any, Any]:
    """A mask of the pixels in a register's bar colour."""
    colour = REGISTER_COLOURS[register]
    rgb = np.array([round(colour.red * 255), round(colour.green * 255), round(colour.blue * 255)])
    mask: np.ndarray[Any, Any] = np.all(np.abs(pixels - rgb) <= tolerance, axis=2)
    return mask


def test_the_text_has_the_number_the_totals_per_register_and_the_amount() -> None:
    (text,) = page_texts(pdf_bytes(rich_document(number="2026-000042")))
    assert "Home charging statement 2026-000042" in text
    assert "An Peeters (employee number E-001)" in text
    assert "2026-11-01 to 2026-11-30 (Europe/Brussels)" in text
    for total in ("17.125", "20.25", "37.375", "9.19"):
        assert total in text
    assert "DRAFT" not in text


def test_a_draft_says_so_and_prints_its_content_hash() -> None:
    source = rich_document()
    (text,) = page_texts(pdf_bytes(source))
    assert "Home charging statement DRAFT" in text
    assert "not final" in text
    assert source["contentSha256"] in text


def test_lines_show_local_times_evidence_and_the_statement_an_adjustment_adjusts() -> None:
    (page,) = page_texts(pdf_bytes(rich_document()))
    text = " ".join(page.split())  # cells wrap their text over lines
    assert "09:00-11:00" in text  # 08:00 UTC in Brussels, November
    assert "21:00-06:00 +1d" in text  # across midnight
    assert "car counter ±0.010 kWh" in text
    assert "charger meter" in text
    assert "adjusts 2026-000001" in text
    assert "session removed" in text
    assert "-1.50" in text


def test_page_one_renders_as_an_a4_page_with_coloured_bars_in_the_chart() -> None:
    pixels = first_page_pixels(pdf_bytes(rich_document()))
    assert pixels.shape[:2] == (A4_PIXELS[1], A4_PIXELS[0])
    assert (pixels < 200).any(axis=2).sum() > 5_000  # not a blank page
    day, night = pixels_of(pixels, "t1"), pixels_of(pixels, "t2")
    # Bars of 10.5, 2 + 20.25 and 7.125 kWh are far more than the legend's small swatches.
    assert day.sum() > 1_000
    assert night.sum() > 500
    rows = np.nonzero(day)[0]
    assert rows.min() > 0.2 * pixels.shape[0]  # below the header ...
    assert rows.max() < 0.6 * pixels.shape[0]  # ... and above the lines table


def test_a_statement_without_lines_exports_with_an_empty_chart() -> None:
    data = pdf_bytes(document(employee_number="E-404"))
    (text,) = page_texts(data)
    assert "No charging sessions in this period." in text
    assert "0.00" in text
    pixels = first_page_pixels(data)
    assert pixels_of(pixels, "t1").sum() < 100  # the legend's swatch only, no bars


def test_adjustments_are_left_out_of_the_chart_and_days_are_local() -> None:
    source = rich_document()
    days, series = daily_kwh(source)
    assert (days[0].isoformat(), days[-1].isoformat(), len(days)) == (
        "2026-11-01",
        "2026-11-30",
        30,
    )
    by_day = {day.day: (series["t1"][i], series["t2"][i]) for i, day in enumerate(days)}
    assert by_day[3] == (10.5, 0.0)
    assert by_day[10] == (2.0, 20.25)  # the night charge counts on the day it started
    assert sum(series["t1"]) == 10.5 + 2 + 7.125  # not the +2.5 and -5 of October


def test_names_the_font_cannot_show_are_replaced_not_fatal() -> None:
    source = document(name="Zoë Straße 中文 <b>&amp;", employee_number="E-ü")
    (text,) = page_texts(pdf_bytes(source))
    assert "Zoë Straße ?? <b>&amp;" in text  # printed literally, not read as markup
    assert "E-ü" in text
    assert printable("✓ ok\x00") == "? ok"
    assert printable(None) == ""


def test_many_statements_each_start_on_a_new_page() -> None:
    long_one = document(
        employee_number="E-LONG",
        number="2026-000002",
        sessions=tuple(
            at_home(f"2026-11-{day:02d}T{hour}:00", f"2026-11-{day:02d}T{hour}:30", t1="3")
            for day in range(1, 31)
            for hour in (12, 18)
        ),
    )
    out = io.BytesIO()
    write_pdfs(
        iter([rich_document(number="2026-000001"), long_one, document(employee_number="E-404")]),
        out,
    )
    texts = page_texts(out.getvalue())
    starts = [i for i, text in enumerate(texts) if text.startswith("Home charging statement")]
    assert len(texts) >= 4
    assert starts == [0, 1, len(texts) - 1]
    continuation = texts[2]
    assert "t1 kWh" in continuation  # the table's header is repeated
    assert "Statement 2026-000002 - E-LONG" in continuation
    assert "page 2" in continuation  # pages are counted per statement
    assert "page 1" in texts[-1]
    assert "180" in texts[-2]  # the long statement's 60 x 3 kWh, on its last page


def test_no_statements_make_a_one_page_pdf_that_says_so() -> None:
    out = io.BytesIO()
    write_pdfs(iter([]), out)
    (text,) = page_texts(out.getvalue())
    assert text.startswith("No statements.")


def test_the_same_statement_gives_the_same_bytes() -> None:
    source = rich_document(number="2026-000042")
    assert pdf_bytes(source) == pdf_bytes(source)


def test_compressing_each_finished_page_changes_no_byte_of_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The early compression is safe: the PDF is the one reportlab writes on its own."""
    canvas = pdf_export._CompressingCanvas(io.BytesIO())
    canvas.drawString(72, 72, "a page")
    canvas.showPage()
    (page,) = canvas._doc.Pages.pages
    assert page.stream is None  # compressed when finished, not kept as text
    documents = [rich_document(number="2026-000042"), document(employee_number="E-2")]
    early = io.BytesIO()
    write_pdfs(iter(documents), early)
    monkeypatch.setattr(pdf_export, "_CompressingCanvas", Canvas)
    reportlabs_own = io.BytesIO()
    write_pdfs(iter(documents), reportlabs_own)
    assert early.getvalue() == reportlabs_own.getvalue()


def peak_memory_bytes(write: Callable[[], None]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        write()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class _Discard(io.BytesIO):
    """An output that keeps nothing: the file's own bytes are not the exporter's memory."""

    def write(self, data: Any) -> int:
        return len(data)


def test_memory_grows_with_the_pages_not_with_the_statements() -> None:
    """Ten times the statements: the peak grows by what reportlab keeps per finished page
    (about 10 KiB, of it 2.5 KiB of compressed page), not by the statements' flowables
    (about 190 KiB each when they are all made first)."""

    def statements(count: int) -> Iterator[dict[str, Any]]:
        return (small_document(index) for index in range(count))

    few, many = 10, 100
    peak_few = peak_memory_bytes(lambda: write_pdfs(statements(few), _Discard()))
    peak_many = peak_memory_bytes(lambda: write_pdfs(statements(many), _Discard()))
    per_statement = (peak_many - peak_few) / (many - few)
    print(  # shown with pytest -s: the numbers behind the bound
        f"PDF peak: {few} statements {peak_few // 1024} KiB, {many} statements "
        f"{peak_many // 1024} KiB, {per_statement / 1024:.1f} KiB per statement"
    )
    assert per_statement < 64 * 1024


@pytest.mark.parametrize("count", [1, 3])
def test_write_pdf_and_write_pdfs_make_one_page_per_small_statement(count: int) -> None:
    out = io.BytesIO()
    write_pdfs((small_document(index) for index in range(count)), out)
    texts = page_texts(out.getvalue())
    assert [text.split("\n", 1)[0] for text in texts] == [
        f"Home charging statement 2026-{index:06d}" for index in range(count)
    ]
