"""Signed meter values in OCMF: parsing and signature checks (chargeledger.domain.ocmf)."""

import base64
import calendar
import json
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chargeledger.domain.ocmf import (
    InvalidOcmfError,
    InvalidPublicKeyError,
    OcmfDocument,
    Verification,
    decode_signed_meter_data,
    load_public_key,
    parse_ocmf,
    public_key_text,
    verify_ocmf,
)
from tests.support.ocmf_examples import KEBA_OCMF, KEBA_PUBLIC_KEY

PROPERTY_SETTINGS = settings(deadline=None)  # signing with fresh keys has uneven timings

# --- Public examples -----------------------------------------------------------------------
# KEBA_OCMF and KEBA_PUBLIC_KEY: tests/support/ocmf_examples.py (where they come from).

# Same repository and commit, src/test/resources/xml/brainpoolP256r1.xml (first value): an
# NZR EcoCount SL meter, signed on brainpoolP256r1, readings in Wh.
NZR_OCMF = (
    'OCMF|{"FV":"1.0","GI":"NZR GATEWAY","GS":"21751020","GV":"1.0.0.0","PG":"T274",'
    '"MV":"NZR","MM":"EcoCount SL","MS":"12345678","MF":"1.11","IS":false,"IL":"NONE",'
    '"IF":[],"IT":"NONE","ID":"","CT":"","CI":"","RD":[{"TM":"2021-10-26T11:15:09,000+0000 S",'
    '"TX":"B","RV":1833,"RI":"1-0:1.8.1","RU":"Wh","RT":"AC","EF":"","ST":"G"}]}|{"SD":"30'
    "4402202CC410E10CD9141394AE77B3DC17A523C359F65B0117C098703DF1F2AB773A3302204C6CC011FE49"
    '20F87CF413F6FB94EDD78DAA26BB5DB4048DA9B3D3AB513CC23C","SA":"ECDSA-brainpoolP256r1-SHA256"}'
)
NZR_PUBLIC_KEY = (
    "305A301406072A8648CE3D020106092B240303020801010703420004607201339EF7C61EB1270C0BEA6755"
    "85711CB160835F0F55975A311EA6F14AE98981A9276ABC6C70ADA4F8CE25A5502336C738B9E86FB1ED6215"
    "0FF1B0FAD5A2"
)

# Same repository and commit, src/test/resources/xml/test_ocmf_transaction_two_values.xml:
# signed on secp192k1, a curve the cryptography package does not have.
SECP192K1_OCMF = (
    'OCMF|{"FV":"1.0","GI":"HTB","GS":"HTBSerial","GV":"0.0.1","PG":"T12345","MV":"HTB",'
    '"MM":"HTB","MS":"HTBGenerated1","MF":"1.0","IS":true,"IL":"VERIFIED","IF":["RFID_PLAIN",'
    '"OCPP_RS_TLS"],"IT":"ISO14443","ID":"8D2E2D536DCFD0","CI":"HTB","CT":"CBIDC","RD":[{"TM":'
    '"2019-04-02T17:28:45,867+0200 S","TX":"B","RV":3.51824,"RI":"1-b:1.8.e","RU":"kWh",'
    '"EI":1523,"ST":"G"},{"TM":"2019-04-02T17:28:45,867+0200 S","TX":"X","RV":7.01047,'
    '"RI":"1-b:1.8.e","RU":"kWh","EI":1523,"ST":"G"}]}|{"SA":"ECDSA-secp192k1-SHA256","SD":'
    '"303402185A5E62A58B45C10C37166B7E43D26296D79C450DF30C2FA4021822099CFAEB793D9246FAE130C9'
    '3964B43FC4C5F2CF1732E1"}'
)
SECP192K1_PUBLIC_KEY = (
    "30 46 30 10 06 07 2A 86 48 CE 3D 02 01 06 05 2B 81 04 00 1F 03 32 00 04 C2 00 65 42 21"
    " 8B B2 7F 5E 0B 94 5C 5F 9D 15 88 67 B6 66 B3 BB 44 14 AB C6 56 94 89 A8 F7 98 50 20 C7"
    " 7F 0F 32 A4 B4 E1 83 A3 05 61 27 C3 48 69"
)

# The algorithms of the OCMF spec's table 22 that the cryptography package can check.
CURVES: dict[str, ec.EllipticCurve] = {
    "ECDSA-secp192r1-SHA256": ec.SECP192R1(),
    "ECDSA-secp256k1-SHA256": ec.SECP256K1(),
    "ECDSA-secp256r1-SHA256": ec.SECP256R1(),
    "ECDSA-secp384r1-SHA256": ec.SECP384R1(),
    "ECDSA-brainpool256r1-SHA256": ec.BrainpoolP256R1(),
    "ECDSA-brainpool384r1-SHA256": ec.BrainpoolP384R1(),
}


