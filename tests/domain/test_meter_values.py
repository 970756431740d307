"""OCPP meter values read leniently (chargeledger.domain.meter_values.read_meter_value(s)).

Inputs are snake_case, as the ocpp package hands them over after schema validation: 1.6 sends
`"value": "1000"` with `"unit": "Wh"` on the sampled value; 2.0.1 sends numbers with
`"unit_of_measure": {"unit": ..., "multiplier": ...}` and may add a `signed_meter_value`.
(transaction_readings is covered by the OCPP transaction tests.)
"""

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain.meter_values import (
    CONNECTOR_IDS,
    ENERGY_REGISTER,
    MAX_POWER_KW,
    MAX_REGISTER_KWH,
    POWER,
    REGISTER_WH,
    SEQ_NOS,
    STATE_OF_CHARGE,
    DroppedValue,
    MeterValuesRead,
    Sample,
    SignedMeterValue,
    read_meter_value,
    read_meter_values,
    register_kwh,
    samples_from_meter_values,
    within_ranges,
)
from chargeledger.domain.session_energy import counter_increments

AT = "2024-06-03T19:30:00Z"
AT_MS = 1_717_443_000_000  # 2024-06-03T19:30:00Z
LATER = "2024-06-03T19:35:00Z"
LATER_MS = AT_MS + 5 * 60_000
KEPT_MEASURANDS = (ENERGY_REGISTER, POWER, STATE_OF_CHARGE)

OCMF_TEXT = 'OCMF|{"FV":"1.0","RD":[{"TX":"B","RV":1.0,"RU":"kWh"}]}|{"SD":"3000"}'


def one(*sampled: dict[str, Any], timestamp: Any = AT, **options: bool) -> MeterValuesRead:
    return read_meter_value({"timestamp": timestamp, "sampled_value": list(sampled)}, **options)


def only_sample(read: MeterValuesRead) -> Sample:
    assert len(read.samples) == 1
    return read.samples[0]


def energy(value: Any, **fields: Any) -> dict[str, Any]:
    return {"value": value, "measurand": ENERGY_REGISTER, **fields}


def power(value: Any, **fields: Any) -> dict[str, Any]:
    return {"value": value, "measurand": POWER, **fields}


def soc(value: Any, **fields: Any) -> dict[str, Any]:
    return {"value": value, "measurand": STATE_OF_CHARGE, **fields}


# --- Usable values ---------------------------------------------------------------------------


def test_a_1_6_energy_register_in_wh_is_read_in_kwh() -> None:
    read = one({"value": "1000", "measurand": ENERGY_REGISTER, "unit": "Wh"})

    assert read == MeterValuesRead(
        samples=[Sample(timestamp_ms=AT_MS, energy_kwh=1.0)], dropped=[], signed=[]
    )


def test_a_sampled_value_without_measurand_or_unit_is_the_energy_register_in_wh() -> None:
    assert only_sample(one({"value": "1235850"})).energy_kwh == 1235.85


def test_a_2_0_1_register_with_unit_of_measure_and_multiplier_is_scaled() -> None:
    # 12.5 kWh x 10^3 = 12500 kWh; 250 W x 10^-1 = 25 W = 0.025 kW.
    read = one(
        energy(12.5, unit_of_measure={"unit": "kWh", "multiplier": 3}),
        power(250, unit_of_measure={"unit": "W", "multiplier": -1}),
        soc(80),
    )

    sample = only_sample(read)
    assert (sample.timestamp_ms, sample.energy_kwh, sample.soc_pct) == (AT_MS, 12500.0, 80.0)
    assert sample.power_kw == pytest.approx(0.025)
    assert read.dropped == []


def test_unit_of_measure_without_unit_or_multiplier_means_wh_and_times_one() -> None:
    assert only_sample(one(energy(2000, unit_of_measure={}))).energy_kwh == 2.0


def test_a_sampled_value_of_a_measurand_the_ledger_does_not_keep_is_neither_used_nor_dropped() -> (
    None
):
    read = one(
        {"value": "230.1", "measurand": "Voltage", "unit": "V"},
        {"value": "not a number", "measurand": "Current.Import", "unit": "A"},
    )

    assert read == MeterValuesRead(samples=[Sample(timestamp_ms=AT_MS)], dropped=[], signed=[])


# --- One bad value is dropped, the good register next to it is kept --------------------------


