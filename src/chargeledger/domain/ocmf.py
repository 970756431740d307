"""Signed meter values in the Open Charge Metering Format (OCMF, S.A.F.E. e.V.).

Calibrated (Eichrecht / MID) charge points sign their meter readings as
`OCMF|{payload JSON}|{signature JSON}`. The signature covers the payload section exactly as
sent, byte for byte, so this module keeps that text and never re-serialises it. The public
key never travels inside the record: it comes out of band (the charger's label, a register),
which is why verification takes the key as a separate argument.

Specification: github.com/SAFE-eV/OCMF-Open-Charge-Metering-Format, OCMF-en.md.
"""

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Final, NoReturn

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from chargeledger.domain.instants import datetime_to_ms

# Defaults the spec makes effective when the signature section leaves a field out.
DEFAULT_SIGNATURE_ALGORITHM: Final = "ECDSA-secp256r1-SHA256"
DEFAULT_SIGNATURE_ENCODING: Final = "hex"
DEFAULT_SIGNATURE_MIME: Final = "application/x-der"

# The curves of the spec's table 22, by our normalised name, with the cryptography curve for
# each; None where cryptography has no such curve, so such records cannot be checked at all.
# Every algorithm there hashes with SHA-256, the 384-bit curves included.
_CURVES: Final[Mapping[str, type[ec.EllipticCurve] | None]] = {
    "secp192k1": None,
    "secp192r1": ec.SECP192R1,
    "secp256k1": ec.SECP256K1,
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "brainpool256r1": ec.BrainpoolP256R1,
    "brainpool384r1": ec.BrainpoolP384R1,
}
# The spec writes "brainpool256r1"; chargers in the field also send RFC 5639's
# "brainpoolP256r1", so the P is optional.
_ALGORITHM = re.compile(r"ECDSA-(secp\d+[kr]1|brainpoolP?\d+r1)-SHA256", re.IGNORECASE)

# TM: "2018-07-24T13:22:04,000+0200 S". The spec writes a comma before the milliseconds;
# some meters write a point, and some an offset with a colon.
_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?:[,.](?P<fraction>\d{1,9}))?"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})(?:\s+[A-Z])?",
    re.ASCII,
)
_TIME_STATUS = re.compile(r"\s(?P<status>[A-Z])$", re.ASCII)

# RV sent as a string: some meters do ("RV": "1.0", "RV": "       3.988", "00000000.000"),
# and their signatures verify all the same, so the reading is kept rather than refused.
_NUMBER_TEXT = re.compile(r"\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*", re.ASCII)

_HEX_KEY_SEPARATORS = re.compile(r"[\s:]")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+", re.ASCII)


class InvalidOcmfError(ValueError):
    """Text that is not parseable OCMF; the message says why."""


class InvalidPublicKeyError(ValueError):
    """Text that is not an elliptic-curve public key in a form we read."""


@dataclass(frozen=True, slots=True)
class OcmfReading:
    """One entry of RD, with the fields it left out taken from the reading before it."""

    time_ms: int | None
    time_status: str | None
    transaction: str | None
    value: Decimal
    unit: str
    identifier: str | None
    status: str | None

    @property
    def energy_kwh(self) -> Decimal | None:
        if self.unit == "kWh":
            return self.value
        if self.unit == "Wh":
            return _shift_decimal_point(self.value, -3)
        return None


@dataclass(frozen=True, slots=True)
class OcmfDocument:
    text: str
    payload_text: str
    format_version: str | None
    gateway_id: str | None
    gateway_serial: str | None
    gateway_version: str | None
    pagination: str | None
    meter_vendor: str | None
    meter_model: str | None
    meter_serial: str | None
    meter_firmware: str | None
    identification_status: bool | None
    identification_level: str | None
    identification_type: str | None
    identification_data: str | None
    readings: tuple[OcmfReading, ...]
    signature_algorithm: str
    signature_encoding: str
    signature_mime: str
    signature: bytes


class Verification(StrEnum):
    VERIFIED = "verified"
    BAD_SIGNATURE = "badSignature"
    WRONG_CURVE = "wrongCurve"
    UNSUPPORTED_ALGORITHM = "unsupportedAlgorithm"


