"""The Charging Record, with the seed's field names, words and nesting."""

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from chargeledger.domain import physical_ranges
from chargeledger.domain.charge_record import ChargeRecord, TieredEnergyKwh
from chargeledger.domain.location_matching import Position
from chargeledger.domain.units import UnknownUnitError, to_km, to_kw, to_kwh
from chargeledger.errors import InvalidInputError
from chargeledger.kit.schemas import (
    ExternalId,
    FiniteFloat,
    InstantMs,
    Latitude,
    Longitude,
    LongText,
    Measurement,
    PageOf,
    PositionUncertaintyM,
    Strict,
    TieredMeasurement,
    UnitText,
)

# ---- responses -------------------------------------------------------------------------


class Charge(BaseModel):
    averagePower: Measurement = Field(description="Average power over the session, kW")  # noqa: N815
    end: Measurement = Field(description="State of charge at the end, %")
    start: Measurement = Field(description="State of charge at the start, %")
    total: TieredMeasurement = Field(
        description="Energy charged per tariff period and in total, kWh"
    )


class SessionLocation(BaseModel):
    address: str | None
    latitude: float | None
    longitude: float | None


class MatchedLocation(BaseModel):
    id: UUID
    label: str


class LocationMatch(BaseModel):
    accuracy: float = Field(
        description="Probability (0 to 1) that the vehicle was inside the location's circle"
    )
    location: MatchedLocation


class Range(BaseModel):
    start: Measurement = Field(description="Estimated driving range at the start, km")
    end: Measurement = Field(description="Estimated driving range at the end, km")


class MeterEvidenceSummary(BaseModel):
    status: Literal[
        "verified",
        "noPublicKey",
        "badSignature",
        "energyMismatch",
        "incomplete",
        "meterError",
        "unreadable",
    ] = Field(
        description="verified: the energy is the difference of two signed readings of one "
        "calibrated meter, both verified with the public key configured for the charger; "
        "noPublicKey: signed, but no key configured; badSignature; energyMismatch: the "
        "verified readings do not give this energy; incomplete: no signed start or end "
        "reading; meterError: the meter flagged a reading; unreadable: signed data in a "
        "format we cannot read"
    )
    verified: bool = Field(description="Whether the energy comes from a verified calibrated meter")


class ChargeRecordData(BaseModel):
    """A charging session"""

    charge: Charge
    end: str = Field(json_schema_extra={"format": "date-time"})
    location: SessionLocation
    locationMatches: list[LocationMatch] = Field(  # noqa: N815
        description="The Entity-Locations that we've matched, best first"
    )
    range: Range
    start: str = Field(json_schema_extra={"format": "date-time"})
    method: str | None = Field(
        description="Ours: how the session was found: isCharging, power or stateOfCharge "
        "(from readings), ocpp (a charger's transaction), external (posted or imported)"
    )
    energyMethod: str | None = Field(  # noqa: N815
        description="Ours: how its energy was measured: counter, power, stateOfCharge "
        "(x battery capacity), or null when posted or not measurable"
    )
    energyUncertainty: Measurement = Field(  # noqa: N815
        description="Ours: how far the true energy can be from charge.total.total given the "
        "data, kWh; the value is null when unknown, and always for posted sessions"
    )
    idTag: str | None = Field(  # noqa: N815
        description="Ours: the idTag (OCPP 1.6) or idToken (2.0.1) that started the "
        "transaction, i.e. who charged; null for sessions not recorded over OCPP"
    )
    meterEvidence: MeterEvidenceSummary | None = Field(  # noqa: N815
        description="Ours: what the charger's signed meter values (OCMF) say of the energy; "
        "null when the charger sent none. Details: GET .../charge-sessions/{id}/evidence"
    )


class ChargingRecord(BaseModel):
    data: ChargeRecordData = Field(description="The data of a Charging Record")
    entityId: UUID  # noqa: N815
    id: UUID
    created: str = Field(json_schema_extra={"format": "date-time"})


class ChargingRecordPage(PageOf[ChargingRecord]):
    """A page of Charging Records"""


# ---- requests --------------------------------------------------------------------------


class MeasurementIn(Strict):
    unit: UnitText
    value: FiniteFloat | None = None


class TieredMeasurementIn(Strict):
    """Energy charged per tariff period and in total (kWh, Wh or MWh); each between 0 and
    10,000 kWh."""

    t1: FiniteFloat | None = None
    t2: FiniteFloat | None = None
    t3: FiniteFloat | None = None
    t4: FiniteFloat | None = None
    total: FiniteFloat | None = None
    unit: UnitText = "kWh"


