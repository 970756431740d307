"""Statements as PDF: per statement, a first page with who, which period, the statement's number
(or DRAFT), the totals per register and the amount, the content hash and a bar chart of the
kWh charged per local day, then the table of lines; each statement starts on a new page.

Many statements make one document built in a single pass: their flowables are made one
statement at a time as the layout consumes them (_LazyFlowables), and each page's drawing
operators are compressed as soon as the page is finished (_CompressingCanvas), so what stays in
memory until the file is written is the compressed pages, not the statements.

Text is set in the standard Helvetica, which has the Windows-1252 characters only: anything
else (a name in Chinese script, an emoji) is printed as "?" rather than as an empty box or an
error, and the evidence marks are plain words.
"""

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any, BinaryIO, Final
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab import rl_config  # type: ignore[import-untyped]
from reportlab.graphics.charts.barcharts import VerticalBarChart  # type: ignore[import-untyped]
from reportlab.graphics.charts.legends import Legend  # type: ignore[import-untyped]
from reportlab.graphics.shapes import Drawing  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfdoc  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    BaseDocTemplate,
    Flowable,
    Frame,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from chargeledger.domain.instants import ms_to_datetime, parse_instant_ms
from chargeledger.domain.reimbursement.registers import REGISTERS

MARGIN: Final = 15 * mm
REGISTER_COLOURS: Final = {
    "t1": colors.HexColor("#1f77b4"),
    "t2": colors.HexColor("#ff7f0e"),
    "t3": colors.HexColor("#2ca02c"),
    "t4": colors.HexColor("#9467bd"),
}
EVIDENCE_MARKS: Final = {
    "verifiedMeter": "verified meter",
    "chargerMeter": "charger meter",
    "carEnergyCounter": "car counter",
    "carPower": "car power",
    "stateOfCharge": "SoC estimate",
    "reported": "reported",
}
CHART_HEIGHT: Final = 150.0
_MAX_DAY_LABELS: Final = 16
_FONT: Final = "Helvetica"
_BOLD_FONT: Final = "Helvetica-Bold"
_GRID: Final = colors.HexColor("#bbbbbb")
_SHADE: Final = colors.HexColor("#eeeeee")

_TITLE = ParagraphStyle("title", fontName=_BOLD_FONT, fontSize=16, leading=20, spaceAfter=6)
_HEADING = ParagraphStyle("heading", fontName=_BOLD_FONT, fontSize=10, leading=13, spaceBefore=8)
_BODY = ParagraphStyle("body", fontName=_FONT, fontSize=9, leading=11)
_SMALL = ParagraphStyle("small", fontName=_FONT, fontSize=7, leading=8.5)
_PROBLEM = ParagraphStyle("problem", parent=_BODY, textColor=colors.HexColor("#b00020"))
_HASH = ParagraphStyle("hash", fontName="Courier", fontSize=7.5, leading=9)


def printable(text: str | None) -> str:
    """Text Helvetica can show: Windows-1252 characters kept, the rest as "?"."""
    if not text:
        return ""
    shown = []
    for character in unicodedata.normalize("NFKC", text):
        if unicodedata.category(character) == "Cc":
            continue
        try:
            character.encode("cp1252")
        except UnicodeEncodeError:
            character = "?"
        shown.append(character)
    return "".join(shown)


def _markup(text: str | None) -> str:
    # Paragraph text is a mini XML: a "<" or "&" in a name must not become markup.
    return escape(printable(text))


def _local(instant: str, zone: ZoneInfo) -> datetime:
    return ms_to_datetime(parse_instant_ms(instant)).astimezone(zone)


def statement_label(document: Mapping[str, Any]) -> str:
    return str(document.get("number") or "DRAFT")


def _period_text(document: Mapping[str, Any]) -> str:
    period = document["period"]
    last_day = date.fromisoformat(period["end"]) - timedelta(days=1)
    return f"{period['start']} to {last_day.isoformat()} ({period['timeZone']})"


