"""Parsing session files into API-shaped records, line by line, without a database."""

import io
from pathlib import Path
from typing import Any

import pytest

from chargeledger.charge_sessions.session_files import (
    CSV_COLUMNS,
    FileFormatError,
    FileRecord,
    count_lines,
    detect_format,
    format_named,
    read_records,
)


def csv_records(text: str) -> list[FileRecord]:
    return list(read_records(io.StringIO(text, newline=""), "csv"))


def jsonl_records(text: str) -> list[FileRecord]:
    return list(read_records(io.StringIO(text, newline=""), "jsonl"))


# ---- CSV ----------------------------------------------------------------------------------


def test_csv_rows_become_nested_api_bodies_with_their_line_numbers() -> None:
    records = csv_records(
        "externalId,start,end,charge.total.t1,charge.total.t2,charge.total.t3,"
        "charge.total.t4,charge.total.total,location.latitude,location.longitude,"
        "location.address\n"
        "s-1,2024-05-27T13:00:00Z,2024-05-27T15:00:00Z,6,4,0,0,10,50.87405,4.70043,"
        '"Naamsestraat 22, Leuven"\n'
        "s-2,2024-05-28T13:00:00Z,2024-05-28T15:00:00Z,1.5,0.25,0,0,1.75,,,\n"
    )
    assert records == [
        FileRecord(
            2,
            {
                "externalId": "s-1",
                "start": "2024-05-27T13:00:00Z",
                "end": "2024-05-27T15:00:00Z",
                "charge": {"total": {"t1": 6.0, "t2": 4.0, "t3": 0.0, "t4": 0.0, "total": 10.0}},
                "location": {
                    "latitude": 50.87405,
                    "longitude": 4.70043,
                    "address": "Naamsestraat 22, Leuven",
                },
            },
        ),
        FileRecord(
            3,
            {
                "externalId": "s-2",
                "start": "2024-05-28T13:00:00Z",
                "end": "2024-05-28T15:00:00Z",
                "charge": {"total": {"t1": 1.5, "t2": 0.25, "t3": 0.0, "t4": 0.0, "total": 1.75}},
            },
        ),
    ]


def test_csv_value_columns_get_their_default_units() -> None:
    [record] = csv_records(
        "externalId,charge.averagePower.value,charge.start.value,charge.end.value,"
        "range.start.value,range.end.value\n"
        "d-1,7.4,20,80,100,400\n"
    )
    assert record == FileRecord(
        2,
        {
            "externalId": "d-1",
            "charge": {
                "averagePower": {"value": 7.4, "unit": "kW"},
                "start": {"value": 20.0, "unit": "%"},
                "end": {"value": 80.0, "unit": "%"},
            },
            "range": {
                "start": {"value": 100.0, "unit": "km"},
                "end": {"value": 400.0, "unit": "km"},
            },
        },
    )


def test_csv_unit_columns_override_the_default_units() -> None:
    [record] = csv_records(
        "externalId,range.start.value,range.start.unit,charge.averagePower.value,"
        "charge.averagePower.unit,charge.total.total,charge.total.unit\n"
        "u-1,62,mi,7400,W,3000,Wh\n"
    )
    assert record.body == {
        "externalId": "u-1",
        "range": {"start": {"value": 62.0, "unit": "mi"}},
        "charge": {
            "averagePower": {"value": 7400.0, "unit": "W"},
            "total": {"total": 3000.0, "unit": "Wh"},
        },
    }


def test_csv_blank_unit_cell_gets_the_default_unit() -> None:
    [record] = csv_records("externalId,range.end.value,range.end.unit\nb-1,250,\n")
    assert record.body == {"externalId": "b-1", "range": {"end": {"value": 250.0, "unit": "km"}}}


def test_csv_energy_has_no_unit_filled_in() -> None:
    # charge.total has no default here: the API's own default (kWh) applies.
    [record] = csv_records("externalId,charge.total.total\ne-1,12.5\n")
    assert record.body == {"externalId": "e-1", "charge": {"total": {"total": 12.5}}}