@cache
def private_key(algorithm: str, which: int = 0) -> ec.EllipticCurvePrivateKey:
    """One key per curve (and `which`) for the whole run: generating them is the slow part."""
    return ec.generate_private_key(CURVES[algorithm])


def utc_ms(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    return calendar.timegm((year, month, day, hour, minute, second)) * 1000


def signed_ocmf(
    payload_text: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    algorithm: str | None = None,
    encoding: str | None = None,
) -> str:
    """An OCMF record signed the way a meter does: ECDSA with SHA-256 over the payload text."""
    signature = key.sign(payload_text.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    section: dict[str, str] = {}
    if algorithm is not None:
        section["SA"] = algorithm
    if encoding is not None:
        section["SE"] = encoding
    section["SD"] = (
        base64.b64encode(signature).decode() if encoding == "base64" else signature.hex().upper()
    )
    return f"OCMF|{payload_text}|{json.dumps(section)}"


def payload_of(text: str) -> str:
    return text.split("|")[1]


def with_payload(text: str, payload_text: str) -> str:
    header, _, signature = text.split("|")
    return f"{header}|{payload_text}|{signature}"


# --- The public KEBA KCP30 example ---------------------------------------------------------


def test_public_keba_example_parses_to_its_meter_data() -> None:
    document = parse_ocmf(KEBA_OCMF)

    assert document.text == KEBA_OCMF
    assert document.payload_text == payload_of(KEBA_OCMF)
    assert document.format_version == "1.0"
    assert document.gateway_id == "KEBA_KCP30"
    assert document.gateway_serial == "17619300"
    assert document.gateway_version == "2.8.5"
    assert document.pagination == "T32"
    assert document.meter_serial is None  # the KCP30 identifies itself by its gateway serial
    assert document.identification_status is False
    assert document.identification_level == "NONE"
    assert document.identification_type == "NONE"
    assert document.identification_data == ""
    assert document.signature_algorithm == "ECDSA-secp256r1-SHA256"  # the spec's default
    assert document.signature_encoding == "hex"
    assert document.signature_mime == "application/x-der"
    assert document.signature[:2] == bytes.fromhex("3045")  # a DER SEQUENCE of r and s

    begin, end = document.readings
    assert begin.time_ms == utc_ms(2019, 8, 13, 10, 3, 15)
    assert begin.time_status == "I"
    assert begin.transaction == "B"
    assert str(begin.value) == "0.2596"
    assert begin.unit == "kWh"
    assert begin.identifier == "1-b:1.8.0"
    assert begin.status == "G"
    assert end.time_ms == utc_ms(2019, 8, 13, 10, 3, 36)
    assert end.time_status == "R"
    assert end.transaction == "E"
    assert end.value == Decimal("0.2597")
    assert end.energy_kwh == Decimal("0.2597")


def test_public_keba_example_verifies_with_its_published_key() -> None:
    key = load_public_key(KEBA_PUBLIC_KEY)

    assert verify_ocmf(parse_ocmf(KEBA_OCMF), key) is Verification.VERIFIED
    assert public_key_text(key) == KEBA_PUBLIC_KEY


def test_public_keba_example_fails_under_another_key_on_the_same_curve() -> None:
    other = private_key("ECDSA-secp256r1-SHA256").public_key()

    assert verify_ocmf(parse_ocmf(KEBA_OCMF), other) is Verification.BAD_SIGNATURE


def test_public_keba_example_fails_when_its_end_reading_is_changed_by_one_digit() -> None:
    tampered = KEBA_OCMF.replace('"RV":0.2597', '"RV":0.2598')
    assert tampered != KEBA_OCMF

    document = parse_ocmf(tampered)

    assert document.readings[1].value == Decimal("0.2598")
    assert verify_ocmf(document, load_public_key(KEBA_PUBLIC_KEY)) is Verification.BAD_SIGNATURE


@PROPERTY_SETTINGS
@given(data=st.data())
def test_public_keba_example_fails_with_any_one_payload_character_replaced(
    data: st.DataObject,
) -> None:
    """Even a change parsing cannot see (whitespace, a key's order) breaks the signature:
    what is signed is the payload text, byte for byte."""
    payload = payload_of(KEBA_OCMF)
    index = data.draw(st.integers(0, len(payload) - 1))
    replacement = data.draw(st.characters(codec="utf-8", exclude_characters="|"))
    assume(replacement != payload[index])
    try:
        document = parse_ocmf(
            with_payload(KEBA_OCMF, payload[:index] + replacement + payload[index + 1 :])
        )
    except InvalidOcmfError:
        return
    assert verify_ocmf(document, load_public_key(KEBA_PUBLIC_KEY)) is Verification.BAD_SIGNATURE


def test_public_keba_example_under_a_key_on_another_curve_is_a_wrong_curve() -> None:
    brainpool = private_key("ECDSA-brainpool256r1-SHA256").public_key()

    assert verify_ocmf(parse_ocmf(KEBA_OCMF), brainpool) is Verification.WRONG_CURVE


# --- Other public examples -----------------------------------------------------------------


def test_public_nzr_brainpool_example_verifies_and_reads_in_wh() -> None:
    """SA spelled as RFC 5639 names the curve ("brainpoolP256r1"), not as the spec's table."""
    document = parse_ocmf(NZR_OCMF)

    assert document.signature_algorithm == "ECDSA-brainpoolP256r1-SHA256"
    assert document.meter_vendor == "NZR"
    assert document.meter_model == "EcoCount SL"
    assert document.meter_serial == "12345678"
    assert document.meter_firmware == "1.11"
    assert document.pagination == "T274"
    (reading,) = document.readings
    assert reading.value == Decimal("1833")
    assert reading.unit == "Wh"
    assert reading.energy_kwh == Decimal("1.833")
    assert reading.time_ms == utc_ms(2021, 10, 26, 11, 15, 9)
    assert reading.time_status == "S"
    assert verify_ocmf(document, load_public_key(NZR_PUBLIC_KEY)) is Verification.VERIFIED
    assert verify_ocmf(document, load_public_key(KEBA_PUBLIC_KEY)) is Verification.WRONG_CURVE


def test_public_secp192k1_example_parses_but_cannot_be_checked() -> None:
    """The cryptography package has no secp192k1: neither its key nor its records can be used,
    and that is said as unsupported, never as a bad signature."""
    document = parse_ocmf(SECP192K1_OCMF)

    assert document.meter_serial == "HTBGenerated1"
    assert document.identification_data == "8D2E2D536DCFD0"
    assert document.readings[0].time_ms == utc_ms(2019, 4, 2, 15, 28, 45) + 867
    assert [r.transaction for r in document.readings] == ["B", "X"]
    any_key = private_key("ECDSA-secp256r1-SHA256").public_key()
    assert verify_ocmf(document, any_key) is Verification.UNSUPPORTED_ALGORITHM
    with pytest.raises(InvalidPublicKeyError, match="not supported"):
        load_public_key(SECP192K1_PUBLIC_KEY)


# --- Round trips on every curve ------------------------------------------------------------

# Text a meter could put in a field: anything JSON can carry except the section separator.
field_text = st.text(st.characters(codec="utf-8", exclude_characters="|"), max_size=20)
reading_values = st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str) | (
    st.integers(-(10**30), 10**30).map(str)
)


@st.composite
def payloads(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[str]]:
    """Payload text as a meter might write it, its fields, and each RV's exact text."""
    fields: dict[str, Any] = {"PG": draw(st.from_regex(r"[TF][1-9][0-9]{0,6}", fullmatch=True))}
    for key in ("FV", "GI", "GS", "GV", "MV", "MM", "MS", "MF", "IL", "IT", "ID"):
        if draw(st.booleans()):
            fields[key] = draw(field_text)
    if draw(st.booleans()):
        fields["IS"] = draw(st.booleans())
    values = draw(st.lists(reading_values, min_size=1, max_size=4))
    fields["RD"] = [
        {
            "TM": "2024-05-27T13:00:00,000+0200 S",
            "TX": draw(st.sampled_from("BCXELRAPST")),
            "RV": f"@{index}@",  # replaced below by the number written as-is
            "RI": "1-b:1.8.0",
            "RU": draw(st.sampled_from(["kWh", "Wh"])),
            "ST": "G",
        }
        for index in range(len(values))
    ]
    indent = draw(st.sampled_from([None, 0, 2]))
    text = json.dumps(fields, indent=indent, ensure_ascii=draw(st.booleans()))
    for index, value in enumerate(values):
        text = text.replace(f'"@{index}@"', value)
    return text, fields, values


@PROPERTY_SETTINGS
@given(
    payload=payloads(),
    algorithm=st.sampled_from(sorted(CURVES)),
    encoding=st.sampled_from([None, "hex", "base64"]),
)
def test_records_signed_on_each_curve_verify_and_parse_back(
    payload: tuple[str, dict[str, Any], list[str]], algorithm: str, encoding: str | None
) -> None:
    payload_text, fields, values = payload
    text = signed_ocmf(payload_text, private_key(algorithm), algorithm=algorithm, encoding=encoding)

    document = parse_ocmf(text)

    assert verify_ocmf(document, private_key(algorithm).public_key()) is Verification.VERIFIED
    assert document.payload_text == payload_text
    assert document.signature_algorithm == algorithm
    assert document.signature_encoding == (encoding or "hex")
    assert document.pagination == fields["PG"]
    assert document.meter_serial == fields.get("MS")
    assert document.identification_data == fields.get("ID")
    assert document.identification_status == fields.get("IS")
    assert [str(r.value) for r in document.readings] == values  # exactly as written
    assert [r.unit for r in document.readings] == [r["RU"] for r in fields["RD"]]


@PROPERTY_SETTINGS
@given(
    payload=payloads(),
    algorithm=st.sampled_from(sorted(CURVES)),
    other=st.sampled_from(sorted(CURVES)),
)
def test_records_checked_with_a_key_on_another_curve_are_a_wrong_curve(
    payload: tuple[str, dict[str, Any], list[str]], algorithm: str, other: str
) -> None:
    assume(CURVES[other].name != CURVES[algorithm].name)
    document = parse_ocmf(signed_ocmf(payload[0], private_key(algorithm), algorithm=algorithm))

    assert verify_ocmf(document, private_key(other).public_key()) is Verification.WRONG_CURVE


@pytest.mark.parametrize("algorithm", sorted(CURVES))
def test_records_checked_with_another_key_on_the_same_curve_have_a_bad_signature(
    algorithm: str,
) -> None:
    document = parse_ocmf(
        signed_ocmf(payload_of(KEBA_OCMF), private_key(algorithm), algorithm=algorithm)
    )

    wrong_key = private_key(algorithm, which=1).public_key()
    assert verify_ocmf(document, wrong_key) is Verification.BAD_SIGNATURE


def test_a_record_without_sa_is_checked_as_secp256r1() -> None:
    key = private_key("ECDSA-secp256r1-SHA256")
    document = parse_ocmf(signed_ocmf(payload_of(KEBA_OCMF), key))

    assert document.signature_algorithm == "ECDSA-secp256r1-SHA256"
    assert verify_ocmf(document, key.public_key()) is Verification.VERIFIED
    k1 = private_key("ECDSA-secp256k1-SHA256").public_key()
    assert verify_ocmf(document, k1) is Verification.WRONG_CURVE


@pytest.mark.parametrize(
    "signature_section",
    [
        '{"SA":"ECDSA-secp192k1-SHA256","SD":"00"}',  # in the spec; cryptography lacks it
        '{"SA":"RSA-2048-SHA256","SD":"00"}',
        '{"SA":"ECDSA-secp256r1-SHA512","SD":"00"}',
        '{"SA":"ECDSA-secp521r1-SHA256","SD":"00"}',  # not in the spec
        '{"SM":"application/x-raw","SD":"00"}',  # only DER is defined
    ],
)
def test_signatures_in_algorithms_we_cannot_check_are_unsupported(signature_section: str) -> None:
    document = parse_ocmf(f"OCMF|{payload_of(KEBA_OCMF)}|{signature_section}")

    key = load_public_key(KEBA_PUBLIC_KEY)
    assert verify_ocmf(document, key) is Verification.UNSUPPORTED_ALGORITHM


# --- Parsing details -----------------------------------------------------------------------


def test_hex_and_base64_signature_encodings_decode_to_the_same_bytes() -> None:
    signature = parse_ocmf(KEBA_OCMF).signature
    as_base64 = f'{{"SE":"base64","SD":"{base64.b64encode(signature).decode()}"}}'
    lower_hex = f'{{"SE":"hex","SD":"{signature.hex()}"}}'

    for section in (as_base64, lower_hex):
        document = parse_ocmf(f"OCMF|{payload_of(KEBA_OCMF)}|{section}")
        assert document.signature == signature
        assert verify_ocmf(document, load_public_key(KEBA_PUBLIC_KEY)) is Verification.VERIFIED


def reading_with_time(time_text: str) -> str:
    return f'OCMF|{{"PG":"T1","RD":[{{"TM":"{time_text}","RV":1,"RU":"kWh"}}]}}|{{"SD":"00"}}'


# 2018-07-24T11:22:04Z: the spec's example time, 13:22:04 at +0200.
SPEC_EXAMPLE_MS = 1_532_431_324_000


@pytest.mark.parametrize(
    ("time_text", "time_ms", "status"),
    [
        ("2018-07-24T13:22:04,000+0200 S", SPEC_EXAMPLE_MS, "S"),  # the spec's own form
        ("2018-07-24T13:22:04.000+0200 S", SPEC_EXAMPLE_MS, "S"),  # a point, as some meters
        ("2018-07-24T13:22:04,123+0200 U", SPEC_EXAMPLE_MS + 123, "U"),
        ("2018-07-24T13:22:04,000+0200", SPEC_EXAMPLE_MS, None),  # no status letter
        ("2018-07-24T13:22:04.5+0200 I", SPEC_EXAMPLE_MS + 500, "I"),
        ("2018-07-24T13:22:04,9999+0200 R", SPEC_EXAMPLE_MS + 999, "R"),  # truncated, not rounded
        ("2018-07-24T13:22:04+02:00 S", SPEC_EXAMPLE_MS, "S"),
        ("2018-07-24T11:22:04,000Z", SPEC_EXAMPLE_MS, None),
        ("2018-07-24T06:52:04,000-0430 S", SPEC_EXAMPLE_MS, "S"),
        ("yesterday S", None, "S"),  # an unreadable time keeps its status letter
        ("2018-13-24T13:22:04,000+0200 S", None, "S"),  # month 13
        ("2018-07-24T13:22:04,000+2400 S", None, "S"),  # an offset of a whole day
        ("2018-07-24T13:22:04,000+0260 S", None, "S"),
        ("2018-07-24T13:22:04,000 S", None, "S"),  # no offset: the instant is unknown
        ("", None, None),
    ],
)
def test_reading_times_in_the_forms_meters_send(
    time_text: str, time_ms: int | None, status: str | None
) -> None:
    (reading,) = parse_ocmf(reading_with_time(time_text)).readings

    assert reading.time_ms == time_ms
    assert reading.time_status == status


def test_a_minimal_record_takes_the_spec_defaults_for_everything_left_out() -> None:
    document = parse_ocmf('OCMF|{"RD":[{"RV":2935.600,"RU":"kWh"}]}|{"SD":"3000"}')

    assert document.format_version is None
    assert document.gateway_id is None
    assert document.gateway_serial is None
    assert document.gateway_version is None
    assert document.pagination is None
    assert document.meter_vendor is None
    assert document.meter_model is None
    assert document.meter_serial is None
    assert document.meter_firmware is None
    assert document.identification_status is None
    assert document.identification_level is None
    assert document.identification_type is None
    assert document.identification_data is None
    assert document.signature_algorithm == "ECDSA-secp256r1-SHA256"
    assert document.signature_encoding == "hex"
    assert document.signature_mime == "application/x-der"
    assert document.signature == b"\x30\x00"
    (reading,) = document.readings
    assert reading.time_ms is None
    assert reading.time_status is None
    assert reading.transaction is None
    assert reading.identifier is None
    assert reading.status is None
    assert str(reading.value) == "2935.600"  # the written precision is kept


def test_readings_take_the_fields_they_leave_out_from_the_reading_before() -> None:
    """The spec omits fields equal to the previous reading's, e.g. RI and RU after the first."""
    text = (
        'OCMF|{"PG":"T7","RD":['
        '{"TM":"2024-05-27T13:00:00,000+0200 S","TX":"B","RV":10,"RI":"1-b:1.8.0","RU":"kWh",'
        '"ST":"G"},{"TX":"C","RV":11},{"RV":12},{"TM":"2024-05-27T14:00:00,000+0200 S",'
        '"TX":"E","RV":13}]}|{"SD":"00"}'
    )

    readings = parse_ocmf(text).readings

    assert [r.transaction for r in readings] == ["B", "C", "C", "E"]
    assert [r.value for r in readings] == [Decimal(10), Decimal(11), Decimal(12), Decimal(13)]
    assert {(r.unit, r.identifier, r.status) for r in readings} == {("kWh", "1-b:1.8.0", "G")}
    assert [r.time_ms for r in readings][-2:] == [
        utc_ms(2024, 5, 27, 11, 0, 0),
        utc_ms(2024, 5, 27, 12, 0, 0),
    ]


@pytest.mark.parametrize(
    ("rv", "unit", "kwh"),
    [
        ("2935.600", "kWh", "2935.600"),
        ("1833", "Wh", "1.833"),
        ("7753.5", "Wh", "7.7535"),
        # More digits than Decimal's default 28-digit context: still exact.
        ("123456789012345678901234567890.123", "Wh", "123456789012345678901234567.890123"),
        ("0", "Wh", "0.000"),
        ("1.5E+3", "Wh", "1.5"),
        ("12", "mOhm", None),  # cable resistance: not energy
    ],
)
def test_energy_in_kwh_from_wh_and_kwh_readings(rv: str, unit: str, kwh: str | None) -> None:
    text = f'OCMF|{{"RD":[{{"RV":{rv},"RU":"{unit}"}}]}}|{{"SD":"00"}}'
    (reading,) = parse_ocmf(text).readings

    assert reading.unit == unit
    assert str(reading.value) == str(Decimal(rv))
    if kwh is None:
        assert reading.energy_kwh is None
    else:
        assert reading.energy_kwh == Decimal(kwh)
        assert str(reading.energy_kwh) == str(Decimal(kwh))


@pytest.mark.parametrize(
    ("rv_json", "value"),
    [('"1.0"', "1.0"), ('"       3.988"', "3.988"), ('"00000000.000"', "0.000")],
)
def test_rv_sent_as_a_numeric_string_is_read_as_its_number(rv_json: str, value: str) -> None:
    """Several meters in the transparency software's test data send RV as a padded string."""
    text = f'OCMF|{{"RD":[{{"RV":{rv_json},"RU":"kWh"}}]}}|{{"SD":"00"}}'

    assert str(parse_ocmf(text).readings[0].value) == value


def test_whitespace_around_the_record_and_inside_the_sections_is_allowed() -> None:
    payload = '\n  {"PG" : "T1",\n   "RD" : [ {"RV" : 1, "RU" : "kWh"} ]}\n'
    key = private_key("ECDSA-secp256r1-SHA256")
    text = signed_ocmf(payload, key)

    document = parse_ocmf("\n " + text + " \n")

    assert document.payload_text == payload
    assert verify_ocmf(document, key.public_key()) is Verification.VERIFIED


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "three sections"),
        ("OCMF", "three sections"),
        ("OCMF|{}|{}|{}", "three sections"),
        ('XCMF|{"RD":[{"RV":1,"RU":"kWh"}]}|{"SD":"00"}', "header"),
        ('OCMF|{"RD":[{"RV":1,"RU":"kWh"}]|{"SD":"00"}', "payload section is not valid JSON"),
        ('OCMF|[1]|{"SD":"00"}', "payload section is not a JSON object"),
        ('OCMF|{"RD":[{"RV":1,"RU":"kWh"}]}|"00"', "signature section is not a JSON object"),
        ('OCMF|{"RD":[{"RV":1,"RU":"kWh"}]}|{}', "no signature data"),
        ('OCMF|{"RD":[{"RV":1,"RU":"kWh"}]}|{"SD":"0"}', "SD is not valid hex"),
        ('OCMF|{"RD":[{"RV":1,"RU":"kWh"}]}|{"SE":"base64","SD":"%%"}', "SD is not valid base64"),
        ('OCMF|{"RD":[{"RV":1,"RU":"kWh"}]}|{"SE":"base32","SD":"00"}', "unknown signature"),
        ('OCMF|{"RD":[{"RV":1,"RU":"kWh"}]}|{"SD":12}', "SD must be a string"),
        ('OCMF|{"PG":"T1"}|{"SD":"00"}', "no readings"),
        ('OCMF|{"RD":[]}|{"SD":"00"}', "no readings"),
        ('OCMF|{"RD":[1]}|{"SD":"00"}', "reading 0 in RD is not a JSON object"),
        ('OCMF|{"RD":[{"RU":"kWh"}]}|{"SD":"00"}', "no reading value"),
        ('OCMF|{"RD":[{"RV":1}]}|{"SD":"00"}', "no unit"),
        ('OCMF|{"RD":[{"RV":"ten","RU":"kWh"}]}|{"SD":"00"}', "RV must be a number"),
        ('OCMF|{"RD":[{"RV":NaN,"RU":"kWh"}]}|{"SD":"00"}', "not valid JSON"),
        ('OCMF|{"RD":[{"RV":true,"RU":"kWh"}]}|{"SD":"00"}', "RV must be a number"),
        ('OCMF|{"MS":12,"RD":[{"RV":1,"RU":"kWh"}]}|{"SD":"00"}', "MS must be a string"),
        ('OCMF|{"IS":"yes","RD":[{"RV":1,"RU":"kWh"}]}|{"SD":"00"}', "IS must be true or false"),
        ('OCMF|{"RD":[{"RV":1,"RU":"kWh"}],"ID":"\ud800"}|{"SD":"00"}', "not valid Unicode"),
        ("OCMF|" + "[" * 100_000 + "|{}", "not valid JSON"),
    ],
)
def test_texts_that_are_not_ocmf_are_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(InvalidOcmfError, match=message):
        parse_ocmf(text)


