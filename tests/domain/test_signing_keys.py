"""Master keys (chargeledger.domain.signing_keys): which key signs, which verify at an
instant, rotation, the secret an earlier release kept, and the key file's format."""

import hashlib
import hmac
import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain.signing_keys import (
    KeyFileError,
    MasterKey,
    derive_purpose_keys,
    is_key_id,
    key_id_of,
    new_key,
    parse_key_file,
    render_key_file,
    rotated,
    signing_key,
    token_keys,
    with_legacy_key,
)

HOUR_MS = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SECRET_A = "a" * 64
SECRET_B = "b" * 64
SECRET_C = "c" * 64

secrets_text = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    min_size=32,
    max_size=80,
)


def derived_access(keys: tuple[MasterKey, ...]) -> dict[str, bytes]:
    return {key.id: derive_purpose_keys(key.secret).access_token for key in keys}


def test_key_ids_are_8_hex_digits_derived_from_the_secret() -> None:
    assert is_key_id(key_id_of(SECRET_A))
    assert key_id_of(SECRET_A) == key_id_of(SECRET_A)
    assert key_id_of(SECRET_A) != key_id_of(SECRET_B)
    assert SECRET_A[:8] not in key_id_of(SECRET_A)


def test_purposes_derive_different_keys() -> None:
    keys = derive_purpose_keys(SECRET_A)
    assert keys.access_token != keys.continuation_token
    assert derive_purpose_keys(SECRET_B).access_token != keys.access_token


def test_the_derivation_is_the_earlier_releases_so_its_tokens_still_verify() -> None:
    keys = derive_purpose_keys(SECRET_A)
    assert (
        keys.access_token
        == hmac.new(SECRET_A.encode(), b"chargeledger/access-token/v1", hashlib.sha256).digest()
    )
    assert (
        keys.continuation_token
        == hmac.new(
            SECRET_A.encode(), b"chargeledger/continuation-token/v1", hashlib.sha256
        ).digest()
    )


def test_the_newest_key_without_retires_at_signs() -> None:
    old = new_key(secret=SECRET_A, now_ms=T0)
    newer = new_key(secret=SECRET_B, now_ms=T0 + 1)
    retiring = replace(new_key(secret=SECRET_C, now_ms=T0 + 2), retires_ms=T0 + HOUR_MS)
    assert signing_key((old, newer, retiring)) == newer
    with pytest.raises(KeyFileError, match="no key signs"):
        signing_key((retiring,))


def test_rotation_retires_the_signer_after_the_grace_and_drops_retired_keys() -> None:
    first = new_key(secret=SECRET_A, now_ms=T0)
    second = new_key(secret=SECRET_B, now_ms=T0 + 24 * HOUR_MS)
    keys = rotated((first,), new=second, now_ms=T0 + 24 * HOUR_MS, grace_ms=24 * HOUR_MS)
    assert keys == (replace(first, retires_ms=T0 + 48 * HOUR_MS), second)
    assert signing_key(keys) == second

    third = new_key(secret=SECRET_C, now_ms=T0 + 72 * HOUR_MS)
    keys = rotated(keys, new=third, now_ms=T0 + 72 * HOUR_MS, grace_ms=24 * HOUR_MS)
    # The first had retired (at 48 h): dropped. The second retires at 96 h.
    assert keys == (replace(second, retires_ms=T0 + 96 * HOUR_MS), third)


def test_a_rotation_with_no_grace_retires_the_previous_keys_at_once() -> None:
    first = new_key(secret=SECRET_A, now_ms=T0)
    keys = rotated((first,), new=new_key(secret=SECRET_B, now_ms=T0), now_ms=T0, grace_ms=0)
    at_once = token_keys(keys, derived_access(keys), signer=signing_key(keys), now_ms=T0)
    assert set(at_once.verifying) == {key_id_of(SECRET_B)}


def test_a_rotation_never_extends_a_key_that_retires_sooner() -> None:
    leaving = replace(new_key(secret=SECRET_A, now_ms=T0), retires_ms=T0 + HOUR_MS)
    signer = new_key(secret=SECRET_B, now_ms=T0)
    keys = rotated(
        (leaving, signer), new=new_key(secret=SECRET_C, now_ms=T0), now_ms=T0, grace_ms=24 * HOUR_MS
    )
    assert keys[0].retires_ms == T0 + HOUR_MS
    assert keys[1].retires_ms == T0 + 24 * HOUR_MS