GOOD_REGISTER = energy("1000", unit="Wh")  # 1.0 kWh


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        pytest.param(power("abc"), "sampled value 'abc' is not a number", id="not-a-number"),
        pytest.param(power(""), "sampled value '' is not a number", id="empty-text"),
        pytest.param(power(None), "sampled value 'None' is not a number", id="missing-value"),
        pytest.param(power("NaN"), "not a finite number", id="nan-text"),
        pytest.param(power(math.nan), "not a finite number", id="nan-number"),
        pytest.param(power("inf"), "not a finite number", id="inf-text"),
        pytest.param(power("-Infinity"), "not a finite number", id="minus-infinity-text"),
        pytest.param(power("1e400"), "not a finite number", id="overflowing-text"),
        pytest.param(power(10**400), "is not a number", id="overflowing-integer"),
        pytest.param(power(True), "sampled value 'True' is not a number", id="true"),
        pytest.param(power(False), "sampled value 'False' is not a number", id="false"),
        pytest.param(soc(True), "is not a number", id="soc-true"),
        pytest.param(power([1]), "is not a number", id="a-list"),
        pytest.param(power({"v": 1}), "is not a number", id="an-object"),
        pytest.param(soc("-1"), "state of charge -1 is not 0 to 100 %", id="soc-minus-1"),
        pytest.param(soc(120), "state of charge 120 is not 0 to 100 %", id="soc-120"),
        pytest.param(soc("100.5"), "is not 0 to 100 %", id="soc-just-over-100"),
        pytest.param(
            energy("5", unit="varh"), "energy unit 'varh' is not Wh or kWh", id="unit-varh"
        ),
        pytest.param(
            energy(5, unit_of_measure={"unit": "kvarh"}),
            "energy unit 'kvarh' is not Wh or kWh",
            id="unit-of-measure-kvarh",
        ),
        pytest.param(power("3", unit="A"), "power unit 'A' is not W or kW", id="power-unit-a"),
        pytest.param(
            power("100000001", unit="kW"), "kW is beyond 1e+05 kW", id="power-over-100-mw"
        ),
        pytest.param(
            power("-100000001000", unit="W"), "kW is beyond 1e+05 kW", id="power-under-minus-100-mw"
        ),
        pytest.param(
            energy("-1", unit="Wh"),
            "energy register -0.001 kWh is not between 0 and 1e+09 kWh",
            id="negative-register",
        ),
        pytest.param(
            energy("1000000001", unit="kWh"),
            "is not between 0 and 1e+09 kWh",
            id="register-over-1e9-kwh",
        ),
        pytest.param(
            energy(1, unit_of_measure={"unit": "kWh", "multiplier": 10}),
            "multiplier '10' is not -9 to 9",
            id="multiplier-10",
        ),
        pytest.param(
            energy(1, unit_of_measure={"unit": "kWh", "multiplier": -10}),
            "multiplier '-10' is not -9 to 9",
            id="multiplier-minus-10",
        ),
        pytest.param(
            energy(1, unit_of_measure={"unit": "kWh", "multiplier": "3"}),
            "multiplier '3' is not -9 to 9",
            id="multiplier-as-text",
        ),
        pytest.param(
            energy(1, unit_of_measure={"unit": "kWh", "multiplier": 1.5}),
            "multiplier '1.5' is not -9 to 9",
            id="multiplier-fraction",
        ),
        pytest.param(
            energy(1e300, unit_of_measure={"unit": "kWh", "multiplier": 9}),
            "is not between 0 and 1e+09 kWh",
            id="register-overflowing-to-infinity-by-its-multiplier",
        ),
    ],
)
def test_one_bad_value_is_dropped_with_its_reason_and_the_register_next_to_it_is_kept(
    bad: dict[str, Any], reason: str
) -> None:
    read = one(GOOD_REGISTER, bad)

    assert only_sample(read).energy_kwh == 1.0
    assert len(read.dropped) == 1
    dropped = read.dropped[0]
    assert dropped.measurand == bad["measurand"]
    assert reason in dropped.reason
    assert dropped.value == str(bad["value"])[:80] or dropped.value.endswith("…")
    assert read.signed == []


def test_a_bad_register_does_not_cost_the_power_and_state_of_charge_next_to_it() -> None:
    read = one(energy("-5"), power("7400", unit="W"), soc("55"))

    assert only_sample(read) == Sample(
        timestamp_ms=AT_MS, energy_kwh=None, power_kw=7.4, soc_pct=55.0
    )
    assert [d.measurand for d in read.dropped] == [ENERGY_REGISTER]


@pytest.mark.parametrize(
    ("kept", "expected_kwh"),
    [
        (energy("0"), 0.0),
        (energy(str(MAX_REGISTER_KWH), unit="kWh"), MAX_REGISTER_KWH),
        (energy(1, unit_of_measure={"unit": "kWh", "multiplier": 9}), 1e9),
        (energy(1e12, unit_of_measure={"unit": "Wh", "multiplier": -9}), 1.0),
    ],
    ids=["zero", "exactly-1e9-kwh", "multiplier-9", "multiplier-minus-9"],
)
def test_the_register_bounds_and_multiplier_range_are_inclusive(
    kept: dict[str, Any], expected_kwh: float
) -> None:
    read = one(kept)

    assert read.dropped == []
    assert only_sample(read).energy_kwh == pytest.approx(expected_kwh)


