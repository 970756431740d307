"""What a transaction's signed meter values prove about its energy.

Calibrated (Eichrecht / MID) chargers sign the meter's readings at the start and the end of
a transaction (OCMF). When the charger's public key is configured, the signatures can be
checked: if both readings verify, come from one meter, and their difference is the session's
energy, that energy comes from a verified calibrated meter, the strongest evidence a
reimbursement can rest on. Anything short of that is said, with the reason.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from chargeledger.domain.meter_values import SignedMeterValue, signed_meter_value_object
from chargeledger.domain.ocmf import (
    InvalidOcmfError,
    OcmfDocument,
    OcmfReading,
    Verification,
    decode_signed_meter_data,
    parse_ocmf,
    verify_ocmf,
)

# The session's energy and the signed readings' difference may differ by the readings'
# own resolution (each is rounded), and by the session's Wh resolution.
_SESSION_RESOLUTION_KWH = Decimal("0.001")
# OCMF TX codes that end a transaction: E, or a more precise one (stopped locally, remotely,
# aborted by an error, power failure).
_END_CODES = frozenset("ELRAP")


class MeterEvidence(StrEnum):
    VERIFIED = "verified"
    NO_PUBLIC_KEY = "noPublicKey"  # signed, but no key is configured to check it with
    BAD_SIGNATURE = "badSignature"  # a reading's signature fails with the configured key
    ENERGY_MISMATCH = "energyMismatch"  # verified, but not the session's energy (or meter)
    INCOMPLETE = "incomplete"  # no signed reading of the start or of the end
    METER_ERROR = "meterError"  # the meter flagged a reading (OCMF ST other than G)
    UNREADABLE = "unreadable"  # signed data in a format we cannot read


@dataclass(frozen=True, slots=True)
class SignedValueView:
    """One signed value as sent, what it says, and whether its signature checks out."""

    value: SignedMeterValue
    document: OcmfDocument | None
    problem: str | None  # why it could not be read
    verification: Verification | None  # None without a key or a document


@dataclass(frozen=True, slots=True)
class EvidenceAssessment:
    status: MeterEvidence
    detail: str
    values: tuple[SignedValueView, ...]
    begin: OcmfReading | None
    end: OcmfReading | None
    meter_serial: str | None
    signed_energy_kwh: Decimal | None


def _ocmf_text(value: SignedMeterValue) -> str:
    if value.data.startswith("OCMF|"):
        return value.data
    wrapped = signed_meter_value_object(value.data)
    if wrapped is not None:  # 1.6 per the OCA's note: 2.0.1's signedMeterValue as JSON text
        return decode_signed_meter_data(str(wrapped.get("signedMeterData") or ""))
    return decode_signed_meter_data(value.data)


def _read(value: SignedMeterValue, key: EllipticCurvePublicKey | None) -> SignedValueView:
    try:
        document = parse_ocmf(_ocmf_text(value))
    except InvalidOcmfError as error:
        return SignedValueView(value, None, str(error), None)
    verification = None if key is None else verify_ocmf(document, key)
    return SignedValueView(value, document, None, verification)


def _resolution_kwh(reading: OcmfReading) -> Decimal:
    exponent = reading.value.as_tuple().exponent
    step = Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0)
    return step / 1000 if reading.unit == "Wh" else step


def assess(
    signed: Sequence[SignedMeterValue],
    key: EllipticCurvePublicKey | None,
    energy_kwh: float | None,
) -> EvidenceAssessment | None:
    """The evidence of a transaction's signed values for its session's energy; None when
    the transaction has no signed values."""
    if not signed:
        return None
    views = tuple(_read(value, key) for value in signed)
    readable = [view for view in views if view.document is not None]

    def result(
        status: MeterEvidence,
        detail: str,
        begin: tuple[OcmfReading, SignedValueView] | None = None,
        end: tuple[OcmfReading, SignedValueView] | None = None,
        signed_kwh: Decimal | None = None,
    ) -> EvidenceAssessment:
        serial = None
        for found in (begin, end):
            if found is not None and found[1].document is not None:
                serial = found[1].document.meter_serial
        return EvidenceAssessment(
            status=status,
            detail=detail,
            values=views,
            begin=None if begin is None else begin[0],
            end=None if end is None else end[0],
            meter_serial=serial,
            signed_energy_kwh=signed_kwh,
        )

    if not readable:
        problems = "; ".join(sorted({view.problem or "" for view in views}))
        return result(MeterEvidence.UNREADABLE, f"no signed value could be read: {problems}")
    readings = [
        (reading, view)
        for view in readable
        for reading in (view.document.readings if view.document is not None else ())
    ]
    begins = [item for item in readings if item[0].transaction == "B"]
    ends = [item for item in readings if item[0].transaction in _END_CODES]
    begin = begins[0] if begins else None
    end = ends[-1] if ends else None
    if begin is None or end is None:
        missing = (
            "start (OCMF TX 'B')" if begin is None else "end (OCMF TX 'E', 'L', 'R', 'A' or 'P')"
        )
        return result(
            MeterEvidence.INCOMPLETE,
            f"no signed reading of the transaction's {missing}",
            begin,
            end,
        )
    if key is None:
        return result(
            MeterEvidence.NO_PUBLIC_KEY,
            "signed readings are present; configure the meter's public key on the charger "
            "(PUT .../ocpp-settings) to verify them",
            begin,
            end,
        )
    for label, (_, view) in (("start", begin), ("end", end)):
        if view.verification != Verification.VERIFIED:
            return result(
                MeterEvidence.BAD_SIGNATURE,
                f"the signed reading of the {label} does not verify with the configured key "
                f"({view.verification})",
                begin,
                end,
            )
    for label, (reading, _) in (("start", begin), ("end", end)):
        if reading.status not in (None, "G"):
            return result(
                MeterEvidence.METER_ERROR,
                f"the meter reported status '{reading.status}' with the {label} reading "
                "(OCMF ST; only G, good, makes a reading evidence)",
                begin,
                end,
            )
    begin_doc, end_doc = begin[1].document, end[1].document
    assert begin_doc is not None
    assert end_doc is not None
    if begin_doc.meter_serial != end_doc.meter_serial:
        return result(
            MeterEvidence.ENERGY_MISMATCH,
            f"the start was read on meter {begin_doc.meter_serial}, the end on meter "
            f"{end_doc.meter_serial}",
            begin,
            end,
        )
    begin_kwh, end_kwh = begin[0].energy_kwh, end[0].energy_kwh
    if begin_kwh is None or end_kwh is None:
        return result(
            MeterEvidence.UNREADABLE,
            f"signed readings in {begin[0].unit} and {end[0].unit}, not an energy unit",
            begin,
            end,
        )
    signed_kwh = end_kwh - begin_kwh
    tolerance = max(_resolution_kwh(begin[0]), _resolution_kwh(end[0])) + _SESSION_RESOLUTION_KWH
    if (
        energy_kwh is None
        or not math.isfinite(energy_kwh)
        or abs(Decimal(repr(energy_kwh)) - signed_kwh) > tolerance
    ):
        return result(
            MeterEvidence.ENERGY_MISMATCH,
            f"the verified readings give {signed_kwh} kWh, the session {energy_kwh} kWh",
            begin,
            end,
            signed_kwh,
        )
    return result(
        MeterEvidence.VERIFIED,
        f"{signed_kwh} kWh between two readings of meter {begin_doc.meter_serial}, both "
        "signatures verified with the configured key",
        begin,
        end,
        signed_kwh,
    )
