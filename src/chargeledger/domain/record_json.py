"""A Charging Record as the API serves it (the seed's shape), as JSON bytes.

Built once, when a session is stored or changed, and kept with it: a page of records is then
the stored bytes spliced together, with no per-record work on the hot read path.
"""

from collections.abc import Mapping
from typing import Any

import orjson

from chargeledger.domain.instants import format_instant


def _measurement(unit: str, value: float | None) -> dict[str, Any]:
    return {"unit": unit, "value": value}


def _meter_evidence(status: str | None) -> dict[str, Any] | None:
    if status is None:
        return None
    # "verified": the energy is the difference of two readings of a calibrated meter whose
    # signatures check out with the key configured for the charger.
    return {"status": status, "verified": status == "verified"}


def charge_record(session: Mapping[str, Any]) -> dict[str, Any]:
    """The record of a stored session (its column values), keys in the seed's order and
    every key present (an unknown value is null)."""
    address = session["address"]
    return {
        "data": {
            "charge": {
                "averagePower": _measurement("kW", session["average_power_kw"]),
                "end": _measurement("%", session["soc_end_pct"]),
                "start": _measurement("%", session["soc_start_pct"]),
                "total": {
                    "t1": session["t1_kwh"],
                    "t2": session["t2_kwh"],
                    "t3": session["t3_kwh"],
                    "t4": session["t4_kwh"],
                    "total": session["energy_kwh"],
                    "unit": "kWh",
                },
            },
            "end": format_instant(session["end_ms"]),
            "location": {
                "address": address if address is not None else session["matched_address"],
                "latitude": session["latitude"],
                "longitude": session["longitude"],
            },
            # Stored already serialized; spliced in without parsing.
            "locationMatches": orjson.Fragment(session["location_matches_json"]),
            "range": {
                "start": _measurement("km", session["range_start_km"]),
                "end": _measurement("km", session["range_end_km"]),
            },
            "start": format_instant(session["start_ms"]),
            # Ours, beyond the seed: how the session was found and its energy measured.
            "method": session["method"],
            "energyMethod": session["energy_method"],
            # How far the true energy can be from charge.total.total. A row from before the
            # column existed (migration 0004 builds records with this code) has none: null.
            "energyUncertainty": _measurement("kWh", session.get("energy_uncertainty_kwh")),
            # OCPP sessions: who charged (the idTag or idToken that started the transaction)
            # and what the charger's signed meter values say of the energy; null otherwise.
            "idTag": session.get("id_tag"),
            "meterEvidence": _meter_evidence(session.get("meter_evidence")),
        },
        "entityId": str(session["entity_id"]),
        "id": str(session["id"]),
        "created": format_instant(session["created_ms"]),
    }


def charge_record_json(session: Mapping[str, Any]) -> str:
    return orjson.dumps(charge_record(session)).decode()