def test_power_of_exactly_100_mw_either_way_is_kept() -> None:
    assert only_sample(one(power(str(MAX_POWER_KW), unit="kW"))).power_kw == MAX_POWER_KW
    assert only_sample(one(power("-100000000", unit="W"))).power_kw == -MAX_POWER_KW


def test_state_of_charge_of_0_and_100_is_kept() -> None:
    assert only_sample(one(soc("0"))).soc_pct == 0.0
    assert only_sample(one(soc(100))).soc_pct == 100.0


def test_an_unusable_value_is_kept_cut_short_in_its_drop_record() -> None:
    long_text = "x" * 500

    dropped = one(energy(long_text)).dropped

    assert len(dropped) == 1
    assert len(dropped[0].value) == 80
    assert dropped[0].value == "x" * 79 + "…"


# --- Phases and locations --------------------------------------------------------------------


def test_per_phase_registers_only_are_added_up() -> None:
    read = one(energy("1000", phase="L1"), energy("2000", phase="L2"), energy("3000", phase="L3"))

    assert only_sample(read).energy_kwh == 6.0


def test_a_total_wins_over_per_phase_values_even_when_a_phase_is_dropped() -> None:
    read = one(
        energy("1000", phase="L1"),
        energy("garbage", phase="L2"),
        energy("1000", phase="L3"),
        energy("9000"),  # the total, no phase
    )

    assert only_sample(read).energy_kwh == 9.0
    assert [(d.measurand, d.value) for d in read.dropped] == [(ENERGY_REGISTER, "garbage")]


def test_per_phase_power_is_summed_with_a_dropped_register_beside_it() -> None:
    # 3 x 3.7 kW on the phases; the register is unusable and dropped, the power stays.
    read = one(
        energy("NaN"),
        power("3700", unit="W", phase="L1"),
        power("3700", unit="W", phase="L2"),
        power("3700", unit="W", phase="L3"),
    )

    assert only_sample(read).power_kw == pytest.approx(11.1)
    assert only_sample(read).energy_kwh is None
    assert len(read.dropped) == 1


def test_line_to_line_phases_are_not_added_up() -> None:
    read = one(
        power("400", unit="W", phase="L1-L2"),
        power("401", unit="W", phase="L2-L3"),
        power("402", unit="W", phase="L3-L1"),
    )

    assert only_sample(read).power_kw == pytest.approx(0.402)  # the last, not a sum


def test_the_outlet_wins_over_the_inlet() -> None:
    read = one(
        energy("5000", location="Inlet"),
        energy("4000", location="Outlet"),
    )

    assert only_sample(read).energy_kwh == 4.0


def test_the_outlet_is_the_default_location() -> None:
    read = one(energy("5000", location="Inlet"), energy("4000"))

    assert only_sample(read).energy_kwh == 4.0


def test_the_outlet_wins_over_the_inlet_when_an_inlet_value_is_dropped() -> None:
    read = one(
        energy("5000", location="Inlet", phase="L1"),
        energy("bad", location="Inlet", phase="L2"),
        energy("4000", location="Outlet"),
    )

    assert only_sample(read).energy_kwh == 4.0
    assert len(read.dropped) == 1


def test_the_inlet_is_used_when_the_outlets_only_value_is_dropped() -> None:
    """'The same for any other location if the outlet says nothing': an outlet whose only
    value is unusable says nothing."""
    read = one(
        energy("inf", location="Outlet"),
        energy("5000", location="Inlet"),
    )

    assert only_sample(read).energy_kwh == 5.0
    assert [d.value for d in read.dropped] == ["inf"]


def test_outlet_phases_are_summed_when_an_outlet_phase_is_dropped_and_the_inlet_has_a_total() -> (
    None
):
    # The outlet still says something (phases L1 and L3 are usable), so the inlet is not used.
    read = one(
        energy("7000", location="Inlet"),
        energy("3000", location="Outlet", phase="L1"),
        energy("x", location="Outlet", phase="L2"),
        energy("3000", location="Outlet", phase="L3"),
        energy("3000", location="Outlet", phase="L2"),
    )

    assert only_sample(read).energy_kwh == 9.0
    assert len(read.dropped) == 1


