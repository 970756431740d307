"""What a transaction's signed meter values prove (chargeledger.domain.meter_evidence.assess).

Every OCMF record here is built and signed in the test, as a calibrated meter would sign it:
`OCMF|{payload}|{"SA":"ECDSA-secp256r1-SHA256","SD":"<hex DER signature>"}`, the signature
ECDSA with SHA-256 over the payload text's exact bytes. RV is written into the payload text
as given, so its number of decimals (its resolution) is the test's to choose.
"""

import base64
import json
import math
from decimal import Decimal
from functools import cache

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from chargeledger.domain.meter_evidence import EvidenceAssessment, MeterEvidence, assess
from chargeledger.domain.meter_values import ENERGY_REGISTER, SignedMeterValue
from chargeledger.domain.ocmf import Verification, load_public_key
from tests.support.ocmf_examples import SAP_SIGNED_BEGIN, SAP_SIGNED_END

PROPERTY_SETTINGS = settings(deadline=None)  # signing has uneven timings

BEGIN_TM = "2024-06-03T19:30:00,000+0000 S"
END_TM = "2024-06-03T21:30:00,000+0000 S"
SERIAL = "EM-0042"


def meter_key(which: int = 0) -> ec.EllipticCurvePrivateKey:
    """One secp256r1 key per `which` for the whole run."""
    return _meter_key(which)


@cache
def _meter_key(which: int) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public(which: int = 0) -> ec.EllipticCurvePublicKey:
    return meter_key(which).public_key()


def payload_text(
    readings: list[tuple[str, str]], *, serial: str | None = SERIAL, unit: str = "kWh"
) -> str:
    """A payload with readings (TX, RV as written), begin readings at BEGIN_TM, others at
    END_TM; RI and RU in every reading."""
    entries = [
        f'{{"TM":"{BEGIN_TM if tx == "B" else END_TM}","TX":"{tx}","RV":{rv},'
        f'"RI":"1-b:1.8.0","RU":"{unit}","ST":"G"}}'
        for tx, rv in readings
    ]
    fields = ['"FV":"1.0"', '"GI":"TEST WALLBOX"', '"PG":"T17"', '"MV":"Test Meters"']
    if serial is not None:
        fields.append(f'"MS":"{serial}"')
    fields += ['"IS":true', '"IT":"ISO14443"', '"ID":"RFID-0001"', f'"RD":[{",".join(entries)}]']
    return "{" + ",".join(fields) + "}"


