"""Loading SessionFacts from stored sessions (in-process, rolled back): exact kWh from the
stored floats, a total without registers as t1, the uncertainty, the matches, the entity's
kind, the window of starts, and only the tenant's own entities."""

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.reimbursement.evidence import EntityKind, Evidence
from chargeledger.domain.reimbursement.registers import Registers
from chargeledger.statements.facts import load_facts
from chargeledger.storage.tables import charge_sessions
from tests.statements.builders import ELSEWHERE, SETUP_MS, Fleet, local_ms


async def test_facts_carry_exact_kwh_per_register_the_matches_and_the_kind(
    connection: AsyncConnection,
) -> None:
    fleet = await Fleet.create(connection)
    car_id = await fleet.entity("EV")
    charger_id = await fleet.entity("ChargePoint")
    car = await fleet.session(
        car_id,
        "2026-10-05 19:00",
        "2026-10-05 21:00",
        tiers=(3.335, 1.1, 0.0, 0.0),
        source="readings",
        energy_method="power",
        uncertainty_kwh=0.25,
    )
    meter = await fleet.session(
        charger_id,
        "2026-10-06 19:00",
        "2026-10-06 21:00",
        kwh=7.0,
        source="ocpp",
        id_tag="04A1B2",
        at=None,
    )

    loaded = await load_facts(
        connection,
        tenant_id=fleet.tenant_id,
        entity_ids=[car_id, charger_id],
        start_ms=local_ms("2026-10-01 00:00"),
        end_ms=local_ms("2026-11-01 00:00"),
    )

    first, second = (item.facts for item in loaded)
    assert (first.session_id, first.version, first.entity_kind) == (car.id, 1, EntityKind.CAR)
    assert first.energy_kwh == Registers(
        Decimal("3.335"), Decimal("1.100"), Decimal("0.000"), Decimal("0.000")
    )
    assert str(first.energy_kwh.t1) == "3.335"
    assert first.uncertainty_kwh == Decimal("0.250")
    assert first.evidence is Evidence.CAR_POWER
    assert first.matches == ((("Home", 1.0),))
    assert first.address == "Naamsestraat 40, 3000 Leuven"  # the matched location's
    assert (first.start_ms, first.end_ms) == (
        local_ms("2026-10-05 19:00"),
        local_ms("2026-10-05 21:00"),
    )
    assert (second.session_id, second.entity_kind, second.id_tag) == (
        meter.id,
        EntityKind.CHARGE_POINT,
        "04A1B2",
    )
    assert second.evidence is Evidence.CHARGER_METER
    assert (second.matches, second.uncertainty_kwh, second.latitude) == ((), None, None)
    assert [item.updated_ms for item in loaded] == [SETUP_MS, SETUP_MS]


async def test_a_total_without_registers_is_all_t1(connection: AsyncConnection) -> None:
    """A session stored with a total of 12.345 kWh and no t1..t4 (as older rows are)."""
    fleet = await Fleet.create(connection)
    car_id = await fleet.entity("EV")
    written = await fleet.session(car_id, "2026-10-05 19:00", "2026-10-05 21:00", kwh=12.345)
    await connection.execute(
        sa.update(charge_sessions)
        .where(charge_sessions.c.id == written.id)
        .values(t1_kwh=None, t2_kwh=None, t3_kwh=None, t4_kwh=None)
    )

    (loaded,) = await load_facts(
        connection,
        tenant_id=fleet.tenant_id,
        entity_ids=[car_id],
        start_ms=local_ms("2026-10-01 00:00"),
        end_ms=local_ms("2026-11-01 00:00"),
    )

    assert loaded.facts.energy_kwh == Registers(t1=Decimal("12.345"))
    assert loaded.facts.energy_kwh.total == Decimal("12.345")


async def test_only_sessions_starting_in_the_window_of_the_tenants_own_entities(
    connection: AsyncConnection,
) -> None:
    """[start, end): a session starting at the end is left out, one at the start is in; a
    session elsewhere is loaded (not matched); another tenant's entity gives nothing."""
    fleet = await Fleet.create(connection)
    other = await Fleet.create(connection)
    car_id = await fleet.entity("EV")
    foreign_car = await other.entity("EV")
    await fleet.session(car_id, "2026-10-01 00:00", "2026-10-01 01:00", kwh=1.0)
    await fleet.session(car_id, "2026-10-15 12:00", "2026-10-15 13:00", kwh=2.0, at=ELSEWHERE)
    await fleet.session(car_id, "2026-11-01 00:00", "2026-11-01 01:00", kwh=3.0)
    await other.session(foreign_car, "2026-10-10 00:00", "2026-10-10 01:00", kwh=4.0)

    loaded = await load_facts(
        connection,
        tenant_id=fleet.tenant_id,
        entity_ids=[car_id, foreign_car],
        start_ms=local_ms("2026-10-01 00:00"),
        end_ms=local_ms("2026-11-01 00:00"),
    )

    assert [item.facts.energy_kwh.total for item in loaded] == [Decimal("1.000"), Decimal("2.000")]
    assert loaded[1].facts.matches == ()
