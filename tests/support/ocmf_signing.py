"""Signed meter values made in tests: OCMF records signed with a key the test holds, as a
calibrated meter would sign them (the payload text, SHA-256, ECDSA, DER, hex)."""

import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def new_meter_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_key_hex(key: ec.EllipticCurvePrivateKey) -> str:
    """As chargers print it: hex of the DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der.hex().upper()


def signed_ocmf(
    key: ec.EllipticCurvePrivateKey,
    readings: list[tuple[str, str, float]],  # (TM, TX, RV in kWh)
    *,
    meter_serial: str = "EM-0042",
    pagination: str = "T17",
    id_tag: str = "RFID-0001",
) -> str:
    payload: dict[str, Any] = {
        "FV": "1.0",
        "GI": "TEST WALLBOX",
        "GS": "WB-0007",
        "GV": "1.2.3",
        "PG": pagination,
        "MV": "Test Meters",
        "MM": "TM-1",
        "MS": meter_serial,
        "MF": "1.0",
        "IS": True,
        "IL": "VERIFIED",
        "IF": ["RFID_PLAIN"],
        "IT": "ISO14443",
        "ID": id_tag,
        "RD": [
            {"TM": tm, "TX": tx, "RV": rv, "RI": "1-b:1.8.0", "RU": "kWh", "ST": "G"}
            for tm, tx, rv in readings
        ],
    }
    payload_text = json.dumps(payload, separators=(",", ":"))
    signature = key.sign(payload_text.encode(), ec.ECDSA(hashes.SHA256()))
    signature_text = json.dumps({"SA": "ECDSA-secp256r1-SHA256", "SD": signature.hex().upper()})
    return f"OCMF|{payload_text}|{signature_text}"
