"""`chargeledger import FILE --entity ID`: CSV and JSON Lines, run as the real command."""

import asyncio
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests.support.api import TenantApi, session_body
from tests.support.servers import chargeledger_command

CSV_HEADER = (
    "externalId,start,end,"
    "charge.total.t1,charge.total.t2,charge.total.t3,charge.total.t4,charge.total.total,"
    "charge.total.unit,charge.start.value,charge.end.value,"
    "range.start.value,range.start.unit,range.end.value,range.end.unit,"
    "location.latitude,location.longitude,location.address"
)
# line 2: kWh and km by default
ROW_KWH = (
    "imp-1,2024-05-27T13:00:00Z,2024-05-27T15:00:00Z,6,4,0,0,10,,20,80,100,,400,,"
    '50.87405,4.70043,"Naamsestraat 22, Leuven"'
)
# Wh and miles, converted on import
ROW_WH = (
    "imp-2,2024-05-28T08:00:00Z,2024-05-28T09:00:00Z,2000,1000,0,0,3000,Wh,10,40,10,mi,50,mi,,,"
)
# t1..t4 do not add up to the total
ROW_BAD_TOTAL = "imp-3,2024-05-29T13:00:00Z,2024-05-29T15:00:00Z,6,4,0,0,11,,,,,,,,,,"
ROW_SHORT = "imp-4,2024-05-30T13:00:00Z"
ROW_NOT_A_NUMBER = "imp-5,2024-05-31T13:00:00Z,2024-05-31T15:00:00Z,6,4,0,0,abc,,,,,,,,,,"
ROW_LAST = "imp-6,2024-06-01T13:00:00Z,2024-06-01T14:30:00Z,3,0,0,0,3,,,,,,,,,,"

EXPECTED_KWH: dict[str, Any] = {
    "charge": {
        "averagePower": {"unit": "kW", "value": 5.0},
        "end": {"unit": "%", "value": 80.0},
        "start": {"unit": "%", "value": 20.0},
        "total": {"t1": 6.0, "t2": 4.0, "t3": 0.0, "t4": 0.0, "total": 10.0, "unit": "kWh"},
    },
    "end": "2024-05-27T15:00:00Z",
    "location": {"address": "Naamsestraat 22, Leuven", "latitude": 50.87405, "longitude": 4.70043},
    "locationMatches": [],
    "range": {"start": {"unit": "km", "value": 100.0}, "end": {"unit": "km", "value": 400.0}},
    "start": "2024-05-27T13:00:00Z",
    "method": "external",
    "energyMethod": None,
    "energyUncertainty": {"unit": "kWh", "value": None},
    "idTag": None,
    "meterEvidence": None,
}
EXPECTED_WH: dict[str, Any] = {
    "charge": {
        "averagePower": {"unit": "kW", "value": 3.0},
        "end": {"unit": "%", "value": 40.0},
        "start": {"unit": "%", "value": 10.0},
        "total": {"t1": 2.0, "t2": 1.0, "t3": 0.0, "t4": 0.0, "total": 3.0, "unit": "kWh"},
    },
    "end": "2024-05-28T09:00:00Z",
    "location": {"address": None, "latitude": None, "longitude": None},
    "locationMatches": [],
    "range": {
        "start": {"unit": "km", "value": 10 * 1.609344},
        "end": {"unit": "km", "value": 50 * 1.609344},
    },
    "start": "2024-05-28T08:00:00Z",
    "method": "external",
    "energyMethod": None,
    "energyUncertainty": {"unit": "kWh", "value": None},
    "idTag": None,
    "meterEvidence": None,
}
EXPECTED_LAST_TOTAL = {"t1": 3.0, "t2": 0.0, "t3": 0.0, "t4": 0.0, "total": 3.0, "unit": "kWh"}