def test_a_per_phase_register_with_a_dropped_phase_is_not_a_partial_sum() -> None:
    """Three phases of 4000 kWh each; L2 unusable. The total register is unknown, and the
    sum of L1 and L3 (8000 kWh) is no register at all: next to samples of 12000 kWh it looks
    like a counter reset, and the session counts thousands of kWh that were never charged."""
    first = {
        "timestamp": AT,
        "sampled_value": [energy("4000", unit="kWh", phase=phase) for phase in ("L1", "L2", "L3")],
    }
    second = {
        "timestamp": LATER,
        "sampled_value": [
            energy("4000", unit="kWh", phase="L1"),
            energy("garbage", unit="kWh", phase="L2"),
            energy("4000", unit="kWh", phase="L3"),
        ],
    }
    third = {
        "timestamp": "2024-06-03T19:40:00Z",
        "sampled_value": [
            energy(value, unit="kWh", phase=phase)
            for phase, value in (("L1", "4000"), ("L2", "4000"), ("L3", "4000.1"))
        ],
    }

    read = read_meter_values([first, second, third])

    assert [s.energy_kwh for s in read.samples] == [12000.0, None, pytest.approx(12000.1)]
    increments = counter_increments([s.as_reading() for s in read.samples])
    assert sum(i for i in increments if i is not None) == pytest.approx(0.1)


def test_to_neutral_phases_named_l1_n_are_added_up() -> None:
    """The module adds up 'to-neutral phases' and leaves line-to-line ones alone; OCPP names
    a value measured between a phase and neutral L1-N, L2-N, L3-N."""
    read = one(
        power("3700", unit="W", phase="L1-N"),
        power("3700", unit="W", phase="L2-N"),
        power("3700", unit="W", phase="L3-N"),
    )

    assert only_sample(read).power_kw == pytest.approx(11.1)


# --- Signed values ---------------------------------------------------------------------------


def test_a_1_6_signed_data_value_is_captured_as_evidence_and_not_read_as_a_number() -> None:
    read = one(
        {
            "value": OCMF_TEXT,
            "format": "SignedData",
            "context": "Transaction.Begin",
            "measurand": ENERGY_REGISTER,
        },
        energy("1000"),
    )

    assert read.signed == [
        SignedMeterValue(
            timestamp_ms=AT_MS,
            context="Transaction.Begin",
            measurand=ENERGY_REGISTER,
            data=OCMF_TEXT,
        )
    ]
    assert read.dropped == []  # the signed text is not "not a number"
    assert only_sample(read).energy_kwh == 1.0  # the raw register beside it


def test_a_1_6_signed_value_that_looks_like_a_number_is_still_not_a_register() -> None:
    read = one({"value": "99999", "format": "SignedData"})

    assert only_sample(read).energy_kwh is None
    assert [s.data for s in read.signed] == ["99999"]
    assert read.signed[0].measurand == ENERGY_REGISTER  # the default measurand


def test_a_1_6_raw_format_value_is_an_ordinary_value() -> None:
    read = one({"value": "2500", "format": "Raw"})

    assert only_sample(read).energy_kwh == 2.5
    assert read.signed == []


def test_a_2_0_1_signed_meter_value_is_captured_and_its_plain_value_kept() -> None:
    read = one(
        {
            "value": 1234.5,
            "measurand": ENERGY_REGISTER,
            "context": "Transaction.End",
            "unit_of_measure": {"unit": "kWh", "multiplier": 0},
            "signed_meter_value": {
                "signed_meter_data": "T0NNRnwuLi4=",
                "signing_method": "ECDSA-secp256r1-SHA256",
                "encoding_method": "OCMF",
                "public_key": "3059301306072A8648CE3D0201",
            },
        }
    )

    assert only_sample(read).energy_kwh == 1234.5
    assert read.signed == [
        SignedMeterValue(
            timestamp_ms=AT_MS,
            context="Transaction.End",
            measurand=ENERGY_REGISTER,
            data="T0NNRnwuLi4=",
            encoding_method="OCMF",
            signing_method="ECDSA-secp256r1-SHA256",
            public_key="3059301306072A8648CE3D0201",
        )
    ]
    assert read.dropped == []


def test_a_2_0_1_signed_value_with_an_empty_public_key_has_none() -> None:
    read = one(
        energy(
            10,
            signed_meter_value={
                "signed_meter_data": "abc",
                "signing_method": "",
                "encoding_method": "OCMF",
                "public_key": "",
            },
        )
    )

    assert read.signed[0].public_key is None


def test_a_2_0_1_signed_value_is_kept_even_when_its_plain_value_is_dropped() -> None:
    read = one(
        energy(
            -1,
            signed_meter_value={
                "signed_meter_data": "abc",
                "signing_method": "x",
                "encoding_method": "OCMF",
                "public_key": "",
            },
        )
    )

    assert [s.data for s in read.signed] == ["abc"]
    assert [d.measurand for d in read.dropped] == [ENERGY_REGISTER]
    assert only_sample(read).energy_kwh is None


