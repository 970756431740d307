"""Consistency rules of a charge record (chargeledger.domain.charge_record)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain.charge_record import (
    ChargeRecord,
    RecordProblem,
    TieredEnergyKwh,
    check_record,
)
from chargeledger.domain.location_matching import Position

START_MS = 1_716_814_800_000  # 2024-05-27T13:00:00Z
HOUR_MS = 3_600_000
END_PROBLEM = RecordProblem("end", "end must be after start")
SUM_PREFIX = "t1+t2+t3+t4 = "


def energy(
    t1: float = 0.0,
    t2: float = 0.0,
    t3: float = 0.0,
    t4: float = 0.0,
    *,
    total: float | None = None,
) -> TieredEnergyKwh:
    """Registers, with a total equal to their sum unless given."""
    return TieredEnergyKwh(t1, t2, t3, t4, t1 + t2 + t3 + t4 if total is None else total)


def record(
    *,
    hours: float = 2.0,
    tiers: TieredEnergyKwh | None = None,
    soc_start: float | None = None,
    soc_end: float | None = None,
    range_start: float | None = None,
    range_end: float | None = None,
) -> ChargeRecord:
    """30 kWh over 2 hours (15 kW) unless told otherwise."""
    return ChargeRecord(
        start_ms=START_MS,
        end_ms=START_MS + round(hours * HOUR_MS),
        energy=energy(20.0, 10.0) if tiers is None else tiers,
        soc_start_pct=soc_start,
        soc_end_pct=soc_end,
        range_start_km=range_start,
        range_end_km=range_end,
    )


def fields(problems: list[RecordProblem]) -> list[str]:
    return [problem.field for problem in problems]


# ---- a consistent record ----------------------------------------------------------------


def test_a_complete_consistent_record_has_no_problems() -> None:
    full = ChargeRecord(
        start_ms=START_MS,
        end_ms=START_MS + 2 * HOUR_MS,
        energy=TieredEnergyKwh(t1=12.5, t2=10.0, t3=5.0, t4=2.5, total=30.0),
        soc_start_pct=20.0,
        soc_end_pct=80.0,
        range_start_km=80.0,
        range_end_km=320.0,
        position=Position(50.8467, 4.3525, 10.0),
        address="Grote Markt 1, Brussel",
    )
    assert check_record(full, claimed_average_power_kw=15.0) == []


def test_a_record_with_only_start_and_end_has_no_problems() -> None:
    bare = ChargeRecord(start_ms=START_MS, end_ms=START_MS + 1, energy=None)
    assert check_record(bare) == []
    assert bare.average_power_kw is None


# ---- start and end ----------------------------------------------------------------------


@pytest.mark.parametrize("end_offset_ms", [0, -1, -HOUR_MS])
def test_end_not_after_start_is_rejected(end_offset_ms: int) -> None:
    bad = ChargeRecord(start_ms=START_MS, end_ms=START_MS + end_offset_ms, energy=None)
    assert check_record(bad) == [END_PROBLEM]


def test_end_one_millisecond_after_start_is_accepted() -> None:
    assert check_record(ChargeRecord(START_MS, START_MS + 1, energy(1.0))) == []


def test_with_end_before_start_there_is_no_average_power_and_a_claimed_one_is_not_judged() -> None:
    """Only the end problem: without a duration there is nothing to compare the claim with."""
    bad = ChargeRecord(start_ms=START_MS, end_ms=START_MS, energy=energy(30.0))
    assert bad.average_power_kw is None
    assert check_record(bad, claimed_average_power_kw=999.0) == [END_PROBLEM]


# ---- energy registers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "total",
    [
        15.0,
        15.0009,  # 0.0009 kWh over the registers
        14.9991,  # 0.0009 kWh under
        15.001,  # the tolerance itself is still within
        14.999,
    ],
)
def test_tiers_within_a_thousandth_kwh_of_the_total_pass(total: float) -> None:
    assert check_record(record(tiers=energy(10.0, 4.0, 0.75, 0.25, total=total))) == []


@pytest.mark.parametrize(
    ("total", "shown_total"),
    [
        (15.0011, "15.0011"),  # 0.0011 kWh over the registers
        (14.9989, "14.9989"),  # 0.0011 kWh under
        (16.0, "16"),
        (0.0, "0"),
    ],
)
def test_tiers_more_than_a_thousandth_kwh_off_the_total_fail_with_both_values_in_the_message(
    total: float, shown_total: str
) -> None:
    problems = check_record(record(tiers=energy(10.0, 4.0, 0.75, 0.25, total=total)))
    assert problems == [
        RecordProblem(
            "charge.total",
            f"t1+t2+t3+t4 = 15 kWh but total = {shown_total} kWh; they must agree within 0.001 kWh",
        )
    ]


@given(
    st.lists(st.floats(min_value=0, max_value=500), min_size=4, max_size=4),
    st.floats(min_value=-0.0009, max_value=0.0009),
)
def test_any_total_within_0_0009_kwh_of_the_registers_passes(
    registers: list[float], offset: float
) -> None:
    t1, t2, t3, t4 = registers
    total = t1 + t2 + t3 + t4 + offset
    if total < 0:
        total = 0.0  # registers near zero: still within tolerance, and not negative
    assert check_record(record(tiers=TieredEnergyKwh(t1, t2, t3, t4, total))) == []


@given(
    st.lists(st.floats(min_value=0, max_value=500), min_size=4, max_size=4),
    st.floats(min_value=0.0011, max_value=1000),
)
def test_any_total_more_than_0_0011_kwh_above_the_registers_fails(
    registers: list[float], offset: float
) -> None:
    t1, t2, t3, t4 = registers
    problems = check_record(
        record(tiers=TieredEnergyKwh(t1, t2, t3, t4, t1 + t2 + t3 + t4 + offset))
    )
    assert fields(problems) == ["charge.total"]
    assert problems[0].detail.startswith(SUM_PREFIX)


@pytest.mark.parametrize(
    ("tiers", "negative_field"),
    [
        (TieredEnergyKwh(-1.0, 11.0, 0.0, 0.0, 10.0), "charge.total.t1"),
        (TieredEnergyKwh(11.0, -1.0, 0.0, 0.0, 10.0), "charge.total.t2"),
        (TieredEnergyKwh(11.0, 0.0, -1.0, 0.0, 10.0), "charge.total.t3"),
        (TieredEnergyKwh(11.0, 0.0, 0.0, -1.0, 10.0), "charge.total.t4"),
        (TieredEnergyKwh(-0.0005, 0.0, 0.0, 0.0, -0.0005), "charge.total.t1"),
    ],
)
def test_a_negative_register_is_rejected_by_name(
    tiers: TieredEnergyKwh, negative_field: str
) -> None:
    problems = check_record(record(tiers=tiers))
    assert fields(problems)[0] == negative_field
    assert problems[0] == RecordProblem(negative_field, "energy must be between 0 and 10,000 kWh")


def test_a_negative_total_is_rejected() -> None:
    problems = check_record(record(tiers=TieredEnergyKwh(0.0, 0.0, 0.0, 0.0, -0.5)))
    assert problems[0] == RecordProblem(
        "charge.total.total", "energy must be between 0 and 10,000 kWh"
    )
    assert fields(problems) == ["charge.total.total", "charge.total"]


def test_zero_energy_is_accepted() -> None:
    assert check_record(record(tiers=energy(0.0))) == []


# ---- average power --------------------------------------------------------------------------


def test_average_power_is_total_energy_over_hours() -> None:
    """30 kWh over 2 h is 15 kW; 7.4 kWh over 45 min is 9.8666... kW."""
    assert record().duration_h == 2.0
    assert record().average_power_kw == 15.0
    quarter = record(hours=0.75, tiers=energy(7.4))
    assert quarter.duration_h == 0.75
    assert quarter.average_power_kw == pytest.approx(7.4 / 0.75, rel=1e-15)
    assert quarter.average_power_kw == pytest.approx(9.866667, abs=1e-6)


def test_average_power_is_none_without_energy() -> None:
    assert ChargeRecord(START_MS, START_MS + HOUR_MS, energy=None).average_power_kw is None


@pytest.mark.parametrize(
    ("claimed", "hours", "kwh"),
    [
        (15.0, 2.0, 30.0),
        (15.149, 2.0, 30.0),  # within 1 % of 15 kW (0.15 kW)
        (14.851, 2.0, 30.0),
        (0.509, 1.0, 0.5),  # 1 % of 0.5 kW is 0.005 kW, but 0.01 kW is always allowed
        (0.491, 1.0, 0.5),
        (0.0, 1.0, 0.005),  # 0.005 kW, within 0.01 kW of 0
        (150.0, 0.2, 30.0),
        (151.4, 0.2, 30.0),
    ],
)
def test_a_claimed_average_power_within_1_percent_or_0_01_kw_passes(
    claimed: float, hours: float, kwh: float
) -> None:
    assert check_record(record(hours=hours, tiers=energy(kwh)), claimed) == []


@pytest.mark.parametrize(
    ("claimed", "hours", "kwh", "claimed_text", "computed_text"),
    [
        (15.151, 2.0, 30.0, "15.151", "15"),
        (14.849, 2.0, 30.0, "14.849", "15"),
        (0.511, 1.0, 0.5, "0.511", "0.5"),
        (0.489, 1.0, 0.5, "0.489", "0.5"),
        (22.0, 0.75, 7.4, "22", "9.86667"),
        (151.6, 0.2, 30.0, "151.6", "150"),
        (0.0, 2.0, 30.0, "0", "15"),
    ],
)
def test_a_claimed_average_power_outside_tolerance_fails_naming_the_computed_value(
    claimed: float, hours: float, kwh: float, claimed_text: str, computed_text: str
) -> None:
    problems = check_record(record(hours=hours, tiers=energy(kwh)), claimed)
    assert problems == [
        RecordProblem(
            "charge.averagePower",
            f"averagePower {claimed_text} kW contradicts charge.total / (end - start) = "
            f"{computed_text} kW; leave averagePower out and it is computed",
        )
    ]


@given(
    st.floats(min_value=0.01, max_value=24.0),
    st.floats(min_value=1.0, max_value=200.0),
    st.floats(min_value=-0.0099, max_value=0.0099),
)
def test_any_claim_within_0_99_percent_of_the_computed_power_passes(
    hours: float, power_kw: float, fraction: float
) -> None:
    rec = record(hours=hours, tiers=energy(power_kw * hours))
    computed = rec.average_power_kw
    assert computed is not None
    assert check_record(rec, computed * (1 + fraction)) == []


@given(
    st.floats(min_value=0.01, max_value=24.0),
    st.floats(min_value=1.0, max_value=200.0),
    st.floats(min_value=0.0101, max_value=10.0),
    st.booleans(),
)
def test_any_claim_more_than_1_01_percent_off_the_computed_power_fails(
    hours: float, power_kw: float, fraction: float, below: bool
) -> None:
    rec = record(hours=hours, tiers=energy(power_kw * hours))
    computed = rec.average_power_kw
    assert computed is not None
    claimed = computed * (1 - fraction if below else 1 + fraction)
    problems = check_record(rec, claimed)
    assert fields(problems) == ["charge.averagePower"]
    assert f"= {computed:.6g} kW" in problems[0].detail


def test_a_claimed_average_power_without_energy_is_rejected() -> None:
    no_energy = ChargeRecord(START_MS, START_MS + HOUR_MS, energy=None)
    assert check_record(no_energy, claimed_average_power_kw=11.0) == [
        RecordProblem(
            "charge.averagePower",
            "averagePower is computed from charge.total and the duration; "
            "it cannot be given without charge.total",
        )
    ]
    assert check_record(no_energy) == []


def test_a_claimed_average_power_without_energy_or_duration_reports_both() -> None:
    bad = ChargeRecord(START_MS, START_MS, energy=None)
    assert fields(check_record(bad, 11.0)) == ["end", "charge.averagePower"]


# ---- state of charge and range -------------------------------------------------------------


@pytest.mark.parametrize("soc", [0.0, 0.001, 50.0, 99.999, 100.0])
def test_state_of_charge_from_0_to_100_inclusive_passes(soc: float) -> None:
    assert check_record(record(soc_start=soc, soc_end=soc)) == []


@pytest.mark.parametrize("soc", [-0.001, -1.0, 100.001, 101.0, 1000.0, float("nan")])
def test_state_of_charge_outside_0_to_100_is_rejected_at_start_and_at_end(soc: float) -> None:
    detail = "state of charge must be between 0 and 100 %"
    assert check_record(record(soc_start=soc)) == [RecordProblem("charge.start", detail)]
    assert check_record(record(soc_end=soc)) == [RecordProblem("charge.end", detail)]
    assert check_record(record(soc_start=soc, soc_end=soc)) == [
        RecordProblem("charge.start", detail),
        RecordProblem("charge.end", detail),
    ]


@pytest.mark.parametrize("km", [0.0, 0.1, 450.0, 10_000.0])
def test_zero_or_positive_range_passes(km: float) -> None:
    assert check_record(record(range_start=km, range_end=km)) == []


@pytest.mark.parametrize("km", [-0.001, -1.0, -450.0])
def test_negative_range_is_rejected_at_start_and_at_end(km: float) -> None:
    detail = "range must be between 0 and 10,000 km"
    assert check_record(record(range_start=km)) == [RecordProblem("range.start", detail)]
    assert check_record(record(range_end=km)) == [RecordProblem("range.end", detail)]


def test_every_problem_of_a_record_is_reported_in_field_order() -> None:
    bad = ChargeRecord(
        start_ms=START_MS,
        end_ms=START_MS - 1,
        energy=TieredEnergyKwh(-1.0, 0.0, 0.0, 0.0, 5.0),
        soc_start_pct=-5.0,
        soc_end_pct=105.0,
        range_start_km=-1.0,
        range_end_km=-2.0,
    )
    assert fields(check_record(bad, claimed_average_power_kw=3.0)) == [
        "end",
        "charge.total.t1",
        "charge.total",
        "charge.start",
        "charge.end",
        "range.start",
        "range.end",
    ]


# ---- property: consistent records ----------------------------------------------------------


@given(
    # From 2000 (EARLIEST_EVENT_MS) on: no charge session happened before.
    start=st.integers(min_value=946_684_800_000, max_value=253_402_300_799_999 - 30 * 86_400_000),
    duration_ms=st.integers(min_value=1, max_value=30 * 86_400_000),
    registers=st.lists(st.floats(min_value=0, max_value=1000), min_size=4, max_size=4),
    soc=st.tuples(st.floats(min_value=0, max_value=100), st.floats(min_value=0, max_value=100)),
    km=st.tuples(st.floats(min_value=0, max_value=2000), st.floats(min_value=0, max_value=2000)),
    claim=st.booleans(),
)
def test_any_record_built_by_the_rules_has_no_problems(
    start: int,
    duration_ms: int,
    registers: list[float],
    soc: tuple[float, float],
    km: tuple[float, float],
    claim: bool,
) -> None:
    rec = ChargeRecord(
        start_ms=start,
        end_ms=start + duration_ms,
        energy=energy(*registers),
        soc_start_pct=soc[0],
        soc_end_pct=soc[1],
        range_start_km=km[0],
        range_end_km=km[1],
    )
    claimed = sum(registers) / (duration_ms / HOUR_MS) if claim else None
    assert check_record(rec, claimed) == []