def test_csv_empty_cells_are_left_out() -> None:
    [record] = csv_records("externalId,start,end,charge.start.value,location.address\ne-1,,  , ,\n")
    assert record.body == {"externalId": "e-1"}


def test_csv_text_columns_stay_text_and_cells_are_trimmed() -> None:
    [record] = csv_records(
        "externalId,start,location.address,charge.total.total\n"
        " 007 , 2024-05-27T13:00:00Z ,  12 Main St  , 1e1 \n"
    )
    assert record.body == {
        "externalId": "007",
        "start": "2024-05-27T13:00:00Z",
        "location": {"address": "12 Main St"},
        "charge": {"total": {"total": 10.0}},
    }


def test_csv_blank_lines_are_skipped_and_still_counted() -> None:
    records = csv_records("externalId,charge.total.total\n\na,1\n,\n\nb,2\n")
    assert records == [
        FileRecord(3, {"externalId": "a", "charge": {"total": {"total": 1.0}}}),
        FileRecord(6, {"externalId": "b", "charge": {"total": {"total": 2.0}}}),
    ]


def test_csv_row_with_the_wrong_field_count_is_reported_and_others_still_read() -> None:
    records = csv_records("externalId,start,end\nshort,2024-05-27T13:00:00Z\nx,a,b,c\nok,s,e\n")
    assert records == [
        FileRecord(2, None, "has 2 fields but the header has 3"),
        FileRecord(3, None, "has 4 fields but the header has 3"),
        FileRecord(4, {"externalId": "ok", "start": "s", "end": "e"}),
    ]


@pytest.mark.parametrize(
    ("column", "cell"),
    [
        ("charge.total.total", "ten"),
        ("charge.start.value", "20%"),
        ("location.latitude", "50,8"),
        ("range.end.value", "1 000"),
    ],
)
def test_csv_cell_that_is_not_a_number_is_reported_naming_the_column(
    column: str, cell: str
) -> None:
    records = csv_records(f'externalId,{column}\nn-1,"{cell}"\nn-2,1\n')
    assert records[0] == FileRecord(2, None, f"{column}: '{cell}' is not a number")
    assert records[1].line == 3
    assert records[1].body is not None


def test_csv_unknown_column_is_a_file_format_error_naming_it() -> None:
    with pytest.raises(FileFormatError) as raised:
        csv_records("externalId,odometer,charge.total.total\na,1,2\n")
    message = str(raised.value)
    assert message.startswith("unknown CSV column(s) odometer;")
    assert "charge.total.total" in message


def test_csv_header_with_byte_order_mark_and_spaces_is_accepted() -> None:
    [record] = csv_records("\ufeffexternalId , charge.total.total\na,1\n")
    assert record == FileRecord(2, {"externalId": "a", "charge": {"total": {"total": 1.0}}})


def test_csv_with_crlf_line_endings_is_read() -> None:
    records = csv_records("externalId,charge.total.total\r\na,1\r\nb,2\r\n")
    assert [(record.line, record.body) for record in records] == [
        (2, {"externalId": "a", "charge": {"total": {"total": 1.0}}}),
        (3, {"externalId": "b", "charge": {"total": {"total": 2.0}}}),
    ]


def test_csv_row_after_a_quoted_multi_line_cell_keeps_its_line_number() -> None:
    records = csv_records('externalId,location.address\na,"Line one\nLine two"\nb,x\n')
    assert records[-1] == FileRecord(4, {"externalId": "b", "location": {"address": "x"}})


def test_csv_record_with_a_multi_line_cell_is_numbered_by_its_first_line() -> None:
    records = csv_records('externalId,location.address\na,"Line one\nLine two"\nb,x\n')
    assert records[0] == FileRecord(
        2, {"externalId": "a", "location": {"address": "Line one\nLine two"}}
    )


