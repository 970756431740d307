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
from chargeledger.domain.signing_keys import TokenKeys

KEY = b"test-cursor-key-0123456789abcdef"
OTHER_KEY = b"test-cursor-key-0123456789abcdeg"
KEY_ID = "0a1b2c3d"
OTHER_KEY_ID = "4e5f6a7b"


def only(key: bytes, key_id: str = KEY_ID) -> TokenKeys:
    """Keys in which `key` signs and is the only one that verifies."""
    return TokenKeys(signing_id=key_id, signing=key, verifying={key_id: key})


KEYS = only(KEY)
OTHER_KEYS = only(OTHER_KEY)
URL_SAFE_ALPHABET = string.ascii_letters + string.digits + "-_"
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# 1 version + 4 key id + 1 kind + 16 scope + 3 * 8 instants + 16 id = 62 bytes, plus a 16-byte
# tag.
TOKEN_BYTES = 78
# 78 bytes are 26 full base64 groups: 104 characters, no padding to strip.
TOKEN_CHARS = 104

EXAMPLE = PageCursor(
    kind=CursorKind.CHARGE_SESSIONS,
    scope_id=UUID("12345678-1234-5678-1234-567812345678"),
    frame_start_ms=1_716_768_000_000,
    frame_end_ms=1_716_854_400_000,
    after_sort_ms=1_716_814_800_000,
    after_id=UUID("87654321-4321-8765-4321-876543218765"),
)
EXAMPLE_TOKEN = encode_cursor(EXAMPLE, KEYS)

cursors = st.builds(
    PageCursor,
    kind=st.sampled_from(CursorKind),
    scope_id=st.uuids(),
    frame_start_ms=INT64,
    frame_end_ms=INT64,
    after_sort_ms=INT64,
    after_id=st.uuids(),
)
keys = st.builds(
    only,
    st.binary(min_size=1, max_size=64),
    st.binary(min_size=4, max_size=4).map(bytes.hex),
)


def raw_of(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def token_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def signed_token(payload: bytes, key: bytes) -> str:
    """A token as a (possibly future or buggy) issuer holding the key would sign it."""
    return token_of(payload + hmac.new(key, payload, hashlib.sha256).digest()[:16])


# ---- round trip and shape ------------------------------------------------------------------


def test_example_token_decodes_to_the_example_cursor() -> None:
    assert decode_cursor(EXAMPLE_TOKEN, KEYS) == EXAMPLE


def test_token_is_104_url_safe_characters_for_78_bytes() -> None:
    assert len(EXAMPLE_TOKEN) == TOKEN_CHARS
    assert len(raw_of(EXAMPLE_TOKEN)) == TOKEN_BYTES


def test_token_lays_out_fields_big_endian_and_signs_them_with_a_truncated_hmac_sha256() -> None:
    """Pins the wire format: tokens already handed to clients must stay decodable. Version 2
    names the signing key by its 4-byte id, right after the version."""
    payload = struct.pack(
        ">B4sB16sqqq16s",
        2,
        bytes.fromhex(KEY_ID),
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
    cursor: PageCursor, key: TokenKeys
) -> None:
    assert decode_cursor(encode_cursor(cursor, key), key) == cursor


@given(cursors, keys)
def test_tokens_are_url_safe_unpadded_and_of_fixed_length(
    cursor: PageCursor, key: TokenKeys
) -> None:
    token = encode_cursor(cursor, key)
    assert re.fullmatch(r"[A-Za-z0-9_-]{104}", token), token
    assert "+" not in token
    assert "/" not in token
    assert "=" not in token


@given(cursors, cursors)
def test_different_cursors_give_different_tokens(first: PageCursor, second: PageCursor) -> None:
    assert (encode_cursor(first, KEYS) == encode_cursor(second, KEYS)) == (first == second)


# ---- tampering -------------------------------------------------------------------------


def outcome(token: str, key: TokenKeys = KEYS) -> str:
    """'refused' for InvalidCursorError; otherwise what happened instead."""
    try:
        decode_cursor(token, key)
    except InvalidCursorError:
        return "refused"
    except Exception as error:
        return f"raised {type(error).__name__}"
    return "accepted"


def test_flipping_any_single_bit_of_the_token_bytes_is_refused() -> None:
    """All 624 bits of the 78 decoded bytes: version, key id, kind, fields and the tag."""
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
    """Each of the 104 positions, with all 63 other URL-safe characters, '+', '/', '=', etc."""
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
    token = encode_cursor(cursor, KEYS)
    assert "_" in token
    standard = token.replace("-", "+").replace("_", "/")
    assert raw_of(standard) == raw_of(token)
    with pytest.raises(InvalidCursorError, match="not a token issued by this API"):
        decode_cursor(standard, KEYS)


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
        decode_cursor(EXAMPLE_TOKEN + suffix, KEYS)


@pytest.mark.parametrize("prefix", ["A", " ", "=", "AAAA"])
def test_prefixing_the_token_is_refused(prefix: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(prefix + EXAMPLE_TOKEN, KEYS)


def test_a_token_decoded_with_another_key_is_refused_as_altered() -> None:
    with pytest.raises(InvalidCursorError, match="altered or not issued by this API"):
        decode_cursor(EXAMPLE_TOKEN, only(OTHER_KEY))


@given(cursors, st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_a_token_only_decodes_with_the_key_it_was_issued_with(
    cursor: PageCursor, key: bytes, other_key: bytes
) -> None:
    """Keys of one length (HMAC zero-pads short keys, so b"k" and b"k\\0" are one key), named
    by the same id: the tag decides."""
    token = encode_cursor(cursor, only(key))
    if other_key == key:
        assert decode_cursor(token, only(other_key)) == cursor
    else:
        with pytest.raises(InvalidCursorError):
            decode_cursor(token, only(other_key))


@given(cursors, st.data())
def test_flipping_a_random_bit_of_a_random_token_is_refused(
    cursor: PageCursor, data: st.DataObject
) -> None:
    raw = bytearray(raw_of(encode_cursor(cursor, KEYS)))
    bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1), label="bit")
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidCursorError):
        decode_cursor(token_of(bytes(raw)), KEYS)