def test_a_signed_value_of_a_measurand_the_ledger_does_not_keep_is_still_evidence() -> None:
    read = one({"value": "OCMF|...", "format": "SignedData", "measurand": "Voltage"})

    assert [(s.measurand, s.data) for s in read.signed] == [("Voltage", "OCMF|...")]


# --- Timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        "yesterday",
        "",
        None,
        1717443000,
        "2024-13-03T19:30:00Z",
        "2024-06-03T19:30:00+24:00",
        "1969-12-31T23:59:59Z",
        "2024-06-03T19:30:00",  # no zone, and zoneless timestamps are not tolerated
    ],
)
def test_an_unusable_timestamp_drops_that_meter_value_and_keeps_the_others(
    timestamp: Any,
) -> None:
    read = read_meter_values(
        [
            {"timestamp": AT, "sampled_value": [energy("1000")]},
            {"timestamp": timestamp, "sampled_value": [energy("2000"), soc("50")]},
            {"timestamp": LATER, "sampled_value": [energy("3000")]},
        ]
    )

    assert read.samples == [
        Sample(timestamp_ms=AT_MS, energy_kwh=1.0),
        Sample(timestamp_ms=LATER_MS, energy_kwh=3.0),
    ]
    assert len(read.dropped) == 1
    assert read.dropped[0].measurand == "timestamp"
    assert read.dropped[0].value == str(timestamp)
    assert read.dropped[0].reason
    assert read.zoneless_timestamps == 0


def test_a_timestamp_without_zone_is_refused_by_default() -> None:
    read = one(energy("1000"), timestamp="2024-06-03T19:30:00")

    assert read.samples == []
    assert read.dropped[0].measurand == "timestamp"
    assert "time zone" in read.dropped[0].reason
    assert read.zoneless_timestamps == 0


@pytest.mark.parametrize(
    "timestamp", ["2024-06-03T19:30:00", "2024-06-03 19:30:00", "2024-06-03T19:30:00.000123"]
)
def test_a_timestamp_without_zone_is_read_as_utc_when_tolerated(timestamp: str) -> None:
    read = one(energy("1000"), timestamp=timestamp, zoneless_as_utc=True)

    assert read.samples == [Sample(timestamp_ms=AT_MS, energy_kwh=1.0)]
    assert read.dropped == []
    assert read.zoneless_timestamps == 1


def test_zoneless_timestamps_are_counted_across_the_call_and_zoned_ones_are_not() -> None:
    read = read_meter_values(
        [
            {"timestamp": "2024-06-03T19:30:00", "sampled_value": [energy("1000")]},
            {"timestamp": "2024-06-03T21:35:00+02:00", "sampled_value": [energy("2000")]},
            {"timestamp": "2024-06-03T19:40:00", "sampled_value": [energy("3000")]},
        ],
        zoneless_as_utc=True,
    )

    assert [s.timestamp_ms for s in read.samples] == [AT_MS, LATER_MS, LATER_MS + 5 * 60_000]
    assert read.zoneless_timestamps == 2


def test_a_signed_value_carries_its_meter_values_timestamp() -> None:
    read = read_meter_values(
        [{"timestamp": LATER, "sampled_value": [{"value": "s", "format": "SignedData"}]}]
    )

    assert [s.timestamp_ms for s in read.signed] == [LATER_MS]


def test_a_meter_value_with_no_sampled_values_is_an_empty_sample() -> None:
    assert read_meter_value({"timestamp": AT}) == MeterValuesRead(
        samples=[Sample(timestamp_ms=AT_MS)], dropped=[], signed=[]
    )


def test_read_meter_values_gathers_the_calls_samples_drops_and_signed_values_in_order() -> None:
    read = read_meter_values(
        [
            {"timestamp": AT, "sampled_value": [energy("1000"), soc("120")]},
            {"timestamp": "bad", "sampled_value": [energy("1")]},
            {
                "timestamp": LATER,
                "sampled_value": [energy("x"), {"value": "sig", "format": "SignedData"}],
            },
        ]
    )

    assert read.samples == [
        Sample(timestamp_ms=AT_MS, energy_kwh=1.0),
        Sample(timestamp_ms=LATER_MS),
    ]
    assert [d.measurand for d in read.dropped] == [STATE_OF_CHARGE, "timestamp", ENERGY_REGISTER]
    assert [s.data for s in read.signed] == ["sig"]