def sign(payload: str, key: ec.EllipticCurvePrivateKey | None = None) -> str:
    key = meter_key() if key is None else key
    signature = key.sign(payload.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    section = json.dumps({"SA": "ECDSA-secp256r1-SHA256", "SD": signature.hex().upper()})
    return f"OCMF|{payload}|{section}"


def ocmf(
    *readings: tuple[str, str],
    serial: str | None = SERIAL,
    unit: str = "kWh",
    key: ec.EllipticCurvePrivateKey | None = None,
) -> str:
    return sign(payload_text(list(readings), serial=serial, unit=unit), key)


def value(
    data: str,
    context: str | None = None,
    *,
    encoding_method: str | None = None,
    signing_method: str | None = None,
    public_key: str | None = None,
) -> SignedMeterValue:
    """A signed value as 1.6 captures it (the sampled value's text); 2.0.1 adds fields."""
    return SignedMeterValue(
        timestamp_ms=1_717_443_000_000,
        context=context,
        measurand=ENERGY_REGISTER,
        data=data,
        encoding_method=encoding_method,
        signing_method=signing_method,
        public_key=public_key,
    )


def begin_end(
    begin_rv: str = "1234.567",
    end_rv: str = "1245.567",
    *,
    unit: str = "kWh",
    end_serial: str | None = SERIAL,
) -> list[SignedMeterValue]:
    return [
        value(ocmf(("B", begin_rv), unit=unit), "Transaction.Begin"),
        value(ocmf(("E", end_rv), unit=unit, serial=end_serial), "Transaction.End"),
    ]


def status(
    signed: list[SignedMeterValue],
    energy_kwh: float | None,
    key: ec.EllipticCurvePublicKey | None = None,
) -> MeterEvidence:
    assessment = assess(signed, public() if key is None else key, energy_kwh)
    assert assessment is not None
    return assessment.status


def assessed(
    signed: list[SignedMeterValue],
    key: ec.EllipticCurvePublicKey | None,
    energy_kwh: float | None,
) -> EvidenceAssessment:
    assessment = assess(signed, key, energy_kwh)
    assert assessment is not None
    return assessment


# --- No signed values ------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "key"])
def test_a_transaction_without_signed_values_has_no_assessment(key: str | None) -> None:
    assert assess([], None if key is None else public(), 11.0) is None


# --- Verified --------------------------------------------------------------------------------


def test_begin_and_end_signed_by_the_meter_with_the_sessions_energy_are_verified() -> None:
    # 1245.567 - 1234.567 = 11.000 kWh, the session's energy.
    signed = begin_end()

    result = assessed(signed, public(), 11.0)

    assert result.status is MeterEvidence.VERIFIED
    assert result.signed_energy_kwh == Decimal("11.000")
    assert result.meter_serial == SERIAL
    assert result.begin is not None
    assert result.end is not None
    assert (result.begin.transaction, result.begin.value) == ("B", Decimal("1234.567"))
    assert (result.end.transaction, result.end.value) == ("E", Decimal("1245.567"))
    assert [view.value for view in result.values] == signed
    assert [view.verification for view in result.values] == [Verification.VERIFIED] * 2
    assert all(view.problem is None for view in result.values)
    assert SERIAL in result.detail


def test_a_2_0_1_value_with_base64_of_the_ocmf_text_is_read_and_verified() -> None:
    signed = [
        value(
            base64.b64encode(text.encode()).decode(),
            context,
            encoding_method="OCMF",
            signing_method="ECDSA-secp256r1-SHA256",
            public_key=None,
        )
        for text, context in (
            (ocmf(("B", "1234.567")), "Transaction.Begin"),
            (ocmf(("E", "1245.567")), "Transaction.End"),
        )
    ]

    assert status(signed, 11.0) is MeterEvidence.VERIFIED


def test_a_2_0_1_value_with_the_ocmf_text_as_it_is_is_read_too() -> None:
    signed = [
        value(ocmf(("B", "1234.567")), encoding_method="OCMF"),
        value(ocmf(("E", "1245.567")), encoding_method="OCMF"),
    ]

    assert status(signed, 11.0) is MeterEvidence.VERIFIED


def test_begin_and_end_readings_in_one_document_are_verified() -> None:
    """Pagination style: the end record carries both the begin and the end reading."""
    signed = [
        value(ocmf(("B", "1234.567")), "Transaction.Begin"),
        value(ocmf(("B", "1234.567"), ("E", "1245.567")), "Transaction.End"),
    ]

    result = assessed(signed, public(), 11.0)

    assert result.status is MeterEvidence.VERIFIED
    assert result.signed_energy_kwh == Decimal("11.000")


def test_a_single_document_with_begin_and_end_alone_is_verified() -> None:
    signed = [value(ocmf(("B", "1234.567"), ("C", "1240.000"), ("E", "1245.567")))]

    assert status(signed, 11.0) is MeterEvidence.VERIFIED


def test_the_first_begin_and_the_last_end_are_compared() -> None:
    # Begins at 1234.567 and 1235.000; ends at 1240.000 and 1245.567: 1245.567 - 1234.567.
    signed = [
        value(ocmf(("B", "1234.567"))),
        value(ocmf(("E", "1240.000"))),
        value(ocmf(("B", "1235.000"))),
        value(ocmf(("E", "1245.567"))),
    ]

    result = assessed(signed, public(), 11.0)

    assert result.status is MeterEvidence.VERIFIED
    assert result.signed_energy_kwh == Decimal("11.000")


def test_readings_in_wh_are_compared_in_kwh() -> None:
    # 1245567 Wh - 1234567 Wh = 11000 Wh = 11.000 kWh.
    result = assessed(begin_end("1234567", "1245567", unit="Wh"), public(), 11.0)

    assert result.status is MeterEvidence.VERIFIED
    assert result.signed_energy_kwh == Decimal("11.000")


def test_an_unreadable_value_beside_a_verified_pair_does_not_spoil_it() -> None:
    signed = [value("XYZ|nonsense"), *begin_end()]

    result = assessed(signed, public(), 11.0)

    assert result.status is MeterEvidence.VERIFIED
    assert result.values[0].document is None
    assert result.values[0].problem
    assert result.values[0].verification is None


# --- Resolution: the tolerance edge ----------------------------------------------------------
# The module's rule: |session - signed| <= max(resolution of begin, resolution of end)
# + 0.001 kWh (the session's Wh resolution). A resolution is the step of RV's last written
# decimal, in kWh (RV in Wh: the step / 1000).


@pytest.mark.parametrize(
    ("energy_kwh", "expected"),
    [
        (11.0, MeterEvidence.VERIFIED),
        (11.009, MeterEvidence.VERIFIED),
        (10.991, MeterEvidence.VERIFIED),
        (11.011, MeterEvidence.VERIFIED),  # exactly 0.01 + 0.001 off: the edge, still in
        (10.989, MeterEvidence.VERIFIED),
        (11.012, MeterEvidence.ENERGY_MISMATCH),  # just past the edge
        (10.988, MeterEvidence.ENERGY_MISMATCH),
        (11.02, MeterEvidence.ENERGY_MISMATCH),
        (10.98, MeterEvidence.ENERGY_MISMATCH),
    ],
)
def test_readings_with_two_decimals_tolerate_0_011_kwh(
    energy_kwh: float, expected: MeterEvidence
) -> None:
    # 1245.56 - 1234.56 = 11.00 kWh; RV has two decimals, a resolution of 0.01 kWh.
    assert status(begin_end("1234.56", "1245.56"), energy_kwh) is expected


@pytest.mark.parametrize(
    ("energy_kwh", "expected"),
    [
        (11.002, MeterEvidence.VERIFIED),  # 0.001 + 0.001: the edge
        (10.998, MeterEvidence.VERIFIED),
        (11.003, MeterEvidence.ENERGY_MISMATCH),
        (10.997, MeterEvidence.ENERGY_MISMATCH),
    ],
)
def test_readings_with_three_decimals_tolerate_0_002_kwh(
    energy_kwh: float, expected: MeterEvidence
) -> None:
    assert status(begin_end(), energy_kwh) is expected


@pytest.mark.parametrize(
    ("energy_kwh", "expected"),
    [
        (11.002, MeterEvidence.VERIFIED),  # 1 Wh resolution = 0.001 kWh, + 0.001
        (11.003, MeterEvidence.ENERGY_MISMATCH),
    ],
)
def test_readings_in_whole_wh_tolerate_0_002_kwh(
    energy_kwh: float, expected: MeterEvidence
) -> None:
    assert status(begin_end("1234567", "1245567", unit="Wh"), energy_kwh) is expected


def test_the_coarser_of_the_two_readings_sets_the_tolerance() -> None:
    # Begin with one decimal (0.1 kWh), end with three: tolerance 0.1 + 0.001.
    signed = begin_end("1234.5", "1245.500")

    assert status(signed, 11.101) is MeterEvidence.VERIFIED
    assert status(signed, 11.102) is MeterEvidence.ENERGY_MISMATCH


def test_whole_kwh_readings_tolerate_1_001_kwh() -> None:
    signed = begin_end("1234", "1245")

    assert status(signed, 12.001) is MeterEvidence.VERIFIED
    assert status(signed, 12.002) is MeterEvidence.ENERGY_MISMATCH


# --- Energy mismatch -------------------------------------------------------------------------


def test_verified_readings_that_are_not_the_sessions_energy_are_a_mismatch() -> None:
    result = assessed(begin_end(), public(), 12.0)

    assert result.status is MeterEvidence.ENERGY_MISMATCH
    assert result.signed_energy_kwh == Decimal("11.000")
    assert "11.000" in result.detail
    assert "12.0" in result.detail


def test_a_session_without_energy_is_a_mismatch() -> None:
    result = assessed(begin_end(), public(), None)

    assert result.status is MeterEvidence.ENERGY_MISMATCH
    assert result.signed_energy_kwh == Decimal("11.000")


def test_begin_and_end_from_different_meters_are_a_mismatch_even_with_the_right_energy() -> None:
    result = assessed(begin_end(end_serial="EM-9999"), public(), 11.0)

    assert result.status is MeterEvidence.ENERGY_MISMATCH
    assert SERIAL in result.detail
    assert "EM-9999" in result.detail
    assert result.signed_energy_kwh is None


def test_an_infinite_session_energy_is_a_mismatch() -> None:
    assert status(begin_end(), math.inf) is MeterEvidence.ENERGY_MISMATCH


def test_a_nan_session_energy_is_a_mismatch_not_an_exception() -> None:
    assert status(begin_end(), math.nan) is MeterEvidence.ENERGY_MISMATCH


# --- No public key ---------------------------------------------------------------------------


def test_signed_begin_and_end_without_a_key_are_no_public_key() -> None:
    result = assessed(begin_end(), None, 11.0)

    assert result.status is MeterEvidence.NO_PUBLIC_KEY
    assert result.begin is not None
    assert result.end is not None
    assert result.meter_serial == SERIAL
    assert result.signed_energy_kwh is None
    assert all(view.verification is None for view in result.values)
    assert all(view.document is not None for view in result.values)


def test_without_a_key_even_a_wrong_energy_is_no_public_key() -> None:
    assert assessed(begin_end(), None, 99.0).status is MeterEvidence.NO_PUBLIC_KEY


# --- Bad signature ---------------------------------------------------------------------------


def test_readings_checked_with_another_key_are_a_bad_signature() -> None:
    result = assessed(begin_end(), public(which=1), 11.0)

    assert result.status is MeterEvidence.BAD_SIGNATURE
    assert "start" in result.detail
    assert [view.verification for view in result.values] == [Verification.BAD_SIGNATURE] * 2


def test_a_key_on_another_curve_is_a_bad_signature_naming_the_curve() -> None:
    other_curve = ec.generate_private_key(ec.SECP384R1()).public_key()

    result = assessed(begin_end(), other_curve, 11.0)

    assert result.status is MeterEvidence.BAD_SIGNATURE
    assert Verification.WRONG_CURVE.value in result.detail


def test_a_tampered_end_reading_is_a_bad_signature_of_the_end() -> None:
    signed_end = ocmf(("E", "1245.567"))
    tampered = signed_end.replace('"RV":1245.567', '"RV":1246.567')
    assert tampered != signed_end
    signed = [value(ocmf(("B", "1234.567"))), value(tampered)]

    result = assessed(signed, public(), 12.0)  # the tampered energy, 12 kWh

    assert result.status is MeterEvidence.BAD_SIGNATURE
    assert "end" in result.detail
    assert result.signed_energy_kwh is None


def test_a_begin_signed_by_another_meter_is_a_bad_signature_of_the_start() -> None:
    signed = [
        value(ocmf(("B", "1234.567"), key=meter_key(which=1))),
        value(ocmf(("E", "1245.567"))),
    ]

    result = assessed(signed, public(), 11.0)

    assert result.status is MeterEvidence.BAD_SIGNATURE
    assert "start" in result.detail
    assert [view.verification for view in result.values] == [
        Verification.BAD_SIGNATURE,
        Verification.VERIFIED,
    ]


def test_a_signature_of_whitespace_changed_payload_is_bad() -> None:
    """What is signed is the payload text byte for byte, not what it parses to."""
    payload = payload_text([("E", "1245.567")])
    signed_end = sign(payload)
    spaced = signed_end.replace(payload, payload.replace('"TX":"E",', '"TX": "E",'))
    assert spaced != signed_end

    assert status([value(ocmf(("B", "1234.567"))), value(spaced)], 11.0) is (
        MeterEvidence.BAD_SIGNATURE
    )


# --- Incomplete ------------------------------------------------------------------------------


def test_only_a_begin_document_is_incomplete_for_want_of_the_end() -> None:
    result = assessed([value(ocmf(("B", "1234.567")))], public(), 11.0)

    assert result.status is MeterEvidence.INCOMPLETE
    assert "end" in result.detail
    assert "'E'" in result.detail
    assert result.begin is not None
    assert result.end is None
    assert result.meter_serial == SERIAL


def test_only_an_end_document_is_incomplete_for_want_of_the_start() -> None:
    result = assessed([value(ocmf(("E", "1245.567")))], public(), 11.0)

    assert result.status is MeterEvidence.INCOMPLETE
    assert "start" in result.detail
    assert result.begin is None
    assert result.end is not None


def test_a_missing_start_is_named_by_its_ocmf_tx_letter_b() -> None:
    """The missing end is named TX 'E'; the missing start must be named TX 'B', the letter
    OCMF marks a transaction's begin with (there is no TX 'S')."""
    result = assessed([value(ocmf(("E", "1245.567")))], public(), 11.0)

    assert "(OCMF TX 'B')" in result.detail


@pytest.mark.parametrize("end_code", ["L", "R"])
def test_an_end_reading_with_a_more_precise_ocmf_end_code_is_an_end(end_code: str) -> None:
    """OCMF TX: 'E - End of transaction, alternatively more precise codes: L - terminated
    locally, R - terminated remotely, ...' (OCMF-en.md, table 7)."""
    signed = [value(ocmf(("B", "1234.567"))), value(ocmf((end_code, "1245.567")))]

    assert status(signed, 11.0) is MeterEvidence.VERIFIED


def test_periodic_readings_alone_are_incomplete() -> None:
    assert status([value(ocmf(("C", "1240.000")))], 11.0) is MeterEvidence.INCOMPLETE


def test_incomplete_comes_before_no_public_key() -> None:
    result = assessed([value(ocmf(("B", "1234.567")))], None, 11.0)

    assert result.status is MeterEvidence.INCOMPLETE


def test_a_begin_with_an_unreadable_end_is_incomplete() -> None:
    signed = [value(ocmf(("B", "1234.567"))), value("OCMF|{not json|{}")]

    result = assessed(signed, public(), 11.0)

    assert result.status is MeterEvidence.INCOMPLETE
    assert result.values[1].problem is not None


# --- Unreadable ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "XYZ|{}|{}",
        "!!! not base64 !!!",
        base64.b64encode(b"XYZ|not ocmf").decode(),
        base64.b64encode(b"\xff\xfe\xfd").decode(),  # base64 of bytes that are not UTF-8
        "",
        "OCMF|{}|{}",  # no readings, no signature data
        "OCMF|" + payload_text([("B", "1")]) + '|{"SD":"zz"}',  # SD not hex
    ],
)
def test_signed_data_that_cannot_be_read_is_unreadable(data: str) -> None:
    for key in (public(), None):
        result = assessed([value(data)], key, 11.0)

        assert result.status is MeterEvidence.UNREADABLE
        assert result.detail.startswith("no signed value could be read: ")
        assert result.values[0].document is None
        assert result.values[0].problem
        assert result.values[0].problem in result.detail
        assert (result.begin, result.end, result.meter_serial) == (None, None, None)