def parse_ocmf(text: str) -> OcmfDocument:
    """Read an OCMF record; raises InvalidOcmfError, and nothing else, for any bad input."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # The signed bytes are the payload's UTF-8; text that has none cannot have been signed.
        raise InvalidOcmfError("OCMF text is not valid Unicode (it has lone surrogates)") from None
    sections = text.strip().split("|")
    # The spec forbids "|" inside the sections, so a plain split finds them.
    if len(sections) != 3:
        raise InvalidOcmfError(
            f"OCMF is three sections separated by '|' (OCMF|payload|signature); "
            f"found {len(sections)}"
        )
    header, payload_text, signature_text = sections
    if header.strip() != "OCMF":
        raise InvalidOcmfError(f"the header section is {header.strip()[:20]!r}, not 'OCMF'")
    payload = _json_object(payload_text, "payload")
    signature_section = _json_object(signature_text, "signature")

    encoding = _optional_str(signature_section, "SE") or DEFAULT_SIGNATURE_ENCODING
    signature_data = _optional_str(signature_section, "SD")
    if signature_data is None:
        raise InvalidOcmfError("the signature section has no signature data (SD)")
    return OcmfDocument(
        text=text,
        payload_text=payload_text,
        format_version=_optional_str(payload, "FV"),
        gateway_id=_optional_str(payload, "GI"),
        gateway_serial=_optional_str(payload, "GS"),
        gateway_version=_optional_str(payload, "GV"),
        pagination=_optional_str(payload, "PG"),
        meter_vendor=_optional_str(payload, "MV"),
        meter_model=_optional_str(payload, "MM"),
        meter_serial=_optional_str(payload, "MS"),
        meter_firmware=_optional_str(payload, "MF"),
        identification_status=_optional_bool(payload, "IS"),
        identification_level=_optional_str(payload, "IL"),
        identification_type=_optional_str(payload, "IT"),
        identification_data=_optional_str(payload, "ID"),
        readings=_readings(payload),
        signature_algorithm=_optional_str(signature_section, "SA") or DEFAULT_SIGNATURE_ALGORITHM,
        signature_encoding=encoding,
        signature_mime=_optional_str(signature_section, "SM") or DEFAULT_SIGNATURE_MIME,
        signature=_decode_signature(signature_data, encoding),
    )


def decode_signed_meter_data(signed_meter_data: str) -> str:
    """The OCMF text in OCPP 2.0.1's signedMeterValue.signedMeterData.

    OCPP 2.0.1 says base64; some chargers put the OCMF text there as it is.
    """
    stripped = signed_meter_data.strip()
    if stripped.startswith("OCMF|"):
        return stripped
    try:
        decoded = base64.b64decode(re.sub(r"\s", "", stripped), validate=True).decode("utf-8")
    except ValueError:  # not base64, or bytes that are not UTF-8 text
        decoded = ""
    if not decoded.strip().startswith("OCMF|"):
        raise InvalidOcmfError("signedMeterData is neither OCMF text nor base64 of OCMF text")
    return decoded.strip()


def load_public_key(text: str) -> EllipticCurvePublicKey:
    """Read a public key as PEM, as hex of DER SubjectPublicKeyInfo, or as base64 of it.

    Hex is what chargers print on their labels, often grouped with spaces or colons. A key
    on a curve the cryptography package lacks (secp192k1) is refused as unsupported.
    """
    stripped = _without_oca_prefix(text.strip())
    if not stripped:
        raise InvalidPublicKeyError("the public key is empty")
    pem = stripped.startswith("-----BEGIN")
    data = stripped.encode("utf-8") if pem else _key_bytes(stripped)
    try:
        if pem:
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except UnsupportedAlgorithm as error:
        raise InvalidPublicKeyError(f"the public key's curve is not supported: {error}") from None
    except (ValueError, TypeError) as error:
        raise InvalidPublicKeyError(f"the public key could not be read: {error}") from None
    if not isinstance(key, EllipticCurvePublicKey):
        raise InvalidPublicKeyError(
            "the public key is not an elliptic-curve key; OCMF signatures are ECDSA"
        )
    return key


def public_key_text(key: EllipticCurvePublicKey) -> str:
    """Uppercase hex of the DER SubjectPublicKeyInfo: the form OCMF documents and labels use."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der.hex().upper()