@given(cursors, st.data())
def test_replacing_a_random_character_with_any_other_character_is_refused(
    cursor: PageCursor, data: st.DataObject
) -> None:
    token = encode_cursor(cursor, KEYS)
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1), label="position")
    replacement = data.draw(
        st.characters().filter(lambda char: char != token[position]), label="replacement"
    )
    with pytest.raises(InvalidCursorError):
        decode_cursor(token[:position] + replacement + token[position + 1 :], KEYS)


@given(cursors, st.data())
def test_cutting_or_inserting_text_anywhere_is_refused(
    cursor: PageCursor, data: st.DataObject
) -> None:
    token = encode_cursor(cursor, KEYS)
    start = data.draw(st.integers(min_value=0, max_value=len(token)), label="start")
    end = data.draw(st.integers(min_value=start, max_value=len(token)), label="end")
    inserted = data.draw(st.text(max_size=8), label="inserted")
    altered = token[:start] + inserted + token[end:]
    if altered == token:
        assert decode_cursor(altered, KEYS) == cursor
    else:
        with pytest.raises(InvalidCursorError):
            decode_cursor(altered, KEYS)


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
        "A" * 103 + "=",
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
        decode_cursor(garbage, KEYS)


@given(st.text())
def test_arbitrary_text_is_refused_with_invalid_cursor_error_only(garbage: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(garbage, KEYS)


@given(st.binary(min_size=TOKEN_BYTES, max_size=TOKEN_BYTES))
def test_arbitrary_well_formed_78_byte_tokens_are_refused(raw: bytes) -> None:
    """Right length and alphabet, but no valid tag: as a forger would try."""
    with pytest.raises(InvalidCursorError, match="altered or not issued"):
        decode_cursor(token_of(raw), KEYS)


@given(st.binary(min_size=TOKEN_BYTES - 5, max_size=TOKEN_BYTES - 5))
def test_arbitrary_tokens_naming_a_verifying_key_are_refused(rest: bytes) -> None:
    """Version 2 and the id of a key that verifies, then anything: the tag still decides."""
    with pytest.raises(InvalidCursorError, match="altered or not issued"):
        decode_cursor(token_of(b"\x02" + bytes.fromhex(KEY_ID) + rest), KEYS)


# ---- correctly signed but unsupported content ------------------------------------------------


# The first kind number no list uses (yet).
UNKNOWN_KIND = max(CursorKind) + 1


def v2_payload(version: int, kind: int, key_id: str = KEY_ID) -> bytes:
    return struct.pack(
        ">B4sB16sqqq16s", version, bytes.fromhex(key_id), kind, b"\x01" * 16, 0, 1, 0, b"\x02" * 16
    )


@pytest.mark.parametrize(
    ("version", "kind"), [(0, 1), (1, 1), (3, 1), (255, 1), (2, 0), (2, UNKNOWN_KIND)]
)
def test_signed_tokens_of_another_version_or_unknown_kind_are_refused(
    version: int, kind: int
) -> None:
    with pytest.raises(InvalidCursorError, match="unsupported version"):
        decode_cursor(signed_token(v2_payload(version, kind), KEY), KEYS)


@pytest.mark.parametrize("kind", list(CursorKind))
def test_every_cursor_kind_survives_the_round_trip(kind: CursorKind) -> None:
    assert decode_cursor(signed_token(v2_payload(2, int(kind)), KEY), KEYS) == PageCursor(
        kind=kind,
        scope_id=UUID(bytes=b"\x01" * 16),
        frame_start_ms=0,
        frame_end_ms=1,
        after_sort_ms=0,
        after_id=UUID(bytes=b"\x02" * 16),
    )


def test_invalid_cursor_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="continuationToken"):
        decode_cursor("nope", KEYS)