# --- OCPP 2.0.1 signedMeterData ------------------------------------------------------------


def test_ocpp_201_signed_meter_data_in_base64_decodes_to_the_ocmf_text() -> None:
    signed_meter_data = base64.b64encode(KEBA_OCMF.encode()).decode()

    text = decode_signed_meter_data(signed_meter_data)

    assert text == KEBA_OCMF
    assert verify_ocmf(parse_ocmf(text), load_public_key(KEBA_PUBLIC_KEY)) is Verification.VERIFIED


def test_ocpp_201_signed_meter_data_wrapped_over_lines_or_sent_plain_is_read_too() -> None:
    encoded = base64.encodebytes(KEBA_OCMF.encode()).decode()  # 76-character lines

    assert decode_signed_meter_data(encoded) == KEBA_OCMF
    assert decode_signed_meter_data(KEBA_OCMF) == KEBA_OCMF
    assert decode_signed_meter_data(f"  {KEBA_OCMF}\n") == KEBA_OCMF


@pytest.mark.parametrize(
    "signed_meter_data",
    [
        "",
        "not base64 at all!",
        base64.b64encode(b"EDL40 something else").decode(),
        base64.b64encode(b"\xff\xfe\x00").decode(),
    ],
)
def test_ocpp_201_signed_meter_data_that_is_not_ocmf_is_refused(signed_meter_data: str) -> None:
    with pytest.raises(InvalidOcmfError, match="neither OCMF text nor base64"):
        decode_signed_meter_data(signed_meter_data)


