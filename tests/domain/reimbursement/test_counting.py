"""What counts for a driver (chargeledger.domain.reimbursement.counting): the car at Home with
enough accuracy, the home charge point unless another driver's tag started it, on the local
dates of the assignments; a charge seen by car and charge point counts once, from the
strongest evidence."""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain.reimbursement.counting import (
    Assignment,
    AssignmentKind,
    CountedAs,
    CountedSession,
    Policy,
    SessionFacts,
    counted_sessions,
)
from chargeledger.domain.reimbursement.evidence import Evidence
from tests.domain.reimbursement.factories import (
    CAR,
    CHARGE_POINT,
    DRIVER,
    DRIVER_ASSIGNMENTS,
    OTHER_DRIVER,
    assignment,
    session,
)

POLICY = Policy()


def count(
    sessions: Sequence[SessionFacts],
    assignments: Sequence[Assignment] = DRIVER_ASSIGNMENTS,
    tag_holders: Mapping[str, Sequence[Assignment]] | None = None,
    policy: Policy = POLICY,
) -> list[CountedSession]:
    return counted_sessions(
        DRIVER, sessions, assignments=assignments, tag_holders=tag_holders or {}, policy=policy
    )


def test_the_car_counts_at_home_with_enough_accuracy_only() -> None:
    at_home = session("2026-10-02T18:00", "2026-10-02T20:00", home_accuracy=0.5)
    unsure = session("2026-10-03T18:00", "2026-10-03T20:00", home_accuracy=0.49)
    elsewhere = session("2026-10-04T18:00", "2026-10-04T20:00", home_accuracy=None)
    counted = count([at_home, unsure, elsewhere])
    assert [c.facts for c in counted] == [at_home]
    assert counted[0].counted_as is CountedAs.CAR_AT_HOME
    stricter = Policy(minimum_accuracy=Decimal("0.8"))
    assert count([at_home], policy=stricter) == []


def test_the_home_label_is_the_policys_and_compared_without_case() -> None:
    thuis = session("2026-10-02T18:00", "2026-10-02T20:00", home_accuracy=None)
    thuis = replace(thuis, matches=(("THUIS", 0.9),))
    assert count([thuis]) == []
    assert len(count([thuis], policy=Policy(home_location_label="thuis"))) == 1


def test_assignments_count_on_the_local_date_the_session_started() -> None:
    # The car is the driver's until 2026-10-16 (exclusive), Brussels time. 2026-10-15T22:30Z is
    # 00:30 on the 16th in Brussels (CEST, UTC+2): no longer the driver's.
    handed_over = (assignment(AssignmentKind.CAR, entity=CAR, valid_to=date(2026, 10, 16)),)
    before = session("2026-10-15T21:30", "2026-10-15T23:00")  # 23:30 local on the 15th
    after = session("2026-10-15T22:30", "2026-10-16T01:00")
    assert [c.facts for c in count([before, after], assignments=handed_over)] == [before]


def test_a_home_charge_point_session_started_by_another_drivers_tag_does_not_count() -> None:
    colleague = session("2026-10-02T18:00", "2026-10-02T19:00", entity=CHARGE_POINT, id_tag="B")
    own = session("2026-10-03T18:00", "2026-10-03T19:00", entity=CHARGE_POINT, id_tag="A")
    free_vend = session("2026-10-04T18:00", "2026-10-04T19:00", entity=CHARGE_POINT, id_tag="FREE")
    holders = {
        "A": [assignment(AssignmentKind.ID_TAG, id_tag="A")],
        "B": [assignment(AssignmentKind.ID_TAG, driver=OTHER_DRIVER, id_tag="B")],
    }
    counted = count([colleague, own, free_vend], tag_holders=holders)
    assert [c.facts for c in counted] == [own, free_vend]
    assert {c.counted_as for c in counted} == {CountedAs.HOME_CHARGE_POINT}


def test_a_charge_seen_by_car_and_charge_point_counts_once_from_the_meter() -> None:
    car = session("2026-10-02T18:05", "2026-10-02T20:10", t1="20.4", energy_method="power")
    meter = session(
        "2026-10-02T18:00", "2026-10-02T20:00", entity=CHARGE_POINT, t1="20.0", source="ocpp"
    )
    counted = count([car, meter])
    assert len(counted) == 1
    assert counted[0].facts == meter
    assert counted[0].evidence is Evidence.CHARGER_METER
    assert [(s.session_id, s.evidence) for s in counted[0].also_seen] == [
        (car.session_id, Evidence.CAR_POWER)
    ]


def test_the_verified_meter_beats_everything_and_state_of_charge_loses_to_everything() -> None:
    verified = session(
        "2026-10-02T18:00",
        "2026-10-02T20:00",
        entity=CHARGE_POINT,
        source="ocpp",
        meter_evidence="verified",
    )
    counter = session("2026-10-02T18:01", "2026-10-02T20:00")
    assert count([counter, verified])[0].evidence is Evidence.VERIFIED_METER
    soc = session("2026-10-03T18:00", "2026-10-03T20:00", energy_method="stateOfCharge")
    posted = session(
        "2026-10-03T18:10",
        "2026-10-03T19:00",
        entity=CHARGE_POINT,
        source="external",
        energy_method=None,
    )
    assert count([soc, posted])[0].evidence is Evidence.CHARGER_METER


def test_two_sessions_of_one_kind_that_overlap_are_two_charges() -> None:
    # Two connectors of one charge point charging at once (two cars) are not one charge.
    first = session("2026-10-02T18:00", "2026-10-02T20:00", entity=CHARGE_POINT, source="ocpp")
    second = session("2026-10-02T19:00", "2026-10-02T21:00", entity=CHARGE_POINT, source="ocpp")
    assert len(count([first, second])) == 2


@st.composite
def charges(draw: st.DrawFn) -> list[SessionFacts]:
    made = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        hour = draw(st.integers(min_value=0, max_value=60))
        length = draw(st.integers(min_value=1, max_value=6))
        end_hour = hour + length
        start = f"2026-10-{1 + hour // 24:02d}T{hour % 24:02d}:00"
        end = f"2026-10-{1 + end_hour // 24:02d}T{end_hour % 24:02d}:00"
        entity = draw(st.sampled_from([CAR, CHARGE_POINT]))
        method = draw(st.sampled_from(["counter", "power", "stateOfCharge", None]))
        made.append(
            session(
                start,
                end,
                entity=entity,
                energy_method=method,
                source="ocpp" if entity == CHARGE_POINT else "readings",
            )
        )
    return made


@given(charges())
def test_every_counting_session_is_counted_or_named_exactly_once(
    sessions: list[SessionFacts],
) -> None:
    counted = count(sessions)
    named = [c.facts.session_id for c in counted] + [
        seen.session_id for c in counted for seen in c.also_seen
    ]
    assert sorted(map(str, named)) == sorted(str(s.session_id) for s in sessions)


@given(charges())
def test_no_two_counted_charges_of_car_and_charge_point_overlap_in_time(
    sessions: list[SessionFacts],
) -> None:
    counted = [c.facts for c in count(sessions)]
    for a in counted:
        for b in counted:
            if a.entity_kind is not b.entity_kind:
                assert a.end_ms <= b.start_ms or b.end_ms <= a.start_ms
