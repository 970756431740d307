"""The periodic OCPP sweep (ocpp/sweep.py) handles each transaction on its own
(issue 10, finding 5): a value out of range stored before ranges were checked is left out of
the computation, and a transaction that fails for any other reason is logged (ids, no
content), recorded on its charger, and tried again later, while every other transaction,
whichever tenant's, gets its session in the same round.

The rows are written straight through storage, as an older version would have left them, in
a database of this module's own (no server's sweep runs on it)."""

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargeledger.auth import service as auth
from chargeledger.domain.meter_values import MAX_REGISTER_KWH, Sample
from chargeledger.domain.session_detection import DetectorConfig
from chargeledger.domain.tariffs import BELGIAN_DAY_NIGHT, calendar_to_dict
from chargeledger.entities.service import EntityType, create_entity
from chargeledger.ocpp import repository as ocpp_repository
from chargeledger.ocpp.sweep import (
    FIRST_RETRY_MS,
    MAX_FAILURES_IN_A_ROW,
    SweepFailures,
    close_silent_transactions,
)
from chargeledger.storage.database import Database
from chargeledger.storage.tables import charge_sessions, ocpp_charger_events, ocpp_transactions
from chargeledger.tariffs import repository as calendars_repository
from tests.support.databases import migrated_database

# Monday 2024-06-03 19:30Z: the sessions are an hour long, and the sweep runs a day later.
START_MS = 1_717_443_000_000
HOUR_MS = 3_600_000
NOW_MS = START_MS + 24 * HOUR_MS
TIMEOUT_MS = 2 * HOUR_MS
CONFIG = DetectorConfig()
ID_TAG = "TAG-NEVER-LOGGED"


@pytest.fixture(scope="module")
async def database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    async with migrated_database(
        tmp_path_factory.mktemp("ocpp-sweep"), name_hint="ocpp_sweep"
    ) as db:
        yield db


@pytest.fixture(autouse=True)
async def _nothing_owed_from_other_tests(database: Database) -> None:
    """Each test sweeps the whole database: what earlier tests left owed is settled first."""
    async with database.write() as connection:
        await connection.execute(sa.update(ocpp_transactions).values(needs_session=False))
        await connection.execute(
            sa.update(ocpp_transactions)
            .where(ocpp_transactions.c.status == "open")
            .values(status="stopped")
        )


@dataclass
class Charger:
    entity_id: UUID
    tenant_id: UUID


async def charger(database: Database, *, calendar: str | None = "valid") -> Charger:
    """A charge point of a tenant of its own, with the Belgian day/night calendar, or with a
    calendar row no version of the code can read ("corrupt")."""
    async with database.write() as connection:
        credentials = await auth.create_tenant(connection, name="sweep", now_ms=START_MS)
        entity = await create_entity(
            connection,
            tenant_id=credentials.tenant_id,
            entity_type=EntityType.CHARGE_POINT,
            name="wallbox",
            identifier=f"SW-{uuid.uuid4().hex[:12]}",
            brand=None,
            properties={},
            now_ms=START_MS,
        )
        if calendar is not None:
            await calendars_repository.put_version(
                connection,
                calendar_id=uuid.uuid4(),
                entity_id=entity.id,
                location_id=None,
                valid_from_ms=0,
                definition_json=(
                    orjson.dumps(calendar_to_dict(BELGIAN_DAY_NIGHT)).decode()
                    if calendar == "valid"
                    else "{not json"
                ),
                now_ms=START_MS,
            )
    return Charger(entity.id, credentials.tenant_id)


async def transaction(
    database: Database,
    station: Charger,
    *,
    meter_start_wh: float | None = 1_000_000.0,
    meter_stop_wh: float | None = 1_011_000.0,
    samples: list[Sample] | None = None,
    status: str = "stopped",
    transaction_id: UUID | None = None,
) -> UUID:
    """A 1.6 transaction from START_MS, stopped an hour later (or open, silent since its last
    sample), stored as it is, whatever its values."""
    transaction_id = transaction_id or uuid.uuid4()
    async with database.write() as connection:
        await ocpp_repository.insert_transaction(
            connection,
            id=transaction_id,
            entity_id=station.entity_id,
            transaction_key=str(uuid.uuid4().int % 10**9),
            number=None,
            connector_id=1,
            id_tag=ID_TAG,
            start_ms=START_MS,
            meter_start_wh=meter_start_wh,
            stop_ms=START_MS + HOUR_MS if status == "stopped" else None,
            meter_stop_wh=meter_stop_wh if status == "stopped" else None,
            stop_reason="Local" if status == "stopped" else None,
            status=status,
            last_message_ms=START_MS + HOUR_MS,
            needs_session=status == "stopped",
            created_ms=START_MS,
        )
        await ocpp_repository.add_samples(
            connection, transaction_id=transaction_id, samples=samples or []
        )
    return transaction_id