def test_a_key_verifies_until_its_retires_at_exclusive() -> None:
    previous = replace(new_key(secret=SECRET_A, now_ms=T0), retires_ms=T0 + HOUR_MS)
    signer = new_key(secret=SECRET_B, now_ms=T0)
    keys = (previous, signer)
    derived = derived_access(keys)
    before = token_keys(keys, derived, signer=signer, now_ms=T0 + HOUR_MS - 1)
    after = token_keys(keys, derived, signer=signer, now_ms=T0 + HOUR_MS)
    assert set(before.verifying) == {previous.id, signer.id}
    assert set(after.verifying) == {signer.id}
    assert before.signing_id == after.signing_id == signer.id
    assert before.signing == derived[signer.id]


def test_only_legacy_keys_verify_tokens_without_a_key_id() -> None:
    legacy = new_key(secret=SECRET_A, now_ms=T0, legacy=True)
    signer = new_key(secret=SECRET_B, now_ms=T0)
    keys = (replace(legacy, retires_ms=T0 + HOUR_MS), signer)
    derived = derived_access(keys)
    assert token_keys(keys, derived, signer=signer, now_ms=T0).without_key_id == (
        derived[legacy.id],
    )
    assert token_keys(keys, derived, signer=signer, now_ms=T0 + HOUR_MS).without_key_id == ()


def test_the_legacy_secret_is_added_once_as_verifying_only() -> None:
    signer = new_key(secret=SECRET_B, now_ms=T0)
    once = with_legacy_key((signer,), legacy_secret=SECRET_A, now_ms=T0, grace_ms=24 * HOUR_MS)
    assert once == (
        signer,
        MasterKey(
            id=key_id_of(SECRET_A),
            secret=SECRET_A,
            created_ms=T0,
            retires_ms=T0 + 24 * HOUR_MS,
            legacy=True,
        ),
    )
    assert with_legacy_key(once, legacy_secret=SECRET_A, now_ms=T0 + 5, grace_ms=1) == once


# ---- the key file's format -------------------------------------------------------------------


def test_the_key_file_is_json_with_a_list_of_keys() -> None:
    signer = new_key(secret=SECRET_B, now_ms=T0)
    previous = replace(new_key(secret=SECRET_A, now_ms=T0 - 1, legacy=True), retires_ms=T0 + 1)
    document = json.loads(render_key_file((previous, signer)))
    assert document == {
        "keys": [
            {
                "id": previous.id,
                "secret": SECRET_A,
                "createdAt": "2025-12-31T23:59:59.999Z",
                "retiresAt": "2026-01-01T00:00:00.001Z",
                "legacy": True,
            },
            {
                "id": signer.id,
                "secret": SECRET_B,
                "createdAt": "2026-01-01T00:00:00Z",
                "retiresAt": None,
            },
        ]
    }


@given(st.lists(secrets_text, min_size=1, max_size=5, unique_by=key_id_of), st.data())
def test_parse_of_render_is_identity(secret_list: list[str], data: st.DataObject) -> None:
    instants = st.integers(min_value=0, max_value=253_402_300_799_999)
    keys = [
        MasterKey(
            id=key_id_of(secret),
            secret=secret,
            created_ms=data.draw(st.none() | instants),
            retires_ms=data.draw(st.none() | instants) if index else None,
            legacy=data.draw(st.booleans()),
        )
        for index, secret in enumerate(secret_list)
    ]
    assert parse_key_file(render_key_file(keys)) == tuple(keys)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not JSON"),
        (b"\xff", "not JSON"),
        (b"[]", 'list "keys"'),
        (b'{"keys": {}}', 'list "keys"'),
        (b'{"keys": [1]}', r"keys\[0\] is not an object"),
        (b'{"keys": [{"id": "XYZ", "secret": "' + b"s" * 40 + b'"}]}', r"keys\[0\]\.id"),
        (b'{"keys": [{"id": "0a1b2c3d", "secret": "short"}]}', r"keys\[0\]\.secret"),
        (
            b'{"keys": [{"id": "0a1b2c3d", "secret": "' + b"s" * 40 + b'", "createdAt": 5}]}',
            r"keys\[0\]\.createdAt",
        ),
        (
            b'{"keys": [{"id": "0a1b2c3d", "secret": "' + b"s" * 40 + b'", "legacy": "yes"}]}',
            r"keys\[0\]\.legacy",
        ),
        (b'{"keys": []}', "no key signs"),
        (
            b'{"keys": [{"id": "0a1b2c3d", "secret": "'
            + b"s" * 40
            + b'"}, {"id": "0a1b2c3d", "secret": "'
            + b"t" * 40
            + b'"}]}',
            "same id",
        ),
    ],
)
def test_an_unusable_key_file_is_refused_naming_the_problem_but_never_a_secret(
    content: bytes, problem: str
) -> None:
    with pytest.raises(KeyFileError, match=problem) as raised:
        parse_key_file(content)
    assert "sss" not in str(raised.value)
    assert "ttt" not in str(raised.value)