# --- Public key text -----------------------------------------------------------------------


def pem_of(hex_der: str) -> str:
    der = bytes.fromhex(hex_der)
    key = serialization.load_der_public_key(der)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.mark.parametrize(
    "key_text",
    [
        KEBA_PUBLIC_KEY,
        KEBA_PUBLIC_KEY.lower(),
        " ".join(KEBA_PUBLIC_KEY[i : i + 4] for i in range(0, len(KEBA_PUBLIC_KEY), 4)),
        ":".join(KEBA_PUBLIC_KEY[i : i + 2] for i in range(0, len(KEBA_PUBLIC_KEY), 2)).lower(),
        "\n".join(KEBA_PUBLIC_KEY[i : i + 32] for i in range(0, len(KEBA_PUBLIC_KEY), 32)),
        base64.b64encode(bytes.fromhex(KEBA_PUBLIC_KEY)).decode(),
        pem_of(KEBA_PUBLIC_KEY),
        "\n" + pem_of(KEBA_PUBLIC_KEY) + "\n",
    ],
    ids=["hex", "lowercase", "spaces", "colons", "lines", "base64", "pem", "pem-padded"],
)
def test_public_keys_are_read_in_every_form_chargers_and_documents_show(key_text: str) -> None:
    key = load_public_key(key_text)

    assert public_key_text(key) == KEBA_PUBLIC_KEY
    assert verify_ocmf(parse_ocmf(KEBA_OCMF), key) is Verification.VERIFIED