def test_readings_in_a_unit_that_is_not_energy_are_unreadable() -> None:
    result = assessed(begin_end("230", "231", unit="varh"), public(), 11.0)

    assert result.status is MeterEvidence.UNREADABLE
    assert "varh" in result.detail


# --- Properties ------------------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=()))  # lone surrogates included
ocmf_like = st.builds(lambda rest: "OCMF|" + rest, any_text) | st.builds(
    lambda text: base64.b64encode(text.encode("utf-8", "surrogatepass")).decode(), any_text
)


@PROPERTY_SETTINGS
@given(
    data=st.lists(any_text | ocmf_like, min_size=1, max_size=3),
    with_key=st.booleans(),
    energy_kwh=st.none() | st.floats(allow_nan=False),
)
def test_any_signed_data_is_assessed_without_raising(
    data: list[str], with_key: bool, energy_kwh: float | None
) -> None:
    result = assessed([value(text) for text in data], public() if with_key else None, energy_kwh)

    assert result.status in (MeterEvidence.UNREADABLE, MeterEvidence.INCOMPLETE)
    assert len(result.values) == len(data)


decimals = st.integers(0, 3)


@PROPERTY_SETTINGS
@given(
    begin_units=st.integers(0, 10**9),
    charged_units=st.integers(0, 10**6),
    begin_places=decimals,
    end_places=decimals,
    error_units=st.integers(-3000, 3000),
)
def test_verified_exactly_when_the_energy_is_within_the_tolerance(
    begin_units: int, charged_units: int, begin_places: int, end_places: int, error_units: int
) -> None:
    """RV written with 0 to 3 decimals; the session's energy off by error_units Wh. VERIFIED
    if |off| <= max(the two resolutions) + 0.001 kWh, ENERGY_MISMATCH otherwise."""
    begin = Decimal(begin_units).scaleb(-3)
    end = begin + Decimal(charged_units).scaleb(-3)
    begin_text = f"{begin:.{begin_places}f}"
    end_text = f"{end:.{end_places}f}"
    signed_kwh = Decimal(end_text) - Decimal(begin_text)
    energy = signed_kwh + Decimal(error_units).scaleb(-3)
    tolerance = Decimal(1).scaleb(-min(begin_places, end_places)) + Decimal("0.001")
    expected = (
        MeterEvidence.VERIFIED
        if abs(energy - signed_kwh) <= tolerance
        else MeterEvidence.ENERGY_MISMATCH
    )

    result = assessed(begin_end(begin_text, end_text), public(), float(energy))

    assert result.status is expected
    assert result.signed_energy_kwh == signed_kwh


