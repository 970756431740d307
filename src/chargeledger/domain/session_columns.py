"""A stored charge session, derived from what its source knows of it.

Every source (a posted or imported record, the detector, an OCPP transaction) says what it
measured: when, how much energy and how it was delivered over time, where, the battery at
both ends. What the ledger adds is derived here and only here: the matches against the
entity's locations, the t1..t4 split by the calendar that applies at the best match, the
average power. Re-deriving after a calendar or a location changed is the same function on the
same content, so a session never depends on which path last wrote it.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from chargeledger.domain.charge_record import TieredEnergyKwh
from chargeledger.domain.location_matching import (
    Geofence,
    LocationMatch,
    Position,
    match_locations,
)
from chargeledger.domain.tariffs import (
    CalendarBook,
    CalendarVersion,
    EnergyInterval,
    constant_power_profile,
    split_energy,
)

_HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class SessionContent:
    """What a source knows of a session, before anything is derived from the entity's
    locations and calendars."""

    start_ms: int
    end_ms: int
    energy_kwh: float | None
    # t1..t4 already known (given by the sender, or kept from an earlier split that still
    # holds); None when they are to be split with the calendar.
    tiers: TieredEnergyKwh | None
    # Whether the sender gave t1..t4 (they then never change with the calendar).
    tiers_given: bool
    # Energy over time, for the split; None spreads energy_kwh evenly (a posted total).
    profile: Sequence[EnergyInterval] | None
    soc_start_pct: float | None
    soc_end_pct: float | None
    range_start_km: float | None
    range_end_km: float | None
    position: Position | None
    address: str | None  # as given; None when none was
    source: str  # external, readings, ocpp
    method: str | None
    energy_method: str | None
    energy_uncertainty_kwh: float | None
    id_tag: str | None = None
    meter_evidence: str | None = None


@dataclass(frozen=True, slots=True)
class DerivedSession:
    """A session's stored columns (without identity and timestamps): content plus matches,
    split and average power."""

    columns: dict[str, Any]
    content: SessionContent

    @property
    def energy_kwh(self) -> float | None:
        value: float | None = self.columns["energy_kwh"]
        return value

    def with_evidence(self, meter_evidence: str | None) -> "DerivedSession":
        return DerivedSession(
            columns={**self.columns, "meter_evidence": meter_evidence},
            content=replace(self.content, meter_evidence=meter_evidence),
        )


def matches_json(matches: Sequence[LocationMatch]) -> tuple[str, str | None]:
    """The serialized locationMatches and the best match's address, as sessions store them."""
    serialized = orjson.dumps(
        [
            {
                "accuracy": match.accuracy,
                "location": {"id": str(match.geofence.id), "label": match.geofence.label},
            }
            for match in matches
        ]
    ).decode()
    return serialized, matches[0].geofence.address if matches else None


def tier_columns(tiers: TieredEnergyKwh | None) -> dict[str, float | None]:
    if tiers is None:
        return dict.fromkeys(("energy_kwh", "t1_kwh", "t2_kwh", "t3_kwh", "t4_kwh"))
    return {
        "energy_kwh": tiers.total,
        "t1_kwh": tiers.t1,
        "t2_kwh": tiers.t2,
        "t3_kwh": tiers.t3,
        "t4_kwh": tiers.t4,
    }


def derive_session(
    content: SessionContent, *, geofences: Sequence[Geofence], book: CalendarBook
) -> DerivedSession:
    """The stored columns of a session: matched against the entity's locations, its energy
    split by the calendar that applies where it was (the best match's own calendar, else the
    entity's), its average power computed."""
    matches = [] if content.position is None else match_locations(content.position, geofences)
    serialized_matches, matched_address = matches_json(matches)
    energy = _energy_columns(
        content, book.for_location(matches[0].geofence.id if matches else None)
    )
    energy_kwh = energy["energy_kwh"]
    if energy_kwh is None or content.end_ms <= content.start_ms:
        average_power_kw = None
    else:
        average_power_kw = round(energy_kwh / ((content.end_ms - content.start_ms) / _HOUR_MS), 3)
    position = content.position
    columns: dict[str, Any] = {
        "start_ms": content.start_ms,
        "end_ms": content.end_ms,
        **energy,
        "average_power_kw": average_power_kw,
        "soc_start_pct": content.soc_start_pct,
        "soc_end_pct": content.soc_end_pct,
        "range_start_km": content.range_start_km,
        "range_end_km": content.range_end_km,
        "latitude": None if position is None else position.latitude,
        "longitude": None if position is None else position.longitude,
        "position_uncertainty_m": None if position is None else position.uncertainty_m,
        "address": content.address,
        "location_matches_json": serialized_matches,
        "matched_address": matched_address,
        "source": content.source,
        "method": content.method,
        "energy_method": content.energy_method,
        "energy_uncertainty_kwh": content.energy_uncertainty_kwh,
        "id_tag": content.id_tag,
        "meter_evidence": content.meter_evidence,
        "tiers_given": content.tiers_given,
    }
    return DerivedSession(columns=columns, content=content)


def _energy_columns(
    content: SessionContent, calendars: Sequence[CalendarVersion]
) -> dict[str, float | None]:
    if content.tiers is not None:
        return tier_columns(content.tiers)
    if content.energy_kwh is None:
        return tier_columns(None)
    if content.profile is None:
        # Only the total is known: split as if charged at constant power, and keep the
        # sender's total exactly as given (the split rounds registers to whole Wh).
        tiers = split_energy(
            constant_power_profile(content.start_ms, content.end_ms, content.energy_kwh),
            calendars,
        )
        return {**tier_columns(tiers), "energy_kwh": content.energy_kwh}
    return tier_columns(split_energy(content.profile, calendars))


def stored_content(
    columns: Mapping[Any, Any],  # a stored row's mapping
    *,
    profile: Sequence[EnergyInterval] | None,
    keep_split: bool = False,
) -> SessionContent:
    """The content a stored session was derived from, to derive it again (a calendar or a
    location changed): everything it stores but what derivation adds. `profile` is its energy
    over time (None: spread evenly), which the stored row does not hold; `keep_split` keeps
    its t1..t4 as they are (only its matches are to change)."""
    energy_kwh = columns["energy_kwh"]
    kept = (
        TieredEnergyKwh(
            t1=columns["t1_kwh"],
            t2=columns["t2_kwh"],
            t3=columns["t3_kwh"],
            t4=columns["t4_kwh"],
            total=energy_kwh,
        )
        if (columns["tiers_given"] or keep_split) and energy_kwh is not None
        else None
    )
    latitude, longitude = columns["latitude"], columns["longitude"]
    return SessionContent(
        start_ms=columns["start_ms"],
        end_ms=columns["end_ms"],
        energy_kwh=energy_kwh,
        tiers=kept,
        tiers_given=bool(columns["tiers_given"]),
        profile=profile,
        soc_start_pct=columns["soc_start_pct"],
        soc_end_pct=columns["soc_end_pct"],
        range_start_km=columns["range_start_km"],
        range_end_km=columns["range_end_km"],
        position=None
        if latitude is None or longitude is None
        else Position(latitude, longitude, columns["position_uncertainty_m"]),
        address=columns["address"],
        source=columns["source"],
        method=columns["method"],
        energy_method=columns["energy_method"],
        energy_uncertainty_kwh=columns["energy_uncertainty_kwh"],
        id_tag=columns["id_tag"],
        meter_evidence=columns["meter_evidence"],
    )