def run_import(
    database_url: str, path: Path, entity_id: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    # Piped like in a cron job: no terminal, and no COLUMNS inherited from one.
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    return subprocess.run(
        chargeledger_command(
            "import", str(path), "--entity", entity_id, *extra, "--database-url", database_url
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


async def import_file(
    database_url: str, path: Path, entity_id: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_import, database_url, path, entity_id, *extra)


def write_csv(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([CSV_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def stored_sessions(api: TenantApi, entity_id: str) -> list[dict[str, Any]]:
    response = await api.list_sessions(
        entity_id, start="2024-01-01T00:00:00Z", end="2025-01-01T00:00:00Z", pageSize=1000
    )
    assert response.status_code == 200, response.text
    sessions: list[dict[str, Any]] = response.json()["data"]
    return sessions


def rejected_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("line ")]


async def test_csv_rows_are_stored_with_exact_values(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    entity = await api.create_entity("EV")
    path = write_csv(tmp_path / "sessions.csv", ROW_KWH, ROW_WH)
    result = await import_file(database_url, path, entity["id"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert rejected_lines(result.stderr) == []
    assert "2 created, 0 already recorded (unchanged or corrected), 0 rejected" in result.stderr

    sessions = await stored_sessions(api, entity["id"])
    assert [session["data"] for session in sessions] == [EXPECTED_KWH, EXPECTED_WH]
    for session in sessions:
        assert session["entityId"] == entity["id"]
        assert set(session) == {"data", "entityId", "id", "created"}
        fetched = await api.http.get(f"/v1/entities/{entity['id']}/charge-sessions/{session['id']}")
        assert fetched.json() == session


async def test_bad_csv_rows_are_reported_by_line_and_later_good_rows_still_stored(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    entity = await api.create_entity("EV")
    path = write_csv(
        tmp_path / "mixed.csv", ROW_KWH, ROW_BAD_TOTAL, ROW_SHORT, ROW_NOT_A_NUMBER, ROW_LAST
    )
    result = await import_file(database_url, path, entity["id"])
    assert result.returncode == 1, result.stderr
    assert [line.split(":")[0] for line in rejected_lines(result.stderr)] == [
        "line 3",
        "line 4",
        "line 5",
    ]
    stderr_lines = result.stderr.splitlines()
    assert "line 4: has 2 fields but the header has 18" in stderr_lines
    assert "line 5: charge.total.total: 'abc' is not a number" in stderr_lines
    assert "2 created, 0 already recorded (unchanged or corrected), 3 rejected" in result.stderr

    sessions = await stored_sessions(api, entity["id"])
    assert [session["data"]["start"] for session in sessions] == [
        "2024-05-27T13:00:00Z",
        "2024-06-01T13:00:00Z",
    ]
    assert sessions[0]["data"] == EXPECTED_KWH
    assert sessions[1]["data"]["charge"]["total"] == EXPECTED_LAST_TOTAL
    assert sessions[1]["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 2.0}


async def test_each_rejected_row_is_reported_on_one_whole_stderr_line(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    """'line N: reason' must survive `2> errors.txt` and `grep '^line '` intact."""
    entity = await api.create_entity("EV")
    path = write_csv(tmp_path / "long-reason.csv", ROW_BAD_TOTAL)
    result = await import_file(database_url, path, entity["id"])
    assert result.returncode == 1, result.stderr
    assert rejected_lines(result.stderr) == [
        "line 2: charge.total: t1+t2+t3+t4 = 10 kWh but total = 11 kWh; "
        "they must agree within 0.001 kWh"
    ]


async def test_jsonl_good_lines_are_stored_and_bad_lines_reported_by_line_number(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    entity = await api.create_entity("ChargePoint")
    first = session_body(
        "j-1", "2024-05-27T13:00:00Z", "2024-05-27T15:00:00Z", tiers_kwh=(6.0, 4.0, 0.0, 0.0)
    )
    last = session_body(
        "j-2",
        "2024-05-28T13:00:00Z",
        "2024-05-28T17:00:00Z",
        total_kwh=8.0,
        soc=None,
        range_km=None,
        position=(50.87405, 4.70043),
        address="Home",
    )
    backwards = session_body("j-3", "2024-05-29T15:00:00Z", "2024-05-29T13:00:00Z")
    path = write_jsonl(
        tmp_path / "sessions.jsonl",
        json.dumps(first),  # line 1
        "",  # line 2: blank, skipped
        "{not json",  # line 3
        "[1, 2]",  # line 4
        json.dumps(backwards),  # line 5
        json.dumps(last),  # line 6
    )
    result = await import_file(database_url, path, entity["id"])
    assert result.returncode == 1, result.stderr
    reports = rejected_lines(result.stderr)
    assert [line.split(":")[0] for line in reports] == ["line 3", "line 4", "line 5"]
    assert reports[0].startswith("line 3: not valid JSON: Expecting property name")
    assert reports[1:] == [
        "line 4: each line must be a JSON object",
        "line 5: end: end must be after start",
    ]
    assert "2 created, 0 already recorded (unchanged or corrected), 3 rejected" in result.stderr

    sessions = await stored_sessions(api, entity["id"])
    assert [session["data"] for session in sessions] == [
        {
            "charge": {
                "averagePower": {"unit": "kW", "value": 5.0},
                "end": {"unit": "%", "value": 80.0},
                "start": {"unit": "%", "value": 20.0},
                "total": {
                    "t1": 6.0,
                    "t2": 4.0,
                    "t3": 0.0,
                    "t4": 0.0,
                    "total": 10.0,
                    "unit": "kWh",
                },
            },
            "end": "2024-05-27T15:00:00Z",
            "location": {"address": None, "latitude": None, "longitude": None},
            "locationMatches": [],
            "range": {
                "start": {"unit": "km", "value": 100.0},
                "end": {"unit": "km", "value": 400.0},
            },
            "start": "2024-05-27T13:00:00Z",
            "method": "external",
            "energyMethod": None,
            "energyUncertainty": {"unit": "kWh", "value": None},
            "idTag": None,
            "meterEvidence": None,
        },
        {
            "charge": {
                "averagePower": {"unit": "kW", "value": 2.0},
                "end": {"unit": "%", "value": None},
                "start": {"unit": "%", "value": None},
                "total": {"t1": 8.0, "t2": 0.0, "t3": 0.0, "t4": 0.0, "total": 8.0, "unit": "kWh"},
            },
            "end": "2024-05-28T17:00:00Z",
            "location": {"address": "Home", "latitude": 50.87405, "longitude": 4.70043},
            "locationMatches": [],
            "range": {"start": {"unit": "km", "value": None}, "end": {"unit": "km", "value": None}},
            "start": "2024-05-28T13:00:00Z",
            "method": "external",
            "energyMethod": None,
            "energyUncertainty": {"unit": "kWh", "value": None},
            "idTag": None,
            "meterEvidence": None,
        },
    ]


async def test_reimporting_the_same_file_is_idempotent(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    entity = await api.create_entity("EV")
    path = write_csv(tmp_path / "twice.csv", ROW_KWH, ROW_WH)
    first = await import_file(database_url, path, entity["id"])
    assert first.returncode == 0, first.stderr
    before = await stored_sessions(api, entity["id"])

    second = await import_file(database_url, path, entity["id"])
    assert second.returncode == 0, second.stderr
    assert "0 created, 2 already recorded (unchanged or corrected), 0 rejected" in second.stderr
    after = await stored_sessions(api, entity["id"])
    assert after == before
    assert len({session["id"] for session in after}) == 2


async def test_reimporting_a_corrected_row_replaces_its_values_under_the_same_id(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    entity = await api.create_entity("EV")
    original = write_csv(tmp_path / "original.csv", ROW_LAST)
    assert (await import_file(database_url, original, entity["id"])).returncode == 0
    [before] = await stored_sessions(api, entity["id"])

    corrected = write_csv(
        tmp_path / "corrected.csv", ROW_LAST.replace(",3,0,0,0,3,", ",2,1,0,0,3,")
    )
    result = await import_file(database_url, corrected, entity["id"])
    assert result.returncode == 0, result.stderr
    [after] = await stored_sessions(api, entity["id"])
    assert (after["id"], after["created"]) == (before["id"], before["created"])
    assert after["data"]["charge"]["total"] == {
        "t1": 2.0,
        "t2": 1.0,
        "t3": 0.0,
        "t4": 0.0,
        "total": 3.0,
        "unit": "kWh",
    }


async def test_rows_already_posted_through_the_api_are_not_duplicated(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    entity = await api.create_entity("EV")
    body = session_body("shared-1", "2024-05-27T13:00:00Z", "2024-05-27T15:00:00Z")
    posted = await api.post_session(entity["id"], body)
    assert posted.status_code == 201, posted.text
    path = write_jsonl(tmp_path / "again.jsonl", json.dumps(body))
    result = await import_file(database_url, path, entity["id"])
    assert result.returncode == 0, result.stderr
    assert [session["id"] for session in await stored_sessions(api, entity["id"])] == [
        posted.json()["id"]
    ]


async def test_unknown_csv_column_fails_naming_it_and_stores_nothing(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    entity = await api.create_entity("EV")
    path = tmp_path / "unknown.csv"
    path.write_text(
        "externalId,start,end,charge.total.total,odometer\n"
        "u-1,2024-05-27T13:00:00Z,2024-05-27T15:00:00Z,10,12345\n",
        encoding="utf-8",
    )
    result = await import_file(database_url, path, entity["id"])
    assert result.returncode != 0
    assert "odometer" in result.stderr
    assert "unknown CSV column" in result.stderr
    assert await stored_sessions(api, entity["id"]) == []


async def test_unknown_entity_fails_on_stderr(database_url: str, tmp_path: Path) -> None:
    missing = str(uuid.uuid4())
    path = write_csv(tmp_path / "orphan.csv", ROW_KWH)
    result = await import_file(database_url, path, missing)
    assert result.returncode != 0
    assert f"entity {missing} was not found" in result.stderr


async def test_unknown_file_format_fails_on_stderr(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    entity = await api.create_entity("EV")
    path = tmp_path / "sessions.txt"
    path.write_text(CSV_HEADER + "\n" + ROW_KWH + "\n", encoding="utf-8")
    result = await import_file(database_url, path, entity["id"])
    assert result.returncode != 0
    assert "sessions.txt" in result.stderr
    assert await stored_sessions(api, entity["id"]) == []


async def test_format_option_overrides_the_file_name(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    entity = await api.create_entity("EV")
    path = tmp_path / "export.txt"
    path.write_text(CSV_HEADER + "\n" + ROW_KWH + "\n", encoding="utf-8")
    result = await import_file(database_url, path, entity["id"], "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert [s["data"] for s in await stored_sessions(api, entity["id"])] == [EXPECTED_KWH]


async def test_rows_for_an_entity_with_capture_disabled_are_all_rejected(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.patch(
        f"/v1/entities/{entity['id']}/features",
        json={"feature": "CaptureChargeSessions", "enabled": False},
    )
    assert response.status_code == 200, response.text
    path = write_csv(tmp_path / "disabled.csv", ROW_KWH, ROW_LAST)
    result = await import_file(database_url, path, entity["id"])
    assert result.returncode == 1, result.stderr
    assert [line.split(":")[0] for line in rejected_lines(result.stderr)] == ["line 2", "line 3"]
    assert await stored_sessions(api, entity["id"]) == []