class ChargeIn(Strict):
    averagePower: MeasurementIn | None = None  # noqa: N815
    end: MeasurementIn | None = None
    start: MeasurementIn | None = None
    total: TieredMeasurementIn | None = None


class SessionLocationIn(Strict):
    address: LongText | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    accuracy: PositionUncertaintyM | None = Field(
        default=None,
        description="Our extension: the position's uncertainty in metres (25 m when absent), "
        f"{physical_ranges.POSITION_UNCERTAINTY.describe()}",
    )


class RangeIn(Strict):
    start: MeasurementIn | None = None
    end: MeasurementIn | None = None


class ChargeSessionIn(Strict):
    """A session measured elsewhere: a Charging Record's `data` plus the sender's own id."""

    externalId: ExternalId = Field(  # noqa: N815
        description="The sender's id of this session; posting it again is idempotent"
    )
    start: InstantMs
    end: InstantMs
    charge: ChargeIn | None = None
    location: SessionLocationIn | None = None
    range: RangeIn | None = None

    def to_record(self) -> tuple[ChargeRecord, float | None]:
        """The record in stored units, and the averagePower the sender claimed (kW), if any."""
        problems: list[dict[str, Any]] = []

        def problem(name: str, detail: str) -> None:
            problems.append({"name": name, "in": "body", "detail": detail})

        def convert(
            measurement: MeasurementIn | None,
            name: str,
            convert_unit: Any,
            allowed: tuple[str, ...],
        ) -> float | None:
            if measurement is None or measurement.value is None:
                return None
            if convert_unit is None:
                if measurement.unit not in allowed:
                    problem(f"{name}.unit", f"unit must be {' or '.join(allowed)}")
                    return None
                return measurement.value
            try:
                return float(convert_unit(measurement.value, measurement.unit))
            except UnknownUnitError as error:
                problem(f"{name}.unit", str(error))
                return None

        charge = self.charge or ChargeIn()
        energy = self._energy(charge.total, problem)
        range_in = self.range or RangeIn()
        location = self.location
        position: Position | None = None
        if location is not None:
            if (location.latitude is None) != (location.longitude is None):
                problem("location", "latitude and longitude must be given together")
            elif location.latitude is not None and location.longitude is not None:
                position = Position(location.latitude, location.longitude, location.accuracy)
        given = charge.total
        tiers_given = given is None or None not in (given.t1, given.t2, given.t3, given.t4)
        record = ChargeRecord(
            tiers_given=tiers_given,
            start_ms=self.start,
            end_ms=self.end,
            energy=energy,
            soc_start_pct=convert(charge.start, "charge.start", None, ("%",)),
            soc_end_pct=convert(charge.end, "charge.end", None, ("%",)),
            range_start_km=convert(range_in.start, "range.start", to_km, ()),
            range_end_km=convert(range_in.end, "range.end", to_km, ()),
            position=position,
            address=None if location is None else location.address,
        )
        claimed_kw = convert(charge.averagePower, "charge.averagePower", to_kw, ())
        if problems:
            raise InvalidInputError(
                "; ".join(f"{p['name']}: {p['detail']}" for p in problems), errors=problems
            )
        return record, claimed_kw

    @staticmethod
    def _energy(total: TieredMeasurementIn | None, problem: Any) -> TieredEnergyKwh | None:
        if total is None:
            return None
        tiers = {"t1": total.t1, "t2": total.t2, "t3": total.t3, "t4": total.t4}
        if total.total is None:
            if any(value is not None for value in tiers.values()):
                problem("charge.total.total", "total is required when t1..t4 are given")
            return None
        missing = [name for name, value in tiers.items() if value is None]
        if missing and len(missing) < len(tiers):
            problem(
                "charge.total",
                f"{', '.join(missing)} missing: give all of t1..t4 with the total, or none "
                "(then the total is split with the tariff calendar)",
            )
            return None
        try:
            total_kwh = to_kwh(total.total, total.unit)
            if missing:
                # Placeholders: the service splits the total with the calendar.
                return TieredEnergyKwh(t1=total_kwh, t2=0.0, t3=0.0, t4=0.0, total=total_kwh)
            values = {name: to_kwh(value or 0.0, total.unit) for name, value in tiers.items()}
            return TieredEnergyKwh(total=total_kwh, **values)
        except UnknownUnitError as error:
            problem("charge.total.unit", str(error))
            return None
