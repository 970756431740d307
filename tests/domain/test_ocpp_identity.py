"""Where a charger connects (chargeledger.domain.ocpp_identity), and how what it puts in the
path is written to the log (chargeledger.ocpp.charge_points.handshake.loggable)."""

from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain.ocpp_identity import (
    IDENTITY_PATTERN,
    ChargerAddress,
    charger_address,
    charger_path,
    legacy_charger_path,
    tenant_base_path,
)
from chargeledger.ocpp.charge_points.handshake import LOGGED_PATH_CHARACTERS, loggable

TENANT = UUID("0b7c4d2e-9f1a-4c3b-8d5e-6a7b8c9d0e1f")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"{TENANT}/CP-1", ChargerAddress(TENANT, "CP-1")),
        (f"{TENANT}/CP-1/", ChargerAddress(TENANT, "CP-1")),  # typed with a trailing slash
        (f"{TENANT}//CP-1", ChargerAddress(TENANT, "CP-1")),  # appended to a URL ending in /
        (f"/{TENANT}/CP-1", ChargerAddress(TENANT, "CP-1")),
        (f"{str(TENANT).upper()}/CP-1", ChargerAddress(TENANT, "CP-1")),
        ("CP-1", ChargerAddress(None, "CP-1")),  # the legacy path
        ("CP-1/", ChargerAddress(None, "CP-1")),
        ("/CP-1", ChargerAddress(None, "CP-1")),
        ("A*-_=+|@.z", ChargerAddress(None, "A*-_=+|@.z")),  # all of identifierString but ':'
        ("L" * 48, ChargerAddress(None, "L" * 48)),
    ],
)
def test_a_path_names_a_tenant_and_an_identity_or_a_legacy_identity(
    path: str, expected: ChargerAddress
) -> None:
    assert charger_address(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "L" * 49,  # OCPP identities are at most 48 characters
        f"{TENANT}/{'L' * 49}",
        "CP\nfake line",  # a URL-encoded newline, decoded
        "CP\r",
        "CP 1",
        "CP:1",  # HTTP Basic cannot carry it in a user name
        "CP%0A",  # still encoded: '%' is no identity character
        "Zoë",
        f"{TENANT}/CP\n1",
        f"{TENANT}/CP-1/more",
        "not-a-tenant/CP-1",
        f"{TENANT.hex}/CP-1",  # a tenant id in its canonical form only
        f"{{{TENANT}}}/CP-1",
    ],
)
def test_a_path_that_names_no_charger_is_none(path: str) -> None:
    assert charger_address(path) is None


@given(st.text(max_size=120))
def test_any_address_read_from_a_path_holds_an_identity_a_charger_may_have(path: str) -> None:
    address = charger_address(path)
    if address is not None:
        assert IDENTITY_PATTERN.fullmatch(address.identity)


def test_paths_of_a_tenant_and_of_the_legacy_path() -> None:
    assert tenant_base_path(TENANT) == f"/ocpp/{TENANT}"
    assert charger_path(TENANT, "CP-1") == f"/ocpp/{TENANT}/CP-1"
    assert charger_path(TENANT, "A|B") == f"/ocpp/{TENANT}/A%7CB"  # '|' cannot be in a URL
    assert legacy_charger_path("CP-1") == "/ocpp/CP-1"
    assert charger_address(charger_path(TENANT, "CP-1").removeprefix("/ocpp/")) == (
        ChargerAddress(TENANT, "CP-1")
    )


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("CP-1", "CP-1"),
        ("CP\nfake line", "CP\\nfake line"),
        ("CP\r\n2026-01-01 INFO forged", "CP\\r\\n2026-01-01 INFO forged"),
        ("tab\there", "tab\\there"),
        ("del\x7f", "del\\x7f"),
        ("esc\x1b[31m", "esc\\x1b[31m"),
        ("Zoë", "Zo\\xeb"),
        ("line\u2028separator", "line\\u2028separator"),
        ("back\\slash", "back\\\\slash"),
        ("x" * 65, "x" * 64 + "..."),
    ],
)
def test_text_from_a_client_is_logged_escaped_and_cut_short(text: str, logged: str) -> None:
    assert loggable(text) == logged


@given(st.text(max_size=300))
def test_logged_text_is_printable_ascii_and_bounded(text: str) -> None:
    """Whatever a client sends, what reaches the log cannot break a line nor run long."""
    logged = loggable(text)
    assert all(" " <= character <= "~" for character in logged)
    assert len(logged) <= LOGGED_PATH_CHARACTERS * len("\\U0001f600") + len("...")
