"""Continuation tokens: signed keyset cursors.

A token carries everything needed to fetch the next page (which list, which time frame,
and the sort key of the last row served), so any API process can serve any page without
shared state. It is signed with HMAC-SHA256: a client cannot forge or alter one, and a token
issued for one entity, list or time frame is refused for another. It names the master key
that signed it, so tokens keep verifying while that key is retiring after a rotation.
"""

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import IntEnum
from uuid import UUID

from chargeledger.domain.signing_keys import KEY_ID_BYTES, TokenKeys

_VERSION = 2
# version, key id, kind, scope id, frame start, frame end, last sort key, last id
_LAYOUT = struct.Struct(f">B{KEY_ID_BYTES}sB16sqqq16s")
# Version 1, before tokens named their key: verified with the keys of that time (legacy).
_VERSION_1 = 1
_LAYOUT_1 = struct.Struct(">BB16sqqq16s")
_MAC_BYTES = 16  # 128-bit tag: forging one is as hard as guessing a random UUID, squared

_NOT_OURS = "continuationToken is not a token issued by this API"
_ALTERED = "continuationToken was altered or not issued by this API"


class CursorKind(IntEnum):
    CHARGE_SESSIONS = 1
    ENTITIES = 2
    READINGS = 3
    LOCATIONS = 4
    OCPP_EVENTS = 5
    # Appended only: a token names its kind by number, and tokens out there must keep theirs.
    EVENTS = 6  # scope: tenant; after: sequence; after_id: digest of the filters
    CHARGE_SESSION_VERSIONS = 7  # scope: session; after: version; after_id: its entity
    WEBHOOKS = 8  # scope: tenant; after: created, id
    WEBHOOK_DELIVERIES = 9  # scope: subscription (and status filter); before: created, id
    DRIVERS = 10  # scope: tenant; after: created, id
    RATE_PLANS = 11  # scope: tenant; after: created, id
    STATEMENTS = 12  # scope: tenant (and filters); after: period start (day number), driver id
    STATEMENT_RUNS = 13  # scope: tenant; after: created, id


@dataclass(frozen=True, slots=True)
class PageCursor:
    kind: CursorKind
    scope_id: UUID  # the entity for per-entity lists, the tenant for tenant-wide lists
    frame_start_ms: int
    frame_end_ms: int
    after_sort_ms: int  # sort key (an instant) of the last row already served
    after_id: UUID  # tie-breaker of the last row already served


class InvalidCursorError(ValueError):
    """A continuation token that was not issued by us, was altered, or is malformed."""


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(cursor: PageCursor, keys: TokenKeys) -> str:
    payload = _LAYOUT.pack(
        _VERSION,
        bytes.fromhex(keys.signing_id),
        cursor.kind,
        cursor.scope_id.bytes,
        cursor.frame_start_ms,
        cursor.frame_end_ms,
        cursor.after_sort_ms,
        cursor.after_id.bytes,
    )
    return base64.urlsafe_b64encode(payload + _tag(keys.signing, payload)).rstrip(b"=").decode()


def decode_cursor(token: str, keys: TokenKeys) -> PageCursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursorError(_NOT_OURS) from None
    # Base64 decoding ignores some malformations; re-encoding must give back the same text.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        raise InvalidCursorError(_NOT_OURS)
    if len(raw) == _LAYOUT.size + _MAC_BYTES:
        payload, tag = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        key = keys.verifying.get(payload[1 : 1 + KEY_ID_BYTES].hex())
        # An unknown or retired key is refused like a wrong tag: both mean "not (any more)
        # a token of ours".
        if key is None or not hmac.compare_digest(tag, _tag(key, payload)):
            raise InvalidCursorError(_ALTERED)
        version, _key_id, *fields = _LAYOUT.unpack(payload)
        return _cursor(version == _VERSION, *fields)
    if len(raw) == _LAYOUT_1.size + _MAC_BYTES:
        payload, tag = raw[: _LAYOUT_1.size], raw[_LAYOUT_1.size :]
        if not any(hmac.compare_digest(tag, _tag(key, payload)) for key in keys.without_key_id):
            raise InvalidCursorError(_ALTERED)
        version, *fields = _LAYOUT_1.unpack(payload)
        return _cursor(version == _VERSION_1, *fields)
    raise InvalidCursorError(_NOT_OURS)


def _cursor(
    version_matches: bool,
    kind: int,
    scope: bytes,
    frame_start: int,
    frame_end: int,
    after_sort: int,
    after_id: bytes,
) -> PageCursor:
    if not version_matches or kind not in CursorKind._value2member_map_:
        raise InvalidCursorError("continuationToken is of an unsupported version")
    return PageCursor(
        kind=CursorKind(kind),
        scope_id=UUID(bytes=scope),
        frame_start_ms=frame_start,
        frame_end_ms=frame_end,
        after_sort_ms=after_sort,
        after_id=UUID(bytes=after_id),
    )
