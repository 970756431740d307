"""Signed continuation tokens (chargeledger.domain.cursor)."""

import base64
import hashlib
import hmac
import re
import string
import struct
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain.cursor import (
    CursorKind,
    InvalidCursorError,
    PageCursor,
    decode_cursor,
    encode_cursor,
)

KEY = b"test-cursor-key-0123456789abcdef"
OTHER_KEY = b"test-cursor-key-0123456789abcdeg"
URL_SAFE_ALPHABET = string.ascii_letters + string.digits + "-_"
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# 1 version + 1 kind + 16 scope + 3 * 8 instants + 16 id = 58 bytes, plus a 16-byte tag.
TOKEN_BYTES = 74
# 74 bytes are 24 full base64 groups (96 characters) plus 2 bytes (3 characters), unpadded.
TOKEN_CHARS = 99

EXAMPLE = PageCursor(
    kind=CursorKind.CHARGE_SESSIONS,
    scope_id=UUID("12345678-1234-5678-1234-567812345678"),
    frame_start_ms=1_716_768_000_000,
    frame_end_ms=1_716_854_400_000,
    after_sort_ms=1_716_814_800_000,
    after_id=UUID("87654321-4321-8765-4321-876543218765"),
)
EXAMPLE_TOKEN = encode_cursor(EXAMPLE, KEY)

cursors = st.builds(
    PageCursor,
    kind=st.sampled_from(CursorKind),
    scope_id=st.uuids(),
    frame_start_ms=INT64,
    frame_end_ms=INT64,
    after_sort_ms=INT64,
    after_id=st.uuids(),
)
keys = st.binary(min_size=1, max_size=64)


def raw_of(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def token_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def signed_token(payload: bytes, key: bytes) -> str:
    """A token as a (possibly future or buggy) issuer holding the key would sign it."""
    return token_of(payload + hmac.new(key, payload, hashlib.sha256).digest()[:16])


# ---- round trip and shape ------------------------------------------------------------------


def test_example_token_decodes_to_the_example_cursor() -> None:
    assert decode_cursor(EXAMPLE_TOKEN, KEY) == EXAMPLE


def test_token_is_99_url_safe_characters_for_74_bytes() -> None:
    assert len(EXAMPLE_TOKEN) == TOKEN_CHARS
    assert len(raw_of(EXAMPLE_TOKEN)) == TOKEN_BYTES


def test_token_lays_out_fields_big_endian_and_signs_them_with_a_truncated_hmac_sha256() -> None:
    """Pins the wire format: tokens already handed to clients must stay decodable."""
    payload = struct.pack(
        ">BB16sqqq16s",
        1,
        1,
        EXAMPLE.scope_id.bytes,
        EXAMPLE.frame_start_ms,
        EXAMPLE.frame_end_ms,
        EXAMPLE.after_sort_ms,
        EXAMPLE.after_id.bytes,
    )
    assert signed_token(payload, KEY) == EXAMPLE_TOKEN


@given(cursors, keys)
def test_decode_of_encode_is_identity_for_arbitrary_fields_and_keys(
    cursor: PageCursor, key: bytes
) -> None:
    assert decode_cursor(encode_cursor(cursor, key), key) == cursor


@given(cursors, keys)
def test_tokens_are_url_safe_unpadded_and_of_fixed_length(cursor: PageCursor, key: bytes) -> None:
    token = encode_cursor(cursor, key)
    assert re.fullmatch(r"[A-Za-z0-9_-]{99}", token), token
    assert "+" not in token
    assert "/" not in token
    assert "=" not in token


@given(cursors, cursors)
def test_different_cursors_give_different_tokens(first: PageCursor, second: PageCursor) -> None:
    assert (encode_cursor(first, KEY) == encode_cursor(second, KEY)) == (first == second)


# ---- tampering -------------------------------------------------------------------------


def outcome(token: str, key: bytes = KEY) -> str:
    """'refused' for InvalidCursorError; otherwise what happened instead."""
    try:
        decode_cursor(token, key)
    except InvalidCursorError:
        return "refused"
    except Exception as error:
        return f"raised {type(error).__name__}"
    return "accepted"


def test_flipping_any_single_bit_of_the_token_bytes_is_refused() -> None:
    """All 592 bits of the 74 decoded bytes: version, kind, fields and the tag itself."""
    raw = raw_of(EXAMPLE_TOKEN)
    wrong = {}
    for bit in range(TOKEN_BYTES * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        result = outcome(token_of(bytes(flipped)))
        if result != "refused":
            wrong[bit] = result
    assert wrong == {}


def test_replacing_any_character_with_any_other_character_is_refused() -> None:
    """Each of the 99 positions, with all 63 other URL-safe characters, '+', '/', '=', etc."""
    wrong = {}
    for position, original in enumerate(EXAMPLE_TOKEN):
        for replacement in URL_SAFE_ALPHABET + "+/=.~ é\n":
            if replacement != original:
                token = EXAMPLE_TOKEN[:position] + replacement + EXAMPLE_TOKEN[position + 1 :]
                result = outcome(token)
                if result != "refused":
                    wrong[position, replacement] = result
    assert wrong == {}


def test_the_standard_base64_spelling_of_a_valid_token_is_refused() -> None:
    """'+' and '/' decode to the same bytes as '-' and '_', but are not the issued token."""
    cursor = PageCursor(
        kind=CursorKind.ENTITIES,
        scope_id=UUID(int=2**128 - 1),
        frame_start_ms=-1,
        frame_end_ms=-1,
        after_sort_ms=-1,
        after_id=UUID(int=2**128 - 1),
    )
    token = encode_cursor(cursor, KEY)
    assert "_" in token
    standard = token.replace("-", "+").replace("_", "/")
    assert raw_of(standard) == raw_of(token)
    with pytest.raises(InvalidCursorError, match="not a token issued by this API"):
        decode_cursor(standard, KEY)


def test_every_truncation_of_the_token_is_refused() -> None:
    wrong = {
        length: outcome(EXAMPLE_TOKEN[:length])
        for length in range(TOKEN_CHARS)
        if outcome(EXAMPLE_TOKEN[:length]) != "refused"
    }
    assert wrong == {}


@pytest.mark.parametrize(
    "suffix", ["=", "==", "A", "AA", "AAA", "AAAA", "-", "_", " ", "\n", EXAMPLE_TOKEN]
)
def test_extending_the_token_is_refused(suffix: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(EXAMPLE_TOKEN + suffix, KEY)


@pytest.mark.parametrize("prefix", ["A", " ", "=", "AAAA"])
def test_prefixing_the_token_is_refused(prefix: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(prefix + EXAMPLE_TOKEN, KEY)


def test_a_token_decoded_with_another_key_is_refused_as_altered() -> None:
    with pytest.raises(InvalidCursorError, match="altered or not issued by this API"):
        decode_cursor(EXAMPLE_TOKEN, OTHER_KEY)


@given(cursors, st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_a_token_only_decodes_with_the_key_it_was_issued_with(
    cursor: PageCursor, key: bytes, other_key: bytes
) -> None:
    """Keys of one length (HMAC zero-pads short keys, so b"k" and b"k\\0" are one key)."""
    token = encode_cursor(cursor, key)
    if other_key == key:
        assert decode_cursor(token, other_key) == cursor
    else:
        with pytest.raises(InvalidCursorError):
            decode_cursor(token, other_key)


@given(cursors, st.data())
def test_flipping_a_random_bit_of_a_random_token_is_refused(
    cursor: PageCursor, data: st.DataObject
) -> None:
    raw = bytearray(raw_of(encode_cursor(cursor, KEY)))
    bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1), label="bit")
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidCursorError):
        decode_cursor(token_of(bytes(raw)), KEY)


@given(cursors, st.data())
def test_replacing_a_random_character_with_any_other_character_is_refused(
    cursor: PageCursor, data: st.DataObject
) -> None:
    token = encode_cursor(cursor, KEY)
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1), label="position")
    replacement = data.draw(
        st.characters().filter(lambda char: char != token[position]), label="replacement"
    )
    with pytest.raises(InvalidCursorError):
        decode_cursor(token[:position] + replacement + token[position + 1 :], KEY)