# ---- key rotation ---------------------------------------------------------------------------

PREVIOUS_KEYS = TokenKeys(
    signing_id=OTHER_KEY_ID,
    signing=OTHER_KEY,
    verifying={OTHER_KEY_ID: OTHER_KEY, KEY_ID: KEY},
)


def test_a_token_signed_with_the_previous_key_verifies_while_that_key_does() -> None:
    assert decode_cursor(EXAMPLE_TOKEN, PREVIOUS_KEYS) == EXAMPLE
    new_token = encode_cursor(EXAMPLE, PREVIOUS_KEYS)
    assert raw_of(new_token)[1:5] == bytes.fromhex(OTHER_KEY_ID)
    assert decode_cursor(new_token, PREVIOUS_KEYS) == EXAMPLE


def test_a_token_of_a_retired_or_unknown_key_is_refused_as_not_ours() -> None:
    retired = TokenKeys(
        signing_id=OTHER_KEY_ID, signing=OTHER_KEY, verifying={OTHER_KEY_ID: OTHER_KEY}
    )
    with pytest.raises(InvalidCursorError, match="altered or not issued by this API"):
        decode_cursor(EXAMPLE_TOKEN, retired)


def test_a_token_naming_another_key_id_than_the_one_that_signed_is_refused() -> None:
    """The tag covers the key id: a token cannot be moved to another key's name."""
    raw = bytearray(raw_of(EXAMPLE_TOKEN))
    raw[1:5] = bytes.fromhex(OTHER_KEY_ID)
    both_verify_with_key = TokenKeys(
        signing_id=KEY_ID, signing=KEY, verifying={KEY_ID: KEY, OTHER_KEY_ID: KEY}
    )
    with pytest.raises(InvalidCursorError, match="altered"):
        decode_cursor(token_of(bytes(raw)), both_verify_with_key)


# ---- version 1 tokens, from before tokens named their key -----------------------------------

V1_PAYLOAD = struct.pack(
    ">BB16sqqq16s",
    1,
    1,
    EXAMPLE.scope_id.bytes,
    EXAMPLE.frame_start_ms,
    EXAMPLE.frame_end_ms,
    EXAMPLE.after_sort_ms,
    EXAMPLE.after_id.bytes,
)
LEGACY_KEY = b"an-earlier-release-s-cursor-key!"
V1_TOKEN = signed_token(V1_PAYLOAD, LEGACY_KEY)
WITH_LEGACY = TokenKeys(
    signing_id=KEY_ID,
    signing=KEY,
    verifying={KEY_ID: KEY, OTHER_KEY_ID: LEGACY_KEY},
    without_key_id=(LEGACY_KEY,),
)


def test_a_version_1_token_verifies_with_a_legacy_key_still_kept() -> None:
    assert len(V1_TOKEN) == 99
    assert decode_cursor(V1_TOKEN, WITH_LEGACY) == EXAMPLE


def test_a_version_1_token_is_refused_once_no_legacy_key_is_kept() -> None:
    """Its key retired (or never was legacy): the usual 400, as for any token not ours."""
    without = TokenKeys(signing_id=KEY_ID, signing=KEY, verifying={OTHER_KEY_ID: LEGACY_KEY})
    with pytest.raises(InvalidCursorError, match="altered or not issued by this API"):
        decode_cursor(V1_TOKEN, without)


def test_a_version_1_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(InvalidCursorError, match="altered or not issued by this API"):
        decode_cursor(signed_token(V1_PAYLOAD, KEY), WITH_LEGACY)


@pytest.mark.parametrize(("version", "kind"), [(0, 1), (2, 1), (255, 1), (1, 0), (1, UNKNOWN_KIND)])
def test_legacy_signed_74_byte_tokens_of_another_version_or_kind_are_refused(
    version: int, kind: int
) -> None:
    payload = struct.pack(">BB16sqqq16s", version, kind, b"\x01" * 16, 0, 1, 0, b"\x02" * 16)
    with pytest.raises(InvalidCursorError, match="unsupported version"):
        decode_cursor(signed_token(payload, LEGACY_KEY), WITH_LEGACY)


def test_flipping_any_bit_of_a_version_1_token_is_refused() -> None:
    raw = raw_of(V1_TOKEN)
    wrong = {}
    for bit in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        result = outcome(token_of(bytes(flipped)), WITH_LEGACY)
        if result != "refused":
            wrong[bit] = result
    assert wrong == {}