def verify_ocmf(document: OcmfDocument, public_key: EllipticCurvePublicKey) -> Verification:
    """Check the record's signature over its payload section under `public_key`."""
    match = _ALGORITHM.fullmatch(document.signature_algorithm.strip())
    if match is None or document.signature_mime != DEFAULT_SIGNATURE_MIME:
        return Verification.UNSUPPORTED_ALGORITHM
    curve_type = _CURVES.get(match[1].lower().replace("brainpoolp", "brainpool"))
    if curve_type is None:
        return Verification.UNSUPPORTED_ALGORITHM
    # A key on another curve would just fail to verify; saying so points at the likely cause
    # (the wrong key picked for this meter) rather than at tampering.
    if not isinstance(public_key.curve, curve_type):
        return Verification.WRONG_CURVE
    try:
        public_key.verify(
            document.signature,
            document.payload_text.encode("utf-8"),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        return Verification.BAD_SIGNATURE
    return Verification.VERIFIED


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _json_object(section: str, name: str) -> dict[str, object]:
    try:
        # Decimal keeps RV exactly as written ("2935.600" stays three places): the spec says
        # the number's representation is part of the reading.
        value = json.loads(
            section, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as error:
        raise InvalidOcmfError(f"the {name} section is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise InvalidOcmfError(f"the {name} section is not a JSON object")
    return value


def _optional_str(fields: Mapping[str, object], key: str) -> str | None:
    value = fields.get(key)
    if value is None or isinstance(value, str):
        return value
    raise InvalidOcmfError(f"{key} must be a string, not {_json_type(value)}")


def _optional_bool(fields: Mapping[str, object], key: str) -> bool | None:
    value = fields.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidOcmfError(f"{key} must be true or false, not {_json_type(value)}")


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _readings(payload: Mapping[str, object]) -> tuple[OcmfReading, ...]:
    entries = payload.get("RD")
    if not isinstance(entries, list) or not entries:
        raise InvalidOcmfError("the payload has no readings (RD must be a non-empty array)")
    readings = []
    # Within a record a reading leaves out the fields equal to the reading before it
    # (e.g. RI and RU only in the first), so each one starts from its predecessor's fields.
    fields: dict[str, object] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InvalidOcmfError(f"reading {index} in RD is not a JSON object")
        fields = {**fields, **entry}
        try:
            readings.append(_reading(fields))
        except InvalidOcmfError as error:
            raise InvalidOcmfError(f"reading {index} in RD: {error}") from None
    return tuple(readings)


def _reading(fields: Mapping[str, object]) -> OcmfReading:
    unit = _optional_str(fields, "RU")
    if unit is None:
        raise InvalidOcmfError("no unit (RU)")
    time_text = _optional_str(fields, "TM")
    return OcmfReading(
        time_ms=None if time_text is None else _time_ms(time_text),
        time_status=None if time_text is None else _time_status(time_text),
        transaction=_optional_str(fields, "TX"),
        value=_reading_value(fields.get("RV")),
        unit=unit,
        identifier=_optional_str(fields, "RI"),
        status=_optional_str(fields, "ST"),
    )


def _reading_value(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str) and (match := _NUMBER_TEXT.fullmatch(value)):
        return Decimal(match[1])
    if value is None:
        raise InvalidOcmfError("no reading value (RV)")
    raise InvalidOcmfError(f"RV must be a number, not {_json_type(value)}")


def _time_ms(text: str) -> int | None:
    """TM as UTC epoch milliseconds, or None: an unreadable time does not void the reading."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        return None
    offset = match["offset"]
    hours, minutes = (0, 0) if offset == "Z" else (int(offset[1:3]), int(offset[-2:]))
    if minutes > 59:
        return None
    sign = -1 if offset[0] == "-" else 1
    fraction = (match["fraction"] or "").ljust(3, "0")[:3]  # truncated to milliseconds
    try:
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        moment = datetime.fromisoformat(f"{match['date']}T{match['time']}").replace(tzinfo=zone)
    except ValueError:  # month 13, offset of 24 hours or more, ...
        return None
    return datetime_to_ms(moment) + int(fraction)


def _time_status(text: str) -> str | None:
    match = _TIME_STATUS.search(text.strip())
    return None if match is None else match["status"]


def _decode_signature(data: str, encoding: str) -> bytes:
    try:
        if encoding == "hex":
            return bytes.fromhex(data)
        if encoding == "base64":
            return base64.b64decode(data, validate=True)
    except ValueError as error:  # binascii.Error is a ValueError
        raise InvalidOcmfError(f"SD is not valid {encoding}: {error}") from None
    raise InvalidOcmfError(f"unknown signature encoding SE {encoding!r}; expected hex or base64")


# The Open Charge Alliance's form of a meter's key in signed meter values (1.6 and 2.0.1
# publicKey): "oca:base16:asn1:<hex of DER>", itself often sent base64-encoded.
_OCA_KEY = re.compile(r"oca:base(16|64):asn1:(.*)", re.IGNORECASE | re.DOTALL)


def _without_oca_prefix(text: str) -> str:
    candidate = text
    if not _OCA_KEY.match(candidate):
        try:
            candidate = base64.b64decode(re.sub(r"\s", "", text), validate=True).decode("ascii")
        except ValueError:  # not base64 of ASCII text
            return text
    match = _OCA_KEY.match(candidate)
    return text if match is None else match[2].strip()


def _key_bytes(text: str) -> bytes:
    compact = _HEX_KEY_SEPARATORS.sub("", text)
    if _HEX.fullmatch(compact):
        return bytes.fromhex(compact)
    try:
        return base64.b64decode(compact, validate=True)
    except ValueError:
        raise InvalidPublicKeyError(
            "the public key is neither PEM, nor hex, nor base64 of a DER SubjectPublicKeyInfo"
        ) from None


def _shift_decimal_point(value: Decimal, places: int) -> Decimal:
    # Exact at any length, where dividing by 1000 would round to the context's 28 digits.
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # RV is always finite: JSON has no NaN or Infinity
    return Decimal((sign, digits, exponent + places))
