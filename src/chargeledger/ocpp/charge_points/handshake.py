"""The WebSocket handshake: which OCPP version, and which charge point (security profile 1:
HTTP Basic authentication with the charge point's identity and password)."""

import base64
import binascii
from collections.abc import Sequence

# Preferred first: a charge point offering both speaks 2.0.1.
SUPPORTED_SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")
# Names chargers use that are not the registered ones ("1.6J" is the JSON flavour of 1.6).
_ALIASES = {"ocpp1.6j": "ocpp1.6"}
# How much of anything a client put in the path is written to the log.
LOGGED_PATH_CHARACTERS = 64


def loggable(text: str) -> str:
    """Text from a client (the path, the identity in it) as a log may hold it: at most
    LOGGED_PATH_CHARACTERS of it, every character outside printable ASCII escaped as Python
    writes it (a newline as \\n, 'é' as \\xe9), so it can never start a line of its own nor
    pose as another record."""
    shown = text[:LOGGED_PATH_CHARACTERS].encode("unicode_escape").decode("ascii")
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in shown)
    return shown + ("..." if len(text) > LOGGED_PATH_CHARACTERS else "")


def choose_subprotocol(offered: Sequence[str]) -> tuple[str, str] | None:
    """(the version we speak, the spelling to answer with). Chargers spell the names their
    own way (`OCPP1.6`, `Ocpp2.0.1`); the name is matched without regard to case, and the
    answer repeats the charger's spelling, since a client checks that it offered it."""
    by_name = {
        _ALIASES.get(name.strip().lower(), name.strip().lower()): name for name in reversed(offered)
    }
    for subprotocol in SUPPORTED_SUBPROTOCOLS:
        spelling = by_name.get(subprotocol)
        if spelling is not None:
            return subprotocol, spelling
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