@pytest.mark.parametrize("text", ["", "externalId,start,end\n"])
def test_csv_without_rows_has_no_records(text: str) -> None:
    assert csv_records(text) == []


def test_every_csv_column_maps_to_a_path_in_the_api_body() -> None:
    header = ",".join(CSV_COLUMNS)
    cells = [
        "x"
        if name in ("externalId", "start", "end", "location.address") or name.endswith(".unit")
        else "1"
        for name in CSV_COLUMNS
    ]
    [record] = csv_records(header + "\n" + ",".join(cells) + "\n")
    assert record.body is not None
    for name, (path, _unit) in CSV_COLUMNS.items():
        node: Any = record.body
        for key in path:
            node = node[key]
        assert node == ("x" if cells[list(CSV_COLUMNS).index(name)] == "x" else 1.0), name


# ---- JSON Lines ---------------------------------------------------------------------------


def test_jsonl_objects_are_passed_through_with_line_numbers() -> None:
    records = jsonl_records(
        '{"externalId": "j-1", "charge": {"total": {"total": 10, "unit": "Wh"}}}\n'
        '{"externalId": "j-2", "range": {"start": {"value": 5}}}\n'
    )
    assert records == [
        FileRecord(1, {"externalId": "j-1", "charge": {"total": {"total": 10, "unit": "Wh"}}}),
        FileRecord(2, {"externalId": "j-2", "range": {"start": {"value": 5}}}),
    ]


def test_jsonl_blank_lines_are_skipped_and_still_counted() -> None:
    records = jsonl_records('\n{"externalId": "a"}\n   \n\n{"externalId": "b"}\n')
    assert records == [FileRecord(2, {"externalId": "a"}), FileRecord(5, {"externalId": "b"})]


def test_jsonl_invalid_json_is_reported_with_its_column() -> None:
    records = jsonl_records('{"externalId": "a"}\n{"externalId": }\n{"externalId": "c"}\n')
    assert records == [
        FileRecord(1, {"externalId": "a"}),
        FileRecord(2, None, "not valid JSON: Expecting value at column 16"),
        FileRecord(3, {"externalId": "c"}),
    ]


@pytest.mark.parametrize("line", ["[1, 2]", '"text"', "42", "null"])
def test_jsonl_line_that_is_not_an_object_is_reported(line: str) -> None:
    assert jsonl_records(line + "\n") == [FileRecord(1, None, "each line must be a JSON object")]


def test_jsonl_last_line_without_newline_and_crlf_endings_are_read() -> None:
    records = jsonl_records('{"externalId": "a"}\r\n{"externalId": "b"}')
    assert records == [FileRecord(1, {"externalId": "a"}), FileRecord(2, {"externalId": "b"})]


# ---- formats and sizes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sessions.csv", "csv"),
        ("SESSIONS.CSV", "csv"),
        ("s.jsonl", "jsonl"),
        ("s.ndjson", "jsonl"),
        ("s.json", "jsonl"),
    ],
)
def test_format_is_detected_from_the_file_name(name: str, expected: str) -> None:
    assert detect_format(Path(name)) == expected


@pytest.mark.parametrize("name", ["sessions.txt", "sessions", "sessions.csv.gz"])
def test_unknown_file_name_is_a_file_format_error(name: str) -> None:
    with pytest.raises(FileFormatError, match="cannot tell the format"):
        detect_format(Path(name))


@pytest.mark.parametrize(
    ("name", "expected"), [("csv", "csv"), ("jsonl", "jsonl"), ("ndjson", "jsonl")]
)
def test_format_is_named_on_the_command_line(name: str, expected: str) -> None:
    assert format_named(name) == expected


def test_unknown_format_name_is_a_file_format_error() -> None:
    with pytest.raises(FileFormatError, match="unknown format 'xlsx'"):
        format_named("xlsx")


def test_count_lines_counts_every_line(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a\n\nb\r\nc")
    assert count_lines(path) == 4