def test_samples_from_meter_values_leaves_out_what_cannot_be_used() -> None:
    samples = samples_from_meter_values(
        [
            {"timestamp": "bad", "sampled_value": [energy("1")]},
            {"timestamp": AT, "sampled_value": [energy("x"), energy("2000", location="Inlet")]},
        ]
    )

    assert samples == [Sample(timestamp_ms=AT_MS, energy_kwh=2.0)]


# --- Property: any mixture is accounted for and never raises -------------------------------

# Values are drawn in three kinds: good (must be used), bad (must be dropped) and junk
# (anything at all: used or dropped, never an exception).

junk_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["NaN", "-inf", "1e999", "", " ", "1,5", "0x10", "12 kWh", "Wh", "L1"])
)
junk = st.recursive(
    junk_leaves,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)

GOOD, BAD, JUNK, SIGNED_1_6, SIGNED_2_0_1, UNKEPT = (
    "good",
    "bad",
    "junk",
    "signed 1.6",
    "signed 2.0.1",
    "unkept",
)


@dataclass(frozen=True)
class Drawn:
    kind: str
    measurand: str
    sampled: dict[str, Any]


def number_text(value: float) -> st.SearchStrategy[Any]:
    """A 1.6 string or a 2.0.1 number for the same value."""
    return st.sampled_from([repr(value), value])


locations = st.sampled_from([None, "Outlet", "Inlet", "EV", "Cable", "Body"])
phases = st.sampled_from([None, "L1", "L2", "L3", "N", "L1-N", "L1-L2"])


@st.composite
def good_values(draw: st.DrawFn) -> Drawn:
    measurand = draw(st.sampled_from(KEPT_MEASURANDS))
    fields: dict[str, Any] = {"measurand": measurand}
    if (location := draw(locations)) is not None:
        fields["location"] = location
    if (phase := draw(phases)) is not None:
        fields["phase"] = phase
    if measurand == STATE_OF_CHARGE:
        fields["value"] = draw(number_text(draw(st.floats(0, 100))))
    elif measurand == ENERGY_REGISTER:
        unit = draw(st.sampled_from(["Wh", "kWh"]))
        fields["value"] = draw(number_text(draw(st.floats(0, 1e6))))
        if draw(st.booleans()):
            fields["unit"] = unit
        else:
            fields["unit_of_measure"] = {"unit": unit, "multiplier": draw(st.integers(-9, 3))}
    else:
        unit = draw(st.sampled_from(["W", "kW"]))
        fields["value"] = draw(number_text(draw(st.floats(-1e4, 1e4))))
        if draw(st.booleans()):
            fields["unit"] = unit
        else:
            fields["unit_of_measure"] = {"unit": unit, "multiplier": draw(st.integers(-9, 1))}
    return Drawn(GOOD, measurand, fields)


not_numbers = st.sampled_from(
    [None, True, False, "", "abc", "NaN", "nan", "inf", "-Infinity", "1e999", "12 kWh", "1,5"]
) | st.lists(st.integers(), max_size=2)


@st.composite
def bad_values(draw: st.DrawFn) -> Drawn:
    measurand = draw(st.sampled_from(KEPT_MEASURANDS))
    fields: dict[str, Any] = {"measurand": measurand}
    defect = draw(st.sampled_from(["not a number", "out of range", "unit", "multiplier"]))
    fields["value"] = draw(number_text(1.0))
    if defect == "not a number":
        fields["value"] = draw(not_numbers)
    elif defect == "out of range":
        if measurand == STATE_OF_CHARGE:
            fields["value"] = draw(number_text(draw(st.sampled_from([-1.0, -0.5, 100.5, 120.0]))))
        elif measurand == ENERGY_REGISTER:
            fields["unit"] = "kWh"
            fields["value"] = draw(number_text(draw(st.sampled_from([-1.0, -1e-3, 1.5e9, 1e300]))))
        else:
            fields["unit"] = "kW"
            fields["value"] = draw(number_text(draw(st.sampled_from([1.5e5, -1e6, 1e300]))))
    elif defect == "unit" and measurand != STATE_OF_CHARGE:  # SoC has no unit to get wrong
        fields["unit"] = draw(st.sampled_from(["varh", "kvarh", "A", "V", "Percent", "MWh"]))
    else:
        multiplier = draw(st.sampled_from([10, -10, 100, "2", 1.5, [1]]))
        if measurand == STATE_OF_CHARGE:
            fields["value"] = draw(number_text(-1.0))  # SoC ignores units and multipliers
        else:
            fields["unit_of_measure"] = {"multiplier": multiplier}
    return Drawn(BAD, measurand, fields)


