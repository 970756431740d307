"""OCPP resources beyond credentials: a charger's settings, its event log, and the evidence
behind a session's energy."""

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool

from chargeledger.charge_sessions.schemas import MeterEvidenceSummary
from chargeledger.kit.schemas import Measurement, PageOf, Strict


class OcppSettingsIn(Strict):
    meterPublicKey: str | None = Field(  # noqa: N815
        default=None,
        max_length=4096,
        description="The public key of the charger's calibrated meter, to verify its signed "
        "meter values (OCMF): hex of the DER SubjectPublicKeyInfo as printed on the charger "
        "(spaces and colons allowed), PEM, or base64 of the DER. null: none. Setting or "
        "changing it re-assesses the evidence of the charger's sessions at once.",
    )
    toleratesZonelessTimestamps: StrictBool = Field(  # noqa: N815
        default=False,
        description="Read a timestamp without a time zone as UTC (OCPP requires a zone). Each "
        "use is recorded as a DeviationTolerated event. From the charger's next connection.",
    )
    toleratesNumbersAsStrings: StrictBool = Field(  # noqa: N815
        default=False,
        description="Accept a number where the schema wants text (such as a 1.6 sampled "
        'value 1234 instead of "1234"). Each use is recorded as a DeviationTolerated event. '
        "From the charger's next connection.",
    )


class OcppSettings(BaseModel):
    identity: str
    meterPublicKey: str | None = Field(  # noqa: N815
        description="Upper-case hex of the DER SubjectPublicKeyInfo; null when none is set"
    )
    toleratesZonelessTimestamps: bool  # noqa: N815
    toleratesNumbersAsStrings: bool  # noqa: N815


class OcppEvent(BaseModel):
    id: UUID
    received: str = Field(description="When the server received it (RFC 3339, UTC)")
    kind: str = Field(
        description="The charger message's action (BootNotification, StatusNotification, "
        "StartTransaction, TransactionEvent, FirmwareStatusNotification, DataTransfer, ...), "
        "or what we did about a message: ValuesDropped, DeviationTolerated, CallRefused, "
        "CallFailed, SeqNoReused, TransactionStartInferred, ConnectionReplaced, ConnectionLost"
    )
    detail: dict[str, Any] = Field(
        description="The message's payload as sent, or what happened and why"
    )


class OcppEventPage(PageOf[OcppEvent]):
    pass


class OcmfReadingOut(BaseModel):
    time: str | None
    timeStatus: str | None  # noqa: N815
    transaction: str | None = Field(description="OCMF TX: B begin, E end, C charging, ...")
    value: str = Field(description="The reading exactly as signed (a decimal)")
    unit: str
    identifier: str | None = Field(description="OBIS code")
    status: str | None


class OcmfOut(BaseModel):
    formatVersion: str | None  # noqa: N815
    gatewayId: str | None  # noqa: N815
    gatewaySerial: str | None  # noqa: N815
    pagination: str | None
    meterVendor: str | None  # noqa: N815
    meterModel: str | None  # noqa: N815
    meterSerial: str | None  # noqa: N815
    meterFirmware: str | None  # noqa: N815
    identificationType: str | None  # noqa: N815
    identificationData: str | None  # noqa: N815
    readings: list[OcmfReadingOut]
    signatureAlgorithm: str  # noqa: N815


class SignedValueOut(BaseModel):
    timestamp: str
    context: str | None
    measurand: str
    data: str = Field(description="The signed data exactly as the charger sent it")
    encodingMethod: str | None  # noqa: N815
    signingMethod: str | None  # noqa: N815
    publicKeySent: str | None = Field(  # noqa: N815
        description="The public key the charger sent along (2.0.1); not trusted for "
        "verification: only the key configured for the charger is"
    )
    ocmf: OcmfOut | None = Field(description="What the data says, when it is OCMF")
    problem: str | None = Field(description="Why the data could not be read")
    verification: str | None = Field(
        description="verified, badSignature, wrongCurve or unsupportedAlgorithm; null "
        "without a configured key or readable data"
    )


class SignedReadingOut(BaseModel):
    time: str | None
    value: str
    unit: str


class SignedMeterOut(MeterEvidenceSummary):
    detail: str = Field(description="Why the status is what it is, in words")
    meterSerial: str | None  # noqa: N815
    start: SignedReadingOut | None
    end: SignedReadingOut | None
    signedEnergy: Measurement | None = Field(  # noqa: N815
        description="end - start of the signed readings, kWh"
    )
    values: list[SignedValueOut]


class TransactionOut(BaseModel):
    transactionId: str = Field(  # noqa: N815
        description="1.6: the transactionId we assigned; 2.0.1: the station's own"
    )
    idTag: str | None  # noqa: N815
    start: str | None
    stop: str | None
    meterStart: Measurement  # noqa: N815
    meterStop: Measurement  # noqa: N815
    stopReason: str | None  # noqa: N815
    status: str


class SessionEvidence(BaseModel):
    sessionId: UUID  # noqa: N815
    entityId: UUID  # noqa: N815
    source: str = Field(
        description="ocpp (a charger's transaction), readings (detected from a device's "
        "readings) or external (posted or imported)"
    )
    method: str | None
    energyMethod: str | None  # noqa: N815
    energyUncertainty: Measurement  # noqa: N815
    energy: Measurement
    transaction: TransactionOut | None = Field(description="OCPP sessions only")
    meterPublicKey: str | None = Field(  # noqa: N815
        description="The key configured for the charger (OCPP sessions only)"
    )
    signedMeter: SignedMeterOut | None = Field(  # noqa: N815
        description="The charger's signed meter values; null when it sent none"
    )