@pytest.mark.parametrize("meter_status", ["E", "M", "T"])
def test_a_reading_the_meter_flagged_is_no_evidence(meter_status: str) -> None:
    """OCMF ST other than G (good): the meter itself says the reading is not to be trusted
    (an error, manipulation, a timeout). Signatures verify, energy matches, but the session's
    energy is not vouched for: meterError, with the status named."""
    end_payload = payload_text([("B", "1234.567"), ("E", "1245.567")]).replace(
        '"ST":"G"}]', f'"ST":"{meter_status}"}}]'
    )
    signed = [value(ocmf(("B", "1234.567"))), value(sign(end_payload))]
    result = assessed(signed, public(), 11.0)
    assert result.status is MeterEvidence.METER_ERROR
    assert f"'{meter_status}'" in result.detail


def test_a_16_value_wrapping_2_0_1_signed_meter_value_json_is_read() -> None:
    """The SAP simulator's 1.6 signed values (tests/support/ocmf_examples.py): JSON text
    holding signedMeterData (base64 of OCMF) and an OCA-form public key. They are read
    (not unreadable); with no key configured the status says so; with the key the simulator
    sent (loaded from its "oca:base16:asn1:" form) the placeholder signatures fail."""
    signed = [
        value(SAP_SIGNED_BEGIN, "Transaction.Begin"),
        value(SAP_SIGNED_END, "Transaction.End"),
    ]
    without_key = assessed(signed, None, 1.543)
    assert without_key.status is MeterEvidence.NO_PUBLIC_KEY
    assert without_key.begin is not None
    assert without_key.begin.transaction == "B"
    sent_key = json.loads(SAP_SIGNED_BEGIN)["publicKey"]
    key = load_public_key(sent_key)
    assert isinstance(key.curve, ec.SECP256K1)
    assert assessed(signed, key, 1.543).status is MeterEvidence.BAD_SIGNATURE
