"""What reimbursement needs of stored charge sessions (counting.SessionFacts), loaded in one
query per window: the sessions of some entities that start in [start, end).

Energy is stored as floats of whole watt-hours; money.kwh_from_float turns them into exact
decimals of kWh. A session with a total but no registers (posted without t1..t4 by a sender
whose entity has no calendar, or stored before registers existed) is all t1: one register.
"""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.reimbursement.counting import SessionFacts
from chargeledger.domain.reimbursement.evidence import EntityKind
from chargeledger.domain.reimbursement.money import kwh_from_float
from chargeledger.domain.reimbursement.registers import Registers
from chargeledger.storage.tables import charge_sessions, entities

# Entity types whose sessions reimbursement looks at, and what they are to it.
ENTITY_KINDS = {"EV": EntityKind.CAR, "ChargePoint": EntityKind.CHARGE_POINT}

# Bound on the ids in one IN list (a driver has a handful of entities; this is a safety net).
_CHUNK = 500

_COLUMNS = (
    charge_sessions.c.entity_id,
    charge_sessions.c.id,
    charge_sessions.c.version,
    charge_sessions.c.start_ms,
    charge_sessions.c.end_ms,
    charge_sessions.c.updated_ms,
    charge_sessions.c.energy_kwh,
    charge_sessions.c.t1_kwh,
    charge_sessions.c.t2_kwh,
    charge_sessions.c.t3_kwh,
    charge_sessions.c.t4_kwh,
    charge_sessions.c.energy_uncertainty_kwh,
    charge_sessions.c.source,
    charge_sessions.c.energy_method,
    charge_sessions.c.meter_evidence,
    charge_sessions.c.id_tag,
    charge_sessions.c.location_matches_json,
    charge_sessions.c.address,
    charge_sessions.c.matched_address,
    charge_sessions.c.latitude,
    charge_sessions.c.longitude,
    entities.c.type.label("entity_type"),
)


@dataclass(frozen=True, slots=True)
class StoredFacts:
    """A session's facts and when it was last changed (for "changed since finalised")."""

    facts: SessionFacts
    updated_ms: int


def energy_of(row: Any) -> Registers:
    tiers = (row.t1_kwh, row.t2_kwh, row.t3_kwh, row.t4_kwh)
    if all(value is None for value in tiers) and row.energy_kwh is not None:
        return Registers(t1=kwh_from_float(row.energy_kwh))
    return Registers(*(kwh_from_float(value) for value in tiers))


def matches_of(location_matches_json: str) -> tuple[tuple[str, float], ...]:
    """(label, accuracy) of each stored locationMatch, in the stored order (best first)."""
    return tuple(
        (str(match["location"]["label"]), float(match["accuracy"]))
        for match in orjson.loads(location_matches_json or "[]")
    )


def facts_of(row: Any) -> SessionFacts | None:
    kind = ENTITY_KINDS.get(row.entity_type)
    if kind is None:
        return None
    uncertainty = row.energy_uncertainty_kwh
    return SessionFacts(
        entity_id=row.entity_id,
        session_id=row.id,
        version=row.version,
        entity_kind=kind,
        start_ms=row.start_ms,
        end_ms=row.end_ms,
        energy_kwh=energy_of(row),
        uncertainty_kwh=None if uncertainty is None else kwh_from_float(uncertainty),
        source=row.source,
        energy_method=row.energy_method,
        meter_evidence=row.meter_evidence,
        id_tag=row.id_tag,
        matches=matches_of(row.location_matches_json),
        # As the session's record shows it: the address given, else the matched location's.
        address=row.address if row.address is not None else row.matched_address,
        latitude=row.latitude,
        longitude=row.longitude,
    )


async def load_facts(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_ids: Collection[UUID],
    start_ms: int,
    end_ms: int,
) -> list[StoredFacts]:
    """The sessions of the tenant's entities `entity_ids` that start in [start_ms, end_ms), in
    order of start. Entities of another tenant, or of a type reimbursement ignores, give none."""
    wanted = sorted(set(entity_ids), key=str)
    found: list[StoredFacts] = []
    for offset in range(0, len(wanted), _CHUNK):
        result = await connection.execute(
            sa.select(*_COLUMNS)
            .join(entities, entities.c.id == charge_sessions.c.entity_id)
            .where(
                entities.c.tenant_id == tenant_id,
                charge_sessions.c.entity_id.in_(wanted[offset : offset + _CHUNK]),
                charge_sessions.c.start_ms >= start_ms,
                charge_sessions.c.start_ms < end_ms,
            )
        )
        for row in result:
            facts = facts_of(row)
            if facts is not None:
                found.append(StoredFacts(facts, row.updated_ms))
    found.sort(key=lambda item: (item.facts.start_ms, str(item.facts.session_id)))
    return found
