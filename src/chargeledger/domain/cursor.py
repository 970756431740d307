"""Continuation tokens: signed keyset cursors.

A token carries everything needed to fetch the next page (which list, which time frame,
and the sort key of the last row served), so any API process can serve any page without
shared state. It is signed with HMAC-SHA256: a client cannot forge or alter one, and a token
issued for one entity, list or time frame is refused for another.
"""

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import IntEnum
from uuid import UUID

_VERSION = 1
# version, kind, scope id, frame start, frame end, last sort key, last id
_LAYOUT = struct.Struct(">BB16sqqq16s")
_MAC_BYTES = 16  # 128-bit tag: forging one is as hard as guessing a random UUID, squared


class CursorKind(IntEnum):
    CHARGE_SESSIONS = 1
    ENTITIES = 2
    READINGS = 3
    LOCATIONS = 4
    OCPP_EVENTS = 5


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


def encode_cursor(cursor: PageCursor, key: bytes) -> str:
    payload = _LAYOUT.pack(
        _VERSION,
        cursor.kind,
        cursor.scope_id.bytes,
        cursor.frame_start_ms,
        cursor.frame_end_ms,
        cursor.after_sort_ms,
        cursor.after_id.bytes,
    )
    tag = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(payload + tag).rstrip(b"=").decode("ascii")


def decode_cursor(token: str, key: bytes) -> PageCursor:
    expected_length = _LAYOUT.size + _MAC_BYTES
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursorError("continuationToken is not a token issued by this API") from None
    # Base64 decoding ignores some malformations; re-encoding must give back the same text.
    if len(raw) != expected_length or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        raise InvalidCursorError("continuationToken is not a token issued by this API")
    payload, tag = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    expected_tag = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(tag, expected_tag):
        raise InvalidCursorError("continuationToken was altered or not issued by this API")
    version, kind, scope, frame_start, frame_end, after_sort, after_id = _LAYOUT.unpack(payload)
    if version != _VERSION or kind not in CursorKind._value2member_map_:
        raise InvalidCursorError("continuationToken is of an unsupported version")
    return PageCursor(
        kind=CursorKind(kind),
        scope_id=UUID(bytes=scope),
        frame_start_ms=frame_start,
        frame_end_ms=frame_end,
        after_sort_ms=after_sort,
        after_id=UUID(bytes=after_id),
    )