def at_minute(minute: int, **values: Any) -> Sample:
    return Sample(timestamp_ms=START_MS + minute * 60_000, **values)


async def session_energy_kwh(database: Database, transaction_id: UUID) -> float | None:
    """The energy of the transaction's session; fails if it has none."""
    async with database.read() as connection:
        row = (
            await connection.execute(
                sa.select(charge_sessions.c.energy_kwh, ocpp_transactions.c.needs_session)
                .join(ocpp_transactions, ocpp_transactions.c.session_id == charge_sessions.c.id)
                .where(ocpp_transactions.c.id == transaction_id)
            )
        ).one()
    assert not row.needs_session
    energy: float | None = row.energy_kwh
    return energy


async def owed(database: Database, transaction_id: UUID) -> bool:
    async with database.read() as connection:
        return bool(
            await connection.scalar(
                sa.select(ocpp_transactions.c.needs_session).where(
                    ocpp_transactions.c.id == transaction_id
                )
            )
        )


async def events_of(database: Database, station: Charger) -> list[tuple[str, dict[str, Any]]]:
    async with database.read() as connection:
        rows = await connection.execute(
            sa.select(ocpp_charger_events.c.kind, ocpp_charger_events.c.detail_json).where(
                ocpp_charger_events.c.entity_id == station.entity_id
            )
        )
        return [(row.kind, orjson.loads(row.detail_json)) for row in rows]


async def sweep(database: Database, failures: SweepFailures, now_ms: int = NOW_MS) -> int:
    return await close_silent_transactions(
        database, now_ms=now_ms, timeout_ms=TIMEOUT_MS, config=CONFIG, failures=failures
    )


# ---- values out of range, stored before ranges were checked --------------------------------


async def test_a_register_of_1_7e308_wh_stored_earlier_is_left_out_and_the_session_is_made(
    database: Database,
) -> None:
    """Before, the sweep failed (or wedged in the tariff split) on this transaction every
    round. Its meterStop, a sample's register and a sample's power are out of range: the
    session runs from meterStart to the last register in range (minute 40, 7.333 kWh)."""
    station = await charger(database)
    poisoned = await transaction(
        database,
        station,
        meter_stop_wh=1.7e308,
        samples=[
            at_minute(20, energy_kwh=1003.667, power_kw=1.7e308),
            at_minute(40, energy_kwh=1007.333, power_kw=11.0),
            at_minute(50, energy_kwh=1.7e305, power_kw=float("nan"), soc_pct=1e300),
        ],
    )
    neighbour = await transaction(database, await charger(database))
    await sweep(database, SweepFailures())
    assert await session_energy_kwh(database, poisoned) == pytest.approx(7.333)
    assert await session_energy_kwh(database, neighbour) == pytest.approx(11.0)


@pytest.mark.parametrize("meter_start_wh", [-1.0, 1.7e308, float("inf")])
async def test_a_meter_start_out_of_range_stored_earlier_is_left_out(
    database: Database, meter_start_wh: float
) -> None:
    """The energy then counts from the first register in range (minute 10)."""
    station = await charger(database)
    poisoned = await transaction(
        database,
        station,
        meter_start_wh=meter_start_wh,
        samples=[at_minute(10, energy_kwh=1001.833), at_minute(30, energy_kwh=1005.5)],
    )
    await sweep(database, SweepFailures())
    assert await session_energy_kwh(database, poisoned) == pytest.approx(11.0 - 1.833)


async def test_a_silent_transaction_whose_last_register_is_out_of_range_closes_at_the_one_before(
    database: Database,
) -> None:
    station = await charger(database)
    silent = await transaction(
        database,
        station,
        status="open",
        samples=[at_minute(30, energy_kwh=1005.5), at_minute(45, energy_kwh=1.7e305)],
    )
    assert await sweep(database, SweepFailures()) == 1
    async with database.read() as connection:
        closed = await ocpp_repository.transaction_by_id(connection, transaction_id=silent)
    assert closed is not None
    assert (closed.status, closed.meter_stop_wh) == ("timed-out", pytest.approx(1_005_500.0))
    assert closed.stop_ms == START_MS + 45 * 60_000  # the last sample's instant, as ever
    assert await session_energy_kwh(database, silent) == pytest.approx(5.5)