@pytest.mark.parametrize("algorithm", sorted(CURVES))
def test_public_key_text_reads_back_as_the_same_key(algorithm: str) -> None:
    key = private_key(algorithm).public_key()

    text = public_key_text(key)

    assert text == text.upper()
    assert load_public_key(text) == key


def test_a_key_that_is_not_elliptic_curve_is_refused() -> None:
    # An Ed25519 key: DER SubjectPublicKeyInfo, but not ECDSA.
    ed25519 = "302A300506032B6570032100" + "11" * 32

    with pytest.raises(InvalidPublicKeyError, match="not an elliptic-curve key"):
        load_public_key(ed25519)


@pytest.mark.parametrize(
    ("key_text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("this is not a key", "neither PEM, nor hex, nor base64"),
        ("3059", "could not be read"),  # hex, but cut short
        (KEBA_PUBLIC_KEY[:-2] + "00", "could not be read"),  # a point not on the curve
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "could not be read"),
        (SECP192K1_PUBLIC_KEY, "not supported"),
    ],
)
def test_texts_that_are_not_public_keys_are_refused_saying_why(key_text: str, message: str) -> None:
    with pytest.raises(InvalidPublicKeyError, match=message):
        load_public_key(key_text)


# --- Robustness ----------------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=()))  # lone surrogates included