class _StatementStart(Flowable):  # type: ignore[misc]
    """Takes no room; tells the document which statement the following pages belong to."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return (0.0, 0.0)

    def draw(self) -> None:
        pass


class _StatementsDocument(BaseDocTemplate):  # type: ignore[misc]
    footer_label = ""
    first_page = 1

    def afterFlowable(self, flowable: Any) -> None:  # noqa: N802 (reportlab's hook)
        if isinstance(flowable, _StatementStart):
            self.footer_label = flowable.label
            self.first_page = self.page


def _footer(canvas: Any, document: _StatementsDocument) -> None:
    canvas.saveState()
    canvas.setFont(_FONT, 7)
    canvas.setFillColor(colors.grey)
    page = document.page - document.first_page + 1
    canvas.drawString(MARGIN, MARGIN / 2, printable(document.footer_label))
    canvas.drawRightString(A4[0] - MARGIN, MARGIN / 2, f"page {page}")
    canvas.restoreState()


class _CompressingCanvas(Canvas):  # type: ignore[misc]
    """Compresses each page's content as it is finished: reportlab would keep every page's
    drawing operators as text until the whole document is written (about twice the memory).
    Should a reportlab release lay its pages out differently, the page is left to reportlab."""

    def showPage(self) -> None:  # noqa: N802 (reportlab's method)
        super().showPage()
        pages = getattr(getattr(self._doc, "Pages", None), "pages", None)
        if not pages:
            return
        page = pages[-1]
        stream = getattr(page, "stream", None)
        if not isinstance(stream, str) or getattr(page, "Contents", None) is not None:
            return
        if not getattr(page, "compression", False):
            return  # pages written uncompressed: nothing to gain
        # Exactly what reportlab does when it writes the page (PDFPage.check_format and
        # PDFStream.format), only now: the file is the same byte for byte.
        filters = [pdfdoc.PDFZCompress]
        if rl_config.useA85:
            filters.insert(0, pdfdoc.PDFBase85Encode)
        content = stream
        for stream_filter in reversed(filters):
            content = stream_filter.encode(content)
        dictionary = pdfdoc.PDFDictionary()
        dictionary["Filter"] = pdfdoc.PDFArray([pdfdoc.PDFName(f.pdfname) for f in filters])
        page.Contents = pdfdoc.PDFStream(dictionary, content)
        page.stream = None


class _LazyFlowables(list[Any]):
    """The flowables of the statements, made one statement at a time: reportlab's build loop
    asks len() before each step and takes from the front, so refilling when it runs empty
    keeps one statement in memory, not all of them."""

    def __init__(self, batches: Iterator[list[Any]]) -> None:
        super().__init__()
        self._batches = batches

    def __len__(self) -> int:
        while not super().__len__():
            batch = next(self._batches, None)
            if batch is None:
                break
            self.extend(batch)
        return super().__len__()

    def __bool__(self) -> bool:
        return len(self) > 0


def _info_table(document: Mapping[str, Any]) -> Table:
    driver = document["driver"]
    who = f"{_markup(driver['name'])} (employee number {_markup(driver['employeeNumber'])})"
    status = "not final: may still change" if document["status"] == "draft" else "finalised"
    if document.get("finalised"):
        status += f" {document['finalised']}"
    rows = [
        ("Driver", who),
        ("Region", _markup(driver.get("region")) or "-"),
        ("Period", _markup(_period_text(document))),
        ("Statement", f"{_markup(statement_label(document))} ({status})"),
        ("Currency", _markup(document["currency"])),
    ]
    cells = [
        [Paragraph(f"<b>{label}</b>", _BODY), Paragraph(value, _BODY)] for label, value in rows
    ]
    sha = document.get("contentSha256") or "-"
    cells.append([Paragraph("<b>Content SHA-256</b>", _BODY), Paragraph(_markup(sha), _HASH)])
    table = Table(cells, colWidths=[32 * mm, None], hAlign="LEFT")
    table.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, -1), 0)])
    )
    return table


def _totals_table(document: Mapping[str, Any]) -> Table:
    totals = document["totals"]
    energy = totals["energy"]
    header = [*(f"{r} kWh" for r in REGISTERS), "Total kWh", f"Amount ({document['currency']})"]
    values = [*(energy[r] for r in REGISTERS), energy["total"], totals["amount"]]
    table = Table([header, values], hAlign="LEFT", colWidths=[26 * mm] * len(header))
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), _BOLD_FONT, 8),
                ("FONT", (0, 1), (-1, 1), _FONT, 10),
                ("FONT", (-1, 1), (-1, 1), _BOLD_FONT, 10),
                ("ALIGN", (0, 0), (-1, -1), "RIGHT"),
                ("BACKGROUND", (0, 0), (-1, 0), _SHADE),
                ("GRID", (0, 0), (-1, -1), 0.5, _GRID),
            ]
        )
    )
    return table


def daily_kwh(document: Mapping[str, Any]) -> tuple[list[date], dict[str, list[float]]]:
    """The days of the period and, per register, the kWh of the session lines that started on
    each (local) day. Floats: these only set the heights of bars."""
    period = document["period"]
    zone = ZoneInfo(period["timeZone"])
    first, end = date.fromisoformat(period["start"]), date.fromisoformat(period["end"])
    per_day: dict[date, dict[str, float]] = defaultdict(lambda: dict.fromkeys(REGISTERS, 0.0))
    for line in document["lines"]:
        if line["kind"] != "session":
            continue  # adjustments settle earlier periods' days
        day = _local(line["start"], zone).date()
        for register in REGISTERS:
            per_day[day][register] += float(line["energy"][register])
    if per_day:
        first, end = min(first, *per_day), max(end, max(per_day) + timedelta(days=1))
    days = [first + timedelta(days=n) for n in range((end - first).days)]
    series = {
        register: [per_day[day][register] if day in per_day else 0.0 for day in days]
        for register in REGISTERS
    }
    return days, series


def _day_labels(days: list[date]) -> list[str]:
    step = max(1, -(-len(days) // _MAX_DAY_LABELS))
    if len(days) <= 31:
        return [str(day.day) for day in days]
    return [day.strftime("%m-%d") if index % step == 0 else "" for index, day in enumerate(days)]


def _chart(document: Mapping[str, Any], width: float) -> Drawing:
    days, series = daily_kwh(document)
    drawing = Drawing(width, CHART_HEIGHT)
    chart = VerticalBarChart()
    chart.x, chart.y = 30, 20
    chart.width, chart.height = width - 40, CHART_HEIGHT - 45
    # A day without energy in a register is no bar at all (None), not a bar of height 0: a
    # quarter has 92 days x 4 registers of mostly empty bars to lay out otherwise.
    chart.data = [[kwh or None for kwh in series[register]] for register in REGISTERS]
    chart.categoryAxis.categoryNames = _day_labels(days)
    chart.categoryAxis.style = "stacked"
    chart.categoryAxis.labels.fontName = _FONT
    chart.categoryAxis.labels.fontSize = 6
    chart.categoryAxis.labels.boxAnchor = "n"
    chart.valueAxis.labels.fontName = _FONT
    chart.valueAxis.labels.fontSize = 6
    chart.valueAxis.valueMin = 0
    highest = max((sum(kwh) for kwh in zip(*series.values(), strict=True)), default=0.0)
    if highest <= 0:
        chart.valueAxis.valueMax = 1  # an empty period: axes without bars, not a scaling error
    chart.barSpacing = 0
    chart.groupSpacing = 1 if len(days) > 62 else 3
    for index, register in enumerate(REGISTERS):
        chart.bars[index].fillColor = REGISTER_COLOURS[register]
        chart.bars[index].strokeColor = None
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = width - 4 * 48, CHART_HEIGHT - 6
    legend.columnMaximum = 1
    legend.deltax = 48
    legend.dx = legend.dy = 6
    legend.fontName, legend.fontSize = _FONT, 7
    legend.alignment = "right"
    legend.colorNamePairs = [(REGISTER_COLOURS[r], f"{r} kWh") for r in REGISTERS]
    drawing.add(legend)
    return drawing


def _time_text(start: datetime, end: datetime) -> str:
    days_later = (end.date() - start.date()).days
    text = f"{start:%H:%M}-{end:%H:%M}"
    return f"{text} +{days_later}d" if days_later else text


def _evidence_text(line: Mapping[str, Any]) -> str:
    evidence = line.get("evidence")
    if evidence is None:
        return "session removed" if line["kind"] == "adjustment" else "-"
    kind = str(evidence["kind"])
    text = EVIDENCE_MARKS.get(kind, kind)
    if evidence.get("uncertaintyKwh") is not None:
        text += f" \u00b1{evidence['uncertaintyKwh']} kWh"
    if evidence.get("alsoSeenBy"):
        text += f" (also seen {len(evidence['alsoSeenBy'])}x)"
    return text


def _where_text(line: Mapping[str, Any]) -> str:
    location = line["location"]
    parts = [_markup(part) for part in (location.get("label"), location.get("address")) if part]
    if line.get("adjusts"):
        parts.insert(0, f"<b>adjusts {_markup(line['adjusts']['number'])}</b>")
    if line.get("problem"):
        parts.append(f"<font color='#b00020'>problem: {_markup(line['problem'])}</font>")
    return "<br/>".join(parts) or "-"


_LINE_HEADER: Final = (
    "#",
    "Date",
    "Time",
    "Location",
    *(f"{r} kWh" for r in REGISTERS),
    "Amount",
    "Evidence",
)
# #, date, time, location (the rest of the width: None), t1..t4, amount, evidence.
_LINE_WIDTHS: Final = (8 * mm, 17 * mm, 22 * mm, None, *[14 * mm] * 4, 16 * mm, 33 * mm)


def _line_widths(width: float) -> list[float]:
    rest = width - sum(w for w in _LINE_WIDTHS if w is not None)
    return [rest if w is None else w for w in _LINE_WIDTHS]


def _lines_table(document: Mapping[str, Any], width: float) -> Table:
    zone = ZoneInfo(document["period"]["timeZone"])
    rows: list[list[Any]] = [list(_LINE_HEADER)]
    shaded: list[int] = []
    for line in document["lines"]:
        start, end = _local(line["start"], zone), _local(line["end"], zone)
        energy = line["energy"]
        if line["kind"] == "adjustment":
            shaded.append(len(rows))
        rows.append(
            [
                str(line["lineNumber"]),
                start.date().isoformat(),
                _time_text(start, end),
                Paragraph(_where_text(line), _SMALL),
                *(energy[r] for r in REGISTERS),
                line["amount"],
                Paragraph(_markup(_evidence_text(line)), _SMALL),
            ]
        )
    totals = document["totals"]
    rows.append(
        ["", "Total", "", "", *(totals["energy"][r] for r in REGISTERS), totals["amount"], ""]
    )
    style = [
        ("FONT", (0, 0), (-1, -1), _FONT, 7),
        ("FONT", (0, 0), (-1, 0), _BOLD_FONT, 7),
        ("FONT", (0, -1), (-1, -1), _BOLD_FONT, 7),
        ("BACKGROUND", (0, 0), (-1, 0), _SHADE),
        ("ALIGN", (4, 0), (8, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
        ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.black),
        ("LINEBELOW", (0, 1), (-1, -2), 0.25, _GRID),
    ]
    style += [("BACKGROUND", (0, row), (-1, row), colors.HexColor("#fff4e0")) for row in shaded]
    table = Table(rows, colWidths=_line_widths(width), repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle(style))
    return table


def statement_flowables(document: Mapping[str, Any], width: float) -> list[Any]:
    """One statement's content, from its first page's header to its last line."""
    label = statement_label(document)
    driver = document["driver"]
    flowables: list[Any] = [
        _StatementStart(f"Statement {label} - {driver['employeeNumber']} {driver['name']}"),
        Paragraph(f"Home charging statement {_markup(label)}", _TITLE),
        _info_table(document),
        Paragraph("Totals", _HEADING),
        Spacer(0, 3),
        _totals_table(document),
    ]
    for problem in document.get("problems", []):
        flowables.append(Paragraph(f"Problem: {_markup(problem)}", _PROBLEM))
    flowables += [
        Paragraph("kWh charged per day (sessions by start date, by register)", _HEADING),
        _chart(document, width),
    ]
    if not document["lines"]:
        flowables.append(Paragraph("No charging sessions in this period.", _BODY))
    else:
        flowables += [Paragraph("Lines", _HEADING), Spacer(0, 3), _lines_table(document, width)]
    return flowables


def _batches(documents: Iterable[Mapping[str, Any]], width: float) -> Iterator[list[Any]]:
    written = 0
    for document in documents:
        batch = statement_flowables(document, width)
        yield batch if written == 0 else [PageBreak(), *batch]
        written += 1
    if written == 0:
        yield [Paragraph("No statements.", _BODY)]


def write_pdfs(documents: Iterable[Mapping[str, Any]], out: BinaryIO) -> None:
    """The statements one after the other in one PDF, each from a new page; documents are read
    once, one at a time."""
    document = _StatementsDocument(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title="Home charging statements",
        author="chargeledger",
        invariant=1,  # the same statements give the same bytes
    )
    frame = Frame(
        document.leftMargin, document.bottomMargin, document.width, document.height, id="body"
    )
    document.addPageTemplates([PageTemplate(id="statement", frames=[frame], onPageEnd=_footer)])
    document.build(
        _LazyFlowables(_batches(documents, document.width)), canvasmaker=_CompressingCanvas
    )


def write_pdf(document: Mapping[str, Any], out: BinaryIO) -> None:
    """One statement as a PDF."""
    write_pdfs([document], out)
