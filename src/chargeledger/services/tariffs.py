"""Tariff calendars (Entity Settings, our extension) and the t1..t4 split they drive."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.charge_record import TieredEnergyKwh
from chargeledger.domain.session_detection import DetectorConfig, measure_energy
from chargeledger.domain.tariffs import (
    CalendarVersion,
    EnergyInterval,
    TariffCalendar,
    UnsplittableProfileError,
    calendar_from_dict,
    calendar_to_dict,
    constant_power_profile,
    split_energy,
)
from chargeledger.errors import location_not_found
from chargeledger.services.entities import get_entity
from chargeledger.storage import charge_sessions as sessions_repository
from chargeledger.storage import locations as locations_repository
from chargeledger.storage import readings as readings_repository
from chargeledger.storage import tariff_calendars as calendars_repository


def version_from_row(row: sa.Row[Any]) -> CalendarVersion:
    return CalendarVersion(
        valid_from_ms=row.valid_from_ms,
        calendar=calendar_from_dict(orjson.loads(row.definition_json)),
    )


@dataclass(frozen=True)
class CalendarBook:
    """Every calendar that can apply to one entity's sessions."""

    entity_versions: list[CalendarVersion]
    location_versions: dict[UUID, list[CalendarVersion]] = field(default_factory=dict)

    def for_location(self, best_match: UUID | None) -> list[CalendarVersion]:
        """A session matched to a location with its own calendar uses that one from its first
        version's validFrom on, and the entity's calendar before."""
        if best_match is None or best_match not in self.location_versions:
            return self.entity_versions
        own = self.location_versions[best_match]
        since = min(version.valid_from_ms for version in own)
        return [v for v in self.entity_versions if v.valid_from_ms < since] + own


async def load_calendar_book(connection: AsyncConnection, *, entity_id: UUID) -> CalendarBook:
    entity_rows = await calendars_repository.versions(
        connection, entity_id=entity_id, location_id=None
    )
    by_location = await calendars_repository.location_versions(connection, entity_id=entity_id)
    return CalendarBook(
        entity_versions=[version_from_row(row) for row in entity_rows],
        location_versions={
            location_id: [version_from_row(row) for row in rows]
            for location_id, rows in by_location.items()
        },
    )


async def _check_location(
    connection: AsyncConnection, *, entity_id: UUID, location_id: UUID | None
) -> None:
    if location_id is not None and (
        await locations_repository.get_location(
            connection, entity_id=entity_id, location_id=location_id
        )
        is None
    ):
        raise location_not_found(location_id)


def best_match_id(location_matches_json: str) -> UUID | None:
    matches = orjson.loads(location_matches_json)
    return UUID(matches[0]["location"]["id"]) if matches else None


async def put_calendar(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    location_id: UUID | None,
    calendar: TariffCalendar,
    valid_from_ms: int,
    now_ms: int,
    detector_config: DetectorConfig,
) -> sa.Row[Any]:
    """Store a calendar version, then recompute t1..t4 of the sessions it now governs."""
    entity = await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id, lock="update")
    await _check_location(connection, entity_id=entity_id, location_id=location_id)
    calendar_id = uuid.uuid4()
    await calendars_repository.put_version(
        connection,
        calendar_id=calendar_id,
        entity_id=entity_id,
        location_id=location_id,
        valid_from_ms=valid_from_ms,
        definition_json=orjson.dumps(calendar_to_dict(calendar)).decode(),
        now_ms=now_ms,
    )
    await resplit_sessions(
        connection,
        entity=entity,
        ending_after_ms=valid_from_ms,
        config=detector_config,
        now_ms=now_ms,
    )
    rows = await calendars_repository.versions(
        connection, entity_id=entity_id, location_id=location_id
    )
    return next(row for row in rows if row.id == calendar_id)


async def calendar_versions(
    connection: AsyncConnection, *, tenant_id: UUID, entity_id: UUID, location_id: UUID | None
) -> Sequence[sa.Row[Any]]:
    await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id)
    await _check_location(connection, entity_id=entity_id, location_id=location_id)
    return await calendars_repository.versions(
        connection, entity_id=entity_id, location_id=location_id
    )


async def session_profile(
    connection: AsyncConnection, *, session: sa.Row[Any], config: DetectorConfig
) -> Sequence[EnergyInterval]:
    """The energy-over-time of a posted or OCPP session, as its tariff split needs it: an OCPP
    transaction's meter values, from its start to its stop; a posted total spread evenly.
    (Sessions from readings are split by the detector, which knows where in their edge
    intervals the energy lies.)"""
    if session.source == "external" or session.energy_method is None:
        return constant_power_profile(session.start_ms, session.end_ms, session.energy_kwh)
    readings = await readings_repository.domain_readings_between(
        connection, entity_id=session.entity_id, from_ms=session.start_ms, to_ms=session.end_ms
    )
    return measure_energy(readings, config).profile


async def resplit_sessions(
    connection: AsyncConnection,
    *,
    entity: sa.Row[Any],
    ending_after_ms: int,
    config: DetectorConfig,
    now_ms: int,
) -> int:
    """Recompute t1..t4 of every session whose registers come from a calendar (not given by
    the sender) and that ends after the instant. Totals stay; only the split changes.
    Sessions from readings are detected again, which splits them with the new calendar."""
    # services.detection imports this module for the calendar book: imported here, not above.
    from chargeledger.services.detection import redetect

    book = await load_calendar_book(connection, entity_id=entity.id)
    capacity_config = with_capacity(config, entity.battery_capacity_kwh)
    sessions = await sessions_repository.with_computed_tiers(
        connection, entity_id=entity.id, ending_after_ms=ending_after_ms
    )
    detected = [session for session in sessions if session.source == "readings"]
    if detected:
        await redetect(
            connection,
            entity=entity,
            from_ms=min(session.start_ms for session in detected),
            to_ms=max(session.end_ms for session in detected),
            now_ms=now_ms,
            config=config,
        )
    for session in sessions:
        if session.source == "readings":
            continue
        try:
            tiers = split_energy(
                await session_profile(connection, session=session, config=capacity_config),
                book.for_location(best_match_id(session.location_matches_json)),
            )
        except UnsplittableProfileError:
            # Stored before the physical ranges held (1e20 kWh on a single-register meter):
            # it keeps the split it has rather than fail the calendar for every session.
            continue
        values = tier_values(tiers)
        if session.source == "external":
            values["energy_kwh"] = session.energy_kwh  # the sender's total stays exactly as given
        await sessions_repository.update_record(
            connection, entity_id=entity.id, session_id=session.id, values=values
        )
    return len(sessions)


def tier_values(tiers: TieredEnergyKwh | None) -> dict[str, float | None]:
    if tiers is None:
        return dict.fromkeys(("energy_kwh", "t1_kwh", "t2_kwh", "t3_kwh", "t4_kwh"))
    return {
        "energy_kwh": tiers.total,
        "t1_kwh": tiers.t1,
        "t2_kwh": tiers.t2,
        "t3_kwh": tiers.t3,
        "t4_kwh": tiers.t4,
    }


def with_capacity(config: DetectorConfig, capacity_kwh: float | None) -> DetectorConfig:
    return replace(config, battery_capacity_kwh=capacity_kwh)
