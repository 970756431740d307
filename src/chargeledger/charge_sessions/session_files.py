"""Files of charge sessions measured elsewhere: CSV with dotted headers, or JSON Lines.

Each record becomes the same JSON object `POST /v1/entities/{id}/charge-sessions` takes, so
a file row and an API call are validated by exactly the same rules.
"""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

FileFormat = Literal["csv", "jsonl"]

# CSV header -> (path in the JSON record, unit to fill in when the file has no unit column)
CSV_COLUMNS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "externalId": (("externalId",), None),
    "start": (("start",), None),
    "end": (("end",), None),
    "charge.total.t1": (("charge", "total", "t1"), None),
    "charge.total.t2": (("charge", "total", "t2"), None),
    "charge.total.t3": (("charge", "total", "t3"), None),
    "charge.total.t4": (("charge", "total", "t4"), None),
    "charge.total.total": (("charge", "total", "total"), None),
    "charge.total.unit": (("charge", "total", "unit"), None),
    "charge.averagePower.value": (("charge", "averagePower", "value"), "kW"),
    "charge.averagePower.unit": (("charge", "averagePower", "unit"), None),
    "charge.start.value": (("charge", "start", "value"), "%"),
    "charge.start.unit": (("charge", "start", "unit"), None),
    "charge.end.value": (("charge", "end", "value"), "%"),
    "charge.end.unit": (("charge", "end", "unit"), None),
    "range.start.value": (("range", "start", "value"), "km"),
    "range.start.unit": (("range", "start", "unit"), None),
    "range.end.value": (("range", "end", "value"), "km"),
    "range.end.unit": (("range", "end", "unit"), None),
    "location.latitude": (("location", "latitude"), None),
    "location.longitude": (("location", "longitude"), None),
    "location.accuracy": (("location", "accuracy"), None),
    "location.address": (("location", "address"), None),
}
_TEXT_COLUMNS = {"externalId", "start", "end", "location.address"}
_UNIT_COLUMNS = {name for name in CSV_COLUMNS if name.endswith(".unit")}


class FileFormatError(ValueError):
    """The file as a whole cannot be read (unknown columns, unknown format)."""


@dataclass(frozen=True, slots=True)
class FileRecord:
    line: int  # 1-based line number in the file, for error reports
    body: dict[str, Any] | None  # None when the line could not be parsed at all
    error: str | None = None


def detect_format(path: Path) -> FileFormat:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise FileFormatError(f"cannot tell the format of '{path.name}': name it .csv or .jsonl")


def read_records(stream: TextIO, file_format: FileFormat) -> Iterator[FileRecord]:
    if file_format == "csv":
        yield from _read_csv(stream)
    else:
        yield from _read_jsonl(stream)


def _read_jsonl(stream: TextIO) -> Iterator[FileRecord]:
    for line_number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
        except json.JSONDecodeError as error:
            yield FileRecord(
                line_number, None, f"not valid JSON: {error.msg} at column {error.colno}"
            )
            continue
        if not isinstance(body, dict):
            yield FileRecord(line_number, None, "each line must be a JSON object")
            continue
        yield FileRecord(line_number, body)


def _read_csv(stream: TextIO) -> Iterator[FileRecord]:
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [name.strip().lstrip("\ufeff") for name in header]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        raise FileFormatError(
            f"unknown CSV column(s) {', '.join(unknown)}; known columns: {', '.join(CSV_COLUMNS)}"
        )
    while True:
        # A quoted cell may span lines: a row is numbered by the line it starts on.
        line_number = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield FileRecord(
                line_number, None, f"has {len(row)} fields but the header has {len(header)}"
            )
            continue
        try:
            yield FileRecord(line_number, _nest(dict(zip(header, row, strict=True))))
        except ValueError as error:
            yield FileRecord(line_number, None, str(error))


def _nest(cells: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for column, text in cells.items():
        text = text.strip()
        if text == "":
            continue
        path, default_unit = CSV_COLUMNS[column]
        value: Any = text
        if column not in _TEXT_COLUMNS and column not in _UNIT_COLUMNS:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{column}: '{text}' is not a number") from None
        _set(body, path, value)
        if default_unit is not None:
            unit_path = (*path[:-1], "unit")
            if f"{'.'.join(unit_path)}" not in cells or not cells[".".join(unit_path)].strip():
                _set(body, unit_path, default_unit)
    return body


def _set(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = body
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def count_lines(path: Path) -> int:
    with path.open("rb") as file:
        return sum(1 for _ in file)


def format_named(name: str) -> FileFormat:
    if name == "csv":
        return "csv"
    if name in ("jsonl", "ndjson"):
        return "jsonl"
    raise FileFormatError(f"unknown format '{name}': use csv or jsonl")