@settings(
    max_examples=25,
    deadline=None,  # each example is a few database round trips, on a loaded machine too
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    meter_start_wh=st.floats() | st.none(),
    meter_stop_wh=st.floats() | st.none(),
    sample_kwh=st.floats() | st.none(),
    sample_kw=st.floats() | st.none(),
)
async def test_whatever_was_stored_the_sweep_settles_the_transaction_from_values_in_range(
    database: Database,
    meter_start_wh: float | None,
    meter_stop_wh: float | None,
    sample_kwh: float | None,
    sample_kw: float | None,
) -> None:
    """Any float at all (huge, negative, infinite, NaN) as a stored register or power: the
    sweep finishes, the transaction is no longer owed, and a session, if one is made, has an
    energy a meter register could count."""
    station = await charger(database)
    stored = await transaction(
        database,
        station,
        meter_start_wh=meter_start_wh,
        meter_stop_wh=meter_stop_wh,
        samples=[at_minute(30, energy_kwh=sample_kwh, power_kw=sample_kw)],
    )
    await sweep(database, SweepFailures())
    assert not await owed(database, stored)
    async with database.read() as connection:
        energies = (
            await connection.execute(
                sa.select(charge_sessions.c.energy_kwh)
                .join(ocpp_transactions, ocpp_transactions.c.session_id == charge_sessions.c.id)
                .where(ocpp_transactions.c.id == stored)
            )
        ).scalars()
        for energy_kwh in energies:
            assert energy_kwh is None or 0 <= energy_kwh <= MAX_REGISTER_KWH


# ---- a transaction that fails for any reason -------------------------------------------


async def test_a_failing_transaction_is_logged_recorded_and_skipped_and_the_others_go_on(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A transaction of a charger whose stored calendar cannot be read fails its session.
    It is handled first (the lowest id), and the others, other tenants' among them, still
    get theirs in the same round."""
    broken = await charger(database, calendar="corrupt")
    failing = await transaction(database, broken, transaction_id=UUID(int=1))
    others = [await transaction(database, await charger(database)) for _ in range(3)]
    failures = SweepFailures()
    with caplog.at_level(logging.WARNING, logger="chargeledger.ocpp"):
        await sweep(database, failures)
    for other in others:
        assert await session_energy_kwh(database, other) == pytest.approx(11.0)
    assert await owed(database, failing)  # still owed: tried again later

    (logged,) = [r for r in caplog.records if str(failing) in r.getMessage()]
    assert logged.levelno == logging.ERROR
    assert str(broken.entity_id) in logged.getMessage()
    assert logged.exc_info is not None  # the traceback, the first time
    assert ID_TAG not in caplog.text
    assert "{not json" not in logged.getMessage()
    ((kind, detail),) = await events_of(database, broken)
    assert kind == "SweepFailed"
    assert detail["step"] == "session"
    assert detail["failures"] == 1
    assert detail["error"]


async def test_a_failing_transaction_is_tried_again_less_and_less_often(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    broken = await charger(database, calendar="corrupt")
    failing = await transaction(database, broken)
    failures = SweepFailures()

    def attempts() -> int:
        return sum(str(failing) in r.getMessage() for r in caplog.records)

    with caplog.at_level(logging.WARNING, logger="chargeledger.ocpp"):
        await sweep(database, failures, NOW_MS)
        assert attempts() == 1
        await sweep(database, failures, NOW_MS + FIRST_RETRY_MS - 1)  # not yet
        assert attempts() == 1
        await sweep(database, failures, NOW_MS + FIRST_RETRY_MS)
        assert attempts() == 2
        await sweep(database, failures, NOW_MS + 2 * FIRST_RETRY_MS)  # now 2 minutes later
        assert attempts() == 2
        await sweep(database, failures, NOW_MS + 3 * FIRST_RETRY_MS)
        assert attempts() == 3
    # The second and third failures: a line each, no traceback, no second event.
    later = [r for r in caplog.records if str(failing) in r.getMessage()][1:]
    assert [(r.levelno, r.exc_info) for r in later] == [(logging.WARNING, None)] * 2
    assert [kind for kind, _ in await events_of(database, broken)] == ["SweepFailed"]


async def test_failures_in_a_row_stop_a_round_and_hold_back_no_one_the_next(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Five failures in a row look like the database, not the items: the round stops there.
    The next round skips them (they wait their turn) and the others get their sessions."""
    broken = await charger(database, calendar="corrupt")
    failing = [
        await transaction(database, broken, transaction_id=UUID(int=100 + n))
        for n in range(MAX_FAILURES_IN_A_ROW)
    ]
    other = await transaction(database, await charger(database), transaction_id=UUID(int=2**127))
    failures = SweepFailures()
    with caplog.at_level(logging.WARNING, logger="chargeledger.ocpp"):
        await sweep(database, failures)
    assert "stops this round" in caplog.text
    assert await owed(database, other)
    await sweep(database, failures, NOW_MS + 1000)
    assert await session_energy_kwh(database, other) == pytest.approx(11.0)
    assert all([await owed(database, f) for f in failing])
