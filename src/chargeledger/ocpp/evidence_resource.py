"""The evidence behind a session's energy, as the API shows it (ocpp/schemas.py)."""

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from chargeledger.domain.instants import format_instant
from chargeledger.domain.meter_evidence import EvidenceAssessment, MeterEvidence, SignedValueView
from chargeledger.domain.ocmf import OcmfDocument, OcmfReading
from chargeledger.ocpp.service import SessionEvidence


def _measurement(unit: str, value: float | None) -> dict[str, Any]:
    return {"unit": unit, "value": value}


def _time(instant_ms: int | None) -> str | None:
    return None if instant_ms is None else format_instant(instant_ms)


def _reading(reading: OcmfReading) -> dict[str, Any]:
    return {
        "time": _time(reading.time_ms),
        "timeStatus": reading.time_status,
        "transaction": reading.transaction,
        "value": str(reading.value),
        "unit": reading.unit,
        "identifier": reading.identifier,
        "status": reading.status,
    }


def _ocmf(document: OcmfDocument) -> dict[str, Any]:
    return {
        "formatVersion": document.format_version,
        "gatewayId": document.gateway_id,
        "gatewaySerial": document.gateway_serial,
        "pagination": document.pagination,
        "meterVendor": document.meter_vendor,
        "meterModel": document.meter_model,
        "meterSerial": document.meter_serial,
        "meterFirmware": document.meter_firmware,
        "identificationType": document.identification_type,
        "identificationData": document.identification_data,
        "readings": [_reading(reading) for reading in document.readings],
        "signatureAlgorithm": document.signature_algorithm,
    }


def _signed_value(view: SignedValueView) -> dict[str, Any]:
    value = view.value
    return {
        "timestamp": format_instant(value.timestamp_ms),
        "context": value.context,
        "measurand": value.measurand,
        "data": value.data,
        "encodingMethod": value.encoding_method,
        "signingMethod": value.signing_method,
        "publicKeySent": value.public_key,
        "ocmf": None if view.document is None else _ocmf(view.document),
        "problem": view.problem,
        "verification": None if view.verification is None else view.verification.value,
    }


def _signed_reading(reading: OcmfReading | None) -> dict[str, Any] | None:
    if reading is None:
        return None
    return {"time": _time(reading.time_ms), "value": str(reading.value), "unit": reading.unit}


def _signed_meter(assessment: EvidenceAssessment) -> dict[str, Any]:
    energy: Decimal | None = assessment.signed_energy_kwh
    return {
        "status": assessment.status.value,
        "verified": assessment.status == MeterEvidence.VERIFIED,
        "detail": assessment.detail,
        "meterSerial": assessment.meter_serial,
        "start": _signed_reading(assessment.begin),
        "end": _signed_reading(assessment.end),
        "signedEnergy": None if energy is None else _measurement("kWh", float(energy)),
        "values": [_signed_value(view) for view in assessment.values],
    }


def _wh(value: float | None) -> dict[str, Any]:
    return _measurement("Wh", value)


def session_evidence_resource(
    session: sa.Row[Any], evidence: SessionEvidence | None
) -> dict[str, Any]:
    transaction = None if evidence is None else evidence.transaction
    return {
        "sessionId": str(session.id),
        "entityId": str(session.entity_id),
        "source": session.source,
        "method": session.method,
        "energyMethod": session.energy_method,
        "energyUncertainty": _measurement("kWh", session.energy_uncertainty_kwh),
        "energy": _measurement("kWh", session.energy_kwh),
        "transaction": None
        if transaction is None
        else {
            "transactionId": transaction.transaction_key,
            "idTag": transaction.id_tag,
            "start": _time(transaction.start_ms),
            "stop": _time(transaction.stop_ms),
            "meterStart": _wh(transaction.meter_start_wh),
            "meterStop": _wh(transaction.meter_stop_wh),
            "stopReason": transaction.stop_reason,
            "status": transaction.status,
        },
        "meterPublicKey": None if evidence is None else evidence.meter_public_key,
        "signedMeter": None
        if evidence is None or evidence.assessment is None
        else _signed_meter(evidence.assessment),
    }