@PROPERTY_SETTINGS
@given(text=any_text | st.builds(lambda rest: "OCMF|" + rest, any_text))
def test_parse_ocmf_refuses_arbitrary_text_with_invalid_ocmf_error_only(text: str) -> None:
    try:
        document = parse_ocmf(text)
    except InvalidOcmfError:
        return
    assert document.text == text


@st.composite
def mutated_records(draw: st.DrawFn) -> str:
    """The public example after a few random edits: deletions, insertions, replacements."""
    text = draw(st.sampled_from([KEBA_OCMF, NZR_OCMF, SECP192K1_OCMF]))
    pieces = st.sampled_from(list('|{}[]",:0123456789.-eE tnfSDRV\\')) | any_text
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 8)))
        text = text[:start] + draw(pieces) + text[end:]
    return text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(any_text, children),
    max_leaves=8,
)


VALID_PAYLOAD: dict[str, Any] = {
    **{key: "x" for key in ("FV", "GI", "GS", "GV", "PG", "MV", "MM", "MS", "MF", "IL", "IT")},
    "IS": True,
    "ID": "",
}
VALID_READING: dict[str, Any] = {
    "TM": "2024-05-27T13:00:00,000+0200 S",
    "TX": "B",
    "RV": 1,
    "RI": "1-b:1.8.0",
    "RU": "Wh",
    "ST": "G",
}
VALID_SIGNATURE: dict[str, Any] = {
    "SA": "ECDSA-secp256r1-SHA256",
    "SE": "hex",
    "SM": "application/x-der",
    "SD": "3000",
}


