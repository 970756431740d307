"""How a session's energy was measured, and which measurement of one charge is believed.

A charge at home is often seen twice: by the car's telemetry and by the home charge point.
It counts once, from the strongest evidence: a calibrated meter whose signed readings verify,
then the charge point's meter, then the car's energy counter, then the car's power integrated
over time, then the change of state of charge times the battery's capacity. A session posted
or imported by another system with no method says only what that system reported: weakest.
"""

from enum import StrEnum


class Evidence(StrEnum):
    VERIFIED_METER = "verifiedMeter"
    CHARGER_METER = "chargerMeter"
    CAR_ENERGY_COUNTER = "carEnergyCounter"
    CAR_POWER = "carPower"
    STATE_OF_CHARGE = "stateOfCharge"
    REPORTED = "reported"


class EntityKind(StrEnum):
    CAR = "car"
    CHARGE_POINT = "chargePoint"


# Strongest first.
EVIDENCE_ORDER: tuple[Evidence, ...] = tuple(Evidence)
_RANK = {evidence: rank for rank, evidence in enumerate(EVIDENCE_ORDER)}

# The methods stored with sessions (domain/session_energy.EnergyMethod's values).
_COUNTER, _POWER, _STATE_OF_CHARGE = "counter", "power", "stateOfCharge"


def rank(evidence: Evidence) -> int:
    """0 for the strongest."""
    return _RANK[evidence]


def evidence_of(
    *,
    entity_kind: EntityKind,
    source: str,
    energy_method: str | None,
    meter_evidence: str | None,
) -> Evidence:
    if entity_kind is EntityKind.CHARGE_POINT:
        if meter_evidence == "verified":
            return Evidence.VERIFIED_METER
        # OCPP's meter values, a charger's register in telemetry, or the charge point
        # operator's back end reporting its own meter.
        if source in ("ocpp", "external") or energy_method == _COUNTER:
            return Evidence.CHARGER_METER
    if energy_method == _COUNTER:
        return Evidence.CAR_ENERGY_COUNTER
    if energy_method == _POWER:
        return Evidence.CAR_POWER
    if energy_method == _STATE_OF_CHARGE:
        return Evidence.STATE_OF_CHARGE
    return Evidence.REPORTED