@given(cursors, st.data())
def test_cutting_or_inserting_text_anywhere_is_refused(
    cursor: PageCursor, data: st.DataObject
) -> None:
    token = encode_cursor(cursor, KEY)
    start = data.draw(st.integers(min_value=0, max_value=len(token)), label="start")
    end = data.draw(st.integers(min_value=start, max_value=len(token)), label="end")
    inserted = data.draw(st.text(max_size=8), label="inserted")
    altered = token[:start] + inserted + token[end:]
    if altered == token:
        assert decode_cursor(altered, KEY) == cursor
    else:
        with pytest.raises(InvalidCursorError):
            decode_cursor(altered, KEY)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "=",
        "====",
        "A",
        "null",
        "not-a-token",
        "A" * TOKEN_CHARS,
        "A" * 100,
        "A" * 98 + "=",
        "é" * TOKEN_CHARS,
        "\x00" * TOKEN_CHARS,
        "\ud800",
        "%2B%2F",
        EXAMPLE_TOKEN.upper(),
        EXAMPLE_TOKEN[::-1],
    ],
)
def test_garbage_strings_are_refused_with_invalid_cursor_error(garbage: str) -> None:
    with pytest.raises(InvalidCursorError, match="continuationToken"):
        decode_cursor(garbage, KEY)


@given(st.text())
def test_arbitrary_text_is_refused_with_invalid_cursor_error_only(garbage: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(garbage, KEY)


@given(st.binary(min_size=TOKEN_BYTES, max_size=TOKEN_BYTES))
def test_arbitrary_well_formed_74_byte_tokens_are_refused(raw: bytes) -> None:
    """Right length and alphabet, but no valid tag: as a forger would try."""
    with pytest.raises(InvalidCursorError, match="altered or not issued"):
        decode_cursor(token_of(raw), KEY)


# ---- correctly signed but unsupported content ------------------------------------------------


@pytest.mark.parametrize(("version", "kind"), [(0, 1), (2, 1), (255, 1), (1, 0), (1, 6), (1, 255)])
def test_signed_tokens_of_another_version_or_unknown_kind_are_refused(
    version: int, kind: int
) -> None:
    payload = struct.pack(">BB16sqqq16s", version, kind, b"\x01" * 16, 0, 1, 0, b"\x02" * 16)
    with pytest.raises(InvalidCursorError, match="unsupported version"):
        decode_cursor(signed_token(payload, KEY), KEY)


@pytest.mark.parametrize("kind", list(CursorKind))
def test_every_cursor_kind_survives_the_round_trip(kind: CursorKind) -> None:
    payload = struct.pack(">BB16sqqq16s", 1, int(kind), b"\x01" * 16, 0, 1, 0, b"\x02" * 16)
    assert decode_cursor(signed_token(payload, KEY), KEY) == PageCursor(
        kind=kind,
        scope_id=UUID(bytes=b"\x01" * 16),
        frame_start_ms=0,
        frame_end_ms=1,
        after_sort_ms=0,
        after_id=UUID(bytes=b"\x02" * 16),
    )


def test_invalid_cursor_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="continuationToken"):
        decode_cursor("nope", KEY)