@st.composite
def structurally_odd_records(draw: st.DrawFn) -> str:
    """Well-formed JSON sections with a few fields left out or holding any JSON value."""
    readings = [dict(VALID_READING) for _ in range(draw(st.integers(1, 3)))]
    payload = {**VALID_PAYLOAD, "RD": readings}
    signature = dict(VALID_SIGNATURE)
    odd_values = json_values | st.sampled_from(["1.5", " 7 ", "1,5", "", "base64"])
    for _ in range(draw(st.integers(0, 3))):  # at most 3: no section is ever emptied
        section = draw(st.sampled_from([payload, signature, *readings]))
        key = draw(st.sampled_from(sorted(section)))
        if draw(st.booleans()):
            del section[key]
        else:
            section[key] = draw(odd_values)
    # A "|" inside a JSON string would split the sections; escaped, it stays inside.
    return "OCMF|{}|{}".format(
        *(json.dumps(s).replace("|", "\\u007c") for s in (payload, signature))
    )


@PROPERTY_SETTINGS
@given(text=mutated_records() | structurally_odd_records())
def test_parse_ocmf_refuses_damaged_records_with_invalid_ocmf_error_only(text: str) -> None:
    """And whatever still parses can be checked without an exception."""
    try:
        document = parse_ocmf(text)
    except InvalidOcmfError:
        return
    assert isinstance(document, OcmfDocument)
    assert verify_ocmf(document, load_public_key(KEBA_PUBLIC_KEY)) in Verification
    for reading in document.readings:
        assert reading.energy_kwh is None or isinstance(reading.energy_kwh, Decimal)


