"""The one writer in-process, on a connection rolled back at the end: what it writes for a new,
an unchanged, a changed and a removed session, that it never writes over a state it did not
compare with, and that an event leaves with its transaction or savepoint and never without."""

import uuid
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.auth import service as auth
from chargeledger.charge_sessions import repository as sessions_repository
from chargeledger.charge_sessions.writer import (
    Reason,
    SessionChangedError,
    WrittenSession,
    remove_session,
    write_session,
)
from chargeledger.domain.charge_record import TieredEnergyKwh
from chargeledger.domain.location_matching import Geofence, Position
from chargeledger.domain.session_columns import DerivedSession, SessionContent, derive_session
from chargeledger.domain.tariffs import CalendarBook
from chargeledger.entities import service as entities
from chargeledger.entities.service import EntityType
from chargeledger.storage.database import run_before_commit
from chargeledger.storage.tables import charge_session_versions, events

NOW_MS = 1_730_000_000_000
START_MS = 1_716_840_000_000  # 2024-05-27T20:00:00Z
HOUR_MS = 3_600_000
HOME = Geofence(
    id=uuid.uuid4(),
    label="Home",
    address="Naamsestraat 40, Leuven",
    latitude=50.8798,
    longitude=4.7005,
    radius_m=50,
)


def content(energy_kwh: float = 11.0, **changes: Any) -> SessionContent:
    start_ms = changes.pop("start_ms", START_MS)
    fields: dict[str, Any] = {
        "start_ms": start_ms,
        "end_ms": start_ms + 2 * HOUR_MS,
        "energy_kwh": energy_kwh,
        "tiers": TieredEnergyKwh(t1=energy_kwh, t2=0.0, t3=0.0, t4=0.0, total=energy_kwh),
        "tiers_given": True,
        "profile": None,
        "soc_start_pct": 20.0,
        "soc_end_pct": 60.0,
        "range_start_km": None,
        "range_end_km": None,
        "position": Position(50.8798, 4.7005, 10.0),
        "address": None,
        "source": "external",
        "method": "external",
        "energy_method": None,
        "energy_uncertainty_kwh": None,
        **changes,
    }
    return SessionContent(**fields)


def derived(energy_kwh: float = 11.0, **changes: Any) -> DerivedSession:
    return derive_session(
        content(energy_kwh, **changes), geofences=[HOME], book=CalendarBook(entity_versions=[])
    )


@pytest.fixture
async def owner(connection: AsyncConnection) -> tuple[uuid.UUID, uuid.UUID]:
    """(tenant id, entity id) of a new tenant's EV."""
    credentials = await auth.create_tenant(connection, name="writer", now_ms=NOW_MS)
    entity = await entities.create_entity(
        connection,
        tenant_id=credentials.tenant_id,
        entity_type=EntityType.EV,
        name="car",
        identifier=None,
        brand=None,
        properties={},
        now_ms=NOW_MS,
    )
    return credentials.tenant_id, entity.id


async def stored(connection: AsyncConnection, entity_id: uuid.UUID, external_id: str) -> Any:
    return await sessions_repository.find_by_external_id(
        connection, entity_id=entity_id, external_id=external_id
    )


async def versions(connection: AsyncConnection, session_id: uuid.UUID) -> list[Any]:
    result = await connection.execute(
        sa.select(charge_session_versions)
        .where(charge_session_versions.c.session_id == session_id)
        .order_by(charge_session_versions.c.version)
    )
    return list(result)


async def write(
    connection: AsyncConnection,
    owner: tuple[uuid.UUID, uuid.UUID],
    *,
    stored: Any,
    derived: DerivedSession,
    reason: Reason,
    now_ms: int,
    external_id: str,
) -> WrittenSession:
    tenant_id, entity_id = owner
    return await write_session(
        connection,
        tenant_id=tenant_id,
        entity_id=entity_id,
        stored=stored,
        derived=derived,
        reason=reason,
        now_ms=now_ms,
        external_id=external_id,
    )