@st.composite
def junk_values(draw: st.DrawFn) -> Drawn:
    measurand = draw(st.sampled_from(KEPT_MEASURANDS))
    fields: dict[str, Any] = {"measurand": measurand, "value": draw(junk)}
    for key in ("unit", "unit_of_measure", "phase", "location", "context"):
        if draw(st.booleans()):
            fields[key] = draw(junk)
    return Drawn(JUNK, measurand, fields)


@st.composite
def other_values(draw: st.DrawFn) -> Drawn:
    """Signed values (1.6 and 2.0.1) and measurands the ledger does not keep."""
    kind = draw(st.sampled_from([SIGNED_1_6, SIGNED_2_0_1, UNKEPT]))
    if kind == SIGNED_1_6:
        measurand = draw(st.sampled_from([*KEPT_MEASURANDS, "Voltage"]))
        return Drawn(
            kind, measurand, {"value": draw(junk), "format": "SignedData", "measurand": measurand}
        )
    if kind == SIGNED_2_0_1:
        measurand = ENERGY_REGISTER
        signed = {
            "signed_meter_data": draw(junk),
            "signing_method": draw(junk),
            "encoding_method": "OCMF",
            "public_key": draw(junk),
        }
        # The plain value beside it is a good one, so it is used (and not dropped).
        value = draw(number_text(draw(st.floats(0, 1e6))))
        return Drawn(
            kind,
            measurand,
            {"value": value, "measurand": measurand, "signed_meter_value": signed},
        )
    measurand = draw(
        st.sampled_from(["Voltage", "Current.Import", "Energy.Active.Export.Register", "RPM"])
    )
    return Drawn(kind, measurand, {"value": draw(junk), "measurand": measurand})


drawn_values = good_values() | bad_values() | junk_values() | other_values()
good_timestamps = st.sampled_from(
    [AT, LATER, "2024-06-03T21:30:00+02:00", "2024-06-03T19:30:00.123456Z"]
)
bad_timestamps = st.sampled_from(["", "now", "2024-06-03T19:30:00", "2024-02-30T00:00:00Z"]) | (
    junk.filter(lambda value: not isinstance(value, str))
)


@given(
    calls=st.lists(
        st.tuples(st.booleans(), good_timestamps, bad_timestamps, st.lists(drawn_values)),
        max_size=4,
    )
)
def test_any_mixture_of_values_is_accounted_for_and_never_raises(
    calls: list[tuple[bool, str, Any, list[Drawn]]],
) -> None:
    """Every value is used, dropped with a reason, signed, or of a measurand not kept; every
    kept value is finite and within bounds; good values are never dropped, bad ones always."""
    meter_values = [
        {
            "timestamp": good if usable else bad,
            "sampled_value": [drawn.sampled for drawn in values],
        }
        for usable, good, bad, values in calls
    ]

    read = read_meter_values(meter_values)

    usable_calls = [values for usable, _, _, values in calls if usable]
    unusable_calls = [values for usable, _, _, values in calls if not usable]
    assert len(read.samples) == len(usable_calls)
    timestamp_drops = [d for d in read.dropped if d.measurand == "timestamp"]
    value_drops = [d for d in read.dropped if d.measurand != "timestamp"]
    assert len(timestamp_drops) == len(unusable_calls)

    drawn = [value for values in usable_calls for value in values]
    kinds = Counter(value.kind for value in drawn)
    assert len(read.signed) == kinds[SIGNED_1_6] + kinds[SIGNED_2_0_1]
    assert kinds[BAD] <= len(value_drops) <= kinds[BAD] + kinds[JUNK]
    assert all(isinstance(d, DroppedValue) and d.reason for d in read.dropped)
    assert all(len(d.value) <= 80 for d in read.dropped)
    dropped_measurands = Counter(d.measurand for d in value_drops)
    for measurand in KEPT_MEASURANDS:
        bad_of_measurand = sum(1 for v in drawn if v.kind == BAD and v.measurand == measurand)
        junk_of_measurand = sum(1 for v in drawn if v.kind == JUNK and v.measurand == measurand)
        assert bad_of_measurand <= dropped_measurands[measurand]
        assert dropped_measurands[measurand] <= bad_of_measurand + junk_of_measurand

    for sample, values in zip(read.samples, usable_calls, strict=True):
        kept = {
            ENERGY_REGISTER: sample.energy_kwh,
            POWER: sample.power_kw,
            STATE_OF_CHARGE: sample.soc_pct,
        }
        for measurand, value in kept.items():
            usable = [
                v for v in values if v.kind in (GOOD, SIGNED_2_0_1) and v.measurand == measurand
            ]
            if usable:  # a usable value of the measurand is never lost
                assert value is not None
        if sample.energy_kwh is not None:
            assert math.isfinite(sample.energy_kwh)
            # per-phase values are added up: at most three phases of the bound
            assert 0 <= sample.energy_kwh <= 3 * MAX_REGISTER_KWH
        if sample.power_kw is not None:
            assert math.isfinite(sample.power_kw)
            assert abs(sample.power_kw) <= 3 * MAX_POWER_KW
        if sample.soc_pct is not None:
            assert math.isfinite(sample.soc_pct)
            assert 0 <= sample.soc_pct <= 3 * 100


