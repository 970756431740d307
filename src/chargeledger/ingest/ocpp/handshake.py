"""The WebSocket handshake: which OCPP version, and which charge point (security profile 1:
HTTP Basic authentication with the charge point's identity and password)."""

import base64
import binascii
from collections.abc import Sequence

# Preferred first: a charge point offering both speaks 2.0.1.
SUPPORTED_SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")


def choose_subprotocol(offered: Sequence[str]) -> str | None:
    for subprotocol in SUPPORTED_SUBPROTOCOLS:
        if subprotocol in offered:
            return subprotocol
    return None


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(username, password) of an `Authorization: Basic ...` header, else None."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, separator, password = decoded.partition(":")
    if not separator:
        return None
    return username, password