async def tenant_events(connection: AsyncConnection, tenant_id: uuid.UUID) -> list[Any]:
    result = await connection.execute(
        sa.select(events).where(events.c.tenant_id == tenant_id).order_by(events.c.sequence)
    )
    return list(result)


async def test_a_new_session_is_stored_with_its_first_version_and_a_created_event(
    connection: AsyncConnection, owner: tuple[uuid.UUID, uuid.UUID]
) -> None:
    tenant_id, entity_id = owner
    written = await write(
        connection,
        owner,
        stored=None,
        derived=derived(),
        reason="posted",
        now_ms=NOW_MS,
        external_id="a",
    )
    await run_before_commit(connection)

    row = await stored(connection, entity_id, "a")
    assert (row.id, row.version, row.record_json) == (written.id, 1, written.record_json)
    record = orjson.loads(written.record_json)
    # Derived, not copied: matched to Home and its address used for the location.
    assert record["data"]["locationMatches"][0]["location"]["label"] == "Home"
    assert record["data"]["location"]["address"] == HOME.address
    assert record["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 5.5}
    (version,) = await versions(connection, written.id)
    assert (version.version, version.change, version.reason, version.source) == (
        1,
        "created",
        "posted",
        "external",
    )
    assert version.record_json == written.record_json
    (event,) = await tenant_events(connection, tenant_id)
    payload = orjson.loads(event.payload_json)
    assert (event.sequence, event.type, event.subject_id, event.version) == (
        1,
        "charge-session.created",
        written.id,
        1,
    )
    assert payload["data"]["record"] == record
    assert payload["id"] == str(event.id)


async def test_the_same_content_again_writes_nothing(
    connection: AsyncConnection, owner: tuple[uuid.UUID, uuid.UUID]
) -> None:
    tenant_id, entity_id = owner
    first = await write(
        connection,
        owner,
        stored=None,
        derived=derived(),
        reason="posted",
        now_ms=NOW_MS,
        external_id="a",
    )
    again = await write(
        connection,
        owner,
        stored=await stored(connection, entity_id, "a"),
        derived=derived(),
        reason="posted",
        now_ms=NOW_MS + 1000,
        external_id="a",
    )
    await run_before_commit(connection)
    assert again.change is None
    assert (again.id, again.version, again.record_json) == (first.id, 1, first.record_json)
    assert len(await versions(connection, first.id)) == 1
    assert len(await tenant_events(connection, tenant_id)) == 1


async def test_a_change_is_a_new_version_keeping_id_and_created(
    connection: AsyncConnection, owner: tuple[uuid.UUID, uuid.UUID]
) -> None:
    tenant_id, entity_id = owner
    first = await write(
        connection,
        owner,
        stored=None,
        derived=derived(),
        reason="posted",
        now_ms=NOW_MS,
        external_id="a",
    )
    corrected = await write(
        connection,
        owner,
        stored=await stored(connection, entity_id, "a"),
        derived=derived(12.5),
        reason="posted",
        now_ms=NOW_MS + 60_000,
        external_id="a",
    )
    await run_before_commit(connection)
    assert (corrected.id, corrected.version, corrected.change) == (first.id, 2, "updated")
    record = orjson.loads(corrected.record_json)
    assert record["data"]["charge"]["total"]["total"] == 12.5
    assert record["created"] == orjson.loads(first.record_json)["created"]
    history = await versions(connection, first.id)
    assert [(v.version, v.change) for v in history] == [(1, "created"), (2, "updated")]
    assert history[0].record_json == first.record_json  # the paid state is still there
    assert [e.type for e in await tenant_events(connection, tenant_id)] == [
        "charge-session.created",
        "charge-session.updated",
    ]


async def test_a_stale_comparison_is_refused_instead_of_overwriting(
    connection: AsyncConnection, owner: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """Two writers read version 1; the first writes version 2; the second, still holding
    version 1, must not write over it (its comparison no longer holds)."""
    tenant_id, entity_id = owner
    await write(
        connection,
        owner,
        stored=None,
        derived=derived(),
        reason="posted",
        now_ms=NOW_MS,
        external_id="a",
    )
    read_by_both = await stored(connection, entity_id, "a")
    await write(
        connection,
        owner,
        stored=read_by_both,
        derived=derived(12.0),
        reason="posted",
        now_ms=NOW_MS + 1,
        external_id="a",
    )
    with pytest.raises(SessionChangedError):
        await write(
            connection,
            owner,
            stored=read_by_both,
            derived=derived(13.0),
            reason="posted",
            now_ms=NOW_MS + 2,
            external_id="a",
        )
    with pytest.raises(SessionChangedError):
        await remove_session(
            connection,
            tenant_id=tenant_id,
            stored=read_by_both,
            reason="redetected",
            replaced_by=[],
            now_ms=NOW_MS + 3,
        )
    assert (await stored(connection, entity_id, "a")).energy_kwh == 12.0


async def test_a_removed_session_keeps_its_history_and_names_what_replaced_it(
    connection: AsyncConnection, owner: tuple[uuid.UUID, uuid.UUID]
) -> None:
    tenant_id, entity_id = owner
    gone = await write(
        connection,
        owner,
        stored=None,
        derived=derived(),
        reason="detected",
        now_ms=NOW_MS,
        external_id="a",
    )
    survivor = uuid.uuid4()
    await remove_session(
        connection,
        tenant_id=tenant_id,
        stored=await stored(connection, entity_id, "a"),
        reason="detected",
        replaced_by=[survivor],
        now_ms=NOW_MS + 1,
    )
    await run_before_commit(connection)
    assert await stored(connection, entity_id, "a") is None
    last = (await versions(connection, gone.id))[-1]
    assert (last.version, last.change, last.record_json) == (2, "removed", gone.record_json)
    assert orjson.loads(last.replaced_by_json) == [str(survivor)]
    removed_event = (await tenant_events(connection, tenant_id))[-1]
    data = orjson.loads(removed_event.payload_json)["data"]
    assert removed_event.type == "charge-session.removed"
    assert (data["version"], data["replacedBy"]) == (2, [str(survivor)])
    assert data["record"] == orjson.loads(gone.record_json)


async def test_a_write_in_a_savepoint_that_rolls_back_leaves_no_event(
    connection: AsyncConnection, owner: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """An import stores each row in a savepoint: a row that fails after the writer ran must
    not leave an event behind for a session that was never stored."""
    tenant_id, entity_id = owner
    kept = await write(
        connection,
        owner,
        stored=None,
        derived=derived(),
        reason="imported",
        now_ms=NOW_MS,
        external_id="kept",
    )
    savepoint = await connection.begin_nested()
    await write(
        connection,
        owner,
        stored=None,
        derived=derived(5.0, start_ms=START_MS + 5 * HOUR_MS),
        reason="imported",
        now_ms=NOW_MS,
        external_id="rolled-back",
    )
    await savepoint.rollback()  # the row failed after the writer ran
    await run_before_commit(connection)
    assert await stored(connection, entity_id, "rolled-back") is None
    assert [e.subject_id for e in await tenant_events(connection, tenant_id)] == [kept.id]


async def test_events_of_one_transaction_get_consecutive_sequences_after_the_last(
    connection: AsyncConnection, owner: tuple[uuid.UUID, uuid.UUID]
) -> None:
    tenant_id, entity_id = owner
    for index in range(3):
        await write(
            connection,
            owner,
            stored=None,
            derived=derived(start_ms=START_MS + index * 3 * HOUR_MS),
            reason="posted",
            now_ms=NOW_MS,
            external_id=f"s{index}",
        )
    await run_before_commit(connection)
    await write(
        connection,
        owner,
        stored=await stored(connection, entity_id, "s0"),
        derived=derived(9.0),
        reason="posted",
        now_ms=NOW_MS + 1,
        external_id="s0",
    )
    await run_before_commit(connection)
    assert [e.sequence for e in await tenant_events(connection, tenant_id)] == [1, 2, 3, 4]