@given(value=junk, unit=junk, multiplier=junk, measurand=st.sampled_from(KEPT_MEASURANDS))
def test_a_single_value_is_either_kept_within_bounds_or_dropped_with_a_reason(
    value: Any, unit: Any, multiplier: Any, measurand: str
) -> None:
    """One value with no phase: kept values are finite and within the module's bounds."""
    for sampled in (
        {"value": value, "measurand": measurand, "unit": unit},
        {"value": value, "measurand": measurand, "unit_of_measure": {"unit": unit}},
        {
            "value": value,
            "measurand": measurand,
            "unit_of_measure": {"unit": unit, "multiplier": multiplier},
        },
    ):
        read = one(sampled)
        sample = only_sample(read)
        kept = {
            ENERGY_REGISTER: sample.energy_kwh,
            POWER: sample.power_kw,
            STATE_OF_CHARGE: sample.soc_pct,
        }[measurand]
        assert (kept is None) == (len(read.dropped) == 1)
        if kept is None:
            assert read.dropped[0].reason
            continue
        assert math.isfinite(kept)
        if measurand == ENERGY_REGISTER:
            assert 0 <= kept <= MAX_REGISTER_KWH
        elif measurand == POWER:
            assert -MAX_POWER_KW <= kept <= MAX_POWER_KW
        else:
            assert 0 <= kept <= 100


# ---- ranges of what a charger sends and what was stored ---------------------------------


@pytest.mark.parametrize(
    ("allowed", "admitted", "refused"),
    [
        (REGISTER_WH, [0, 1, 10**12], [-1, 10**12 + 1, 10**30, 2**63, True, 1.0, "5", None]),
        (CONNECTOR_IDS, [0, 1, 2**31 - 1], [-1, 2**31, 2**40, False]),
        (SEQ_NOS, [0, 2**63 - 1], [-1, 2**63, 2**70, -(2**63) - 1]),
    ],
)
def test_an_integer_range_admits_integers_within_it_only(
    allowed: Any, admitted: list[Any], refused: list[Any]
) -> None:
    assert all(allowed.admits(value) for value in admitted)
    assert not any(allowed.admits(value) for value in refused)


def test_an_integer_range_says_itself_as_a_charger_event_shows_it() -> None:
    assert str(REGISTER_WH) == "0 to 1000000000000 Wh"
    assert str(SEQ_NOS) == f"0 to {2**63 - 1}"


@pytest.mark.parametrize(
    ("stored_kwh", "used"),
    [(0.0, 0.0), (1234.5, 1234.5), (MAX_REGISTER_KWH, MAX_REGISTER_KWH), (None, None)]
    + [(bad, None) for bad in (-0.001, 1.7e305, math.inf, -math.inf, math.nan)],
)
def test_a_stored_register_out_of_range_is_not_used(stored_kwh: float | None, used: Any) -> None:
    assert register_kwh(stored_kwh) == used


def test_a_stored_sample_keeps_only_its_values_in_range() -> None:
    sample = Sample(AT_MS, energy_kwh=1.7e305, power_kw=11.0, soc_pct=50.0)
    assert within_ranges(sample) == Sample(AT_MS, None, 11.0, 50.0)
    assert within_ranges(Sample(AT_MS, 10.0, math.nan, 101.0)) == Sample(AT_MS, 10.0, None, None)
    assert within_ranges(Sample(AT_MS, 10.0, -MAX_POWER_KW, 0.0)) == Sample(
        AT_MS, 10.0, -MAX_POWER_KW, 0.0
    )


@given(
    st.floats(allow_nan=True, allow_infinity=True) | st.none(),
    st.floats(allow_nan=True, allow_infinity=True) | st.none(),
    st.floats(allow_nan=True, allow_infinity=True) | st.none(),
)
def test_whatever_was_stored_what_is_used_is_in_range(
    energy: float | None, power: float | None, soc: float | None
) -> None:
    used = within_ranges(Sample(AT_MS, energy, power, soc))
    assert used.energy_kwh is None or 0 <= used.energy_kwh <= MAX_REGISTER_KWH
    assert used.power_kw is None or -MAX_POWER_KW <= used.power_kw <= MAX_POWER_KW
    assert used.soc_pct is None or 0 <= used.soc_pct <= 100