@PROPERTY_SETTINGS
@given(
    signed_meter_data=any_text
    | st.binary().map(lambda b: base64.b64encode(b).decode())
    | mutated_records().map(lambda t: base64.b64encode(t.encode("utf-8", "surrogatepass")).decode())
)
def test_decode_signed_meter_data_raises_invalid_ocmf_error_only(signed_meter_data: str) -> None:
    try:
        text = decode_signed_meter_data(signed_meter_data)
    except InvalidOcmfError:
        return
    assert text.startswith("OCMF|")


@st.composite
def key_like_texts(draw: st.DrawFn) -> str:
    """Arbitrary text, and the published key damaged in any of its written forms."""
    der = bytearray(bytes.fromhex(KEBA_PUBLIC_KEY))
    for _ in range(draw(st.integers(0, 2))):
        der[draw(st.integers(0, len(der) - 1))] = draw(st.integers(0, 255))
    cut = bytes(der[: draw(st.integers(0, len(der)) | st.just(len(der)))])
    form = draw(st.sampled_from(["hex", "base64", "pem"]))
    if form == "hex":
        return cut.hex()
    if form == "base64":
        return base64.b64encode(cut).decode()
    body = base64.encodebytes(cut).decode()
    return f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n"


@PROPERTY_SETTINGS
@given(text=any_text | key_like_texts())
def test_load_public_key_refuses_bad_keys_with_invalid_public_key_error_only(text: str) -> None:
    try:
        key = load_public_key(text)
    except InvalidPublicKeyError:
        return
    assert load_public_key(public_key_text(key)) == key


def test_a_key_in_the_oca_form_is_read_plain_or_base64() -> None:
    """The Open Charge Alliance's form of a meter key, "oca:base16:asn1:<hex of DER>", as
    stations send it in signedMeterValue.publicKey: as it is, and base64-encoded."""
    oca = "oca:base16:asn1:" + KEBA_PUBLIC_KEY.lower()
    expected = public_key_text(load_public_key(KEBA_PUBLIC_KEY))
    assert public_key_text(load_public_key(oca)) == expected
    assert public_key_text(load_public_key(base64.b64encode(oca.encode()).decode())) == expected
