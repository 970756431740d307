"""Drafts computed on the real database (in-process, rolled back): what counts, at which price,
rounded how, for which driver. Every expected amount is worked out by hand in the test."""

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.reimbursement.statements import statement_document
from chargeledger.domain.tariffs import TariffCalendar, make_rule
from chargeledger.statements.service import HashedDocument, compute_draft
from tests.statements.builders import ELSEWHERE, Fleet, local_ms, period_of

ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# Day (t1) from 07:00 to 22:00 every day, night (t2) the rest: a simple day/night meter.
DAY_NIGHT = TariffCalendar(
    time_zone="Europe/Brussels",
    rules=(make_rule("t1", ALL_DAYS, "07:00", "22:00"),),
    default_register="t2",
)


async def draft_document(
    connection: AsyncConnection, fleet: Fleet, driver_id: Any, period: str
) -> dict[str, Any]:
    statement = await compute_draft(connection, fleet.tenant_id, driver_id, period_of(period))
    return statement_document(statement)


async def test_a_session_over_the_dst_night_is_split_by_the_wall_clock_and_priced_per_register(
    connection: AsyncConnection,
) -> None:
    """Saturday 2026-10-24 20:00 CEST to Sunday 09:00 CET, 14 kWh at constant power over
    14 elapsed hours (18:00Z to 08:00Z): the clocks went back at 03:00, so the night
    22:00 CEST -> 07:00 CET lasts 10 hours, not 9.
      t1 (day):   20:00-22:00 (2 h) + 07:00-09:00 (2 h) = 4 h -> 4.000 kWh
      t2 (night): 22:00 CEST (20:00Z) -> 07:00 CET (06:00Z) = 10 h -> 10.000 kWh
    Priced day 0.30, night 0.20: 4 x 0.30 + 10 x 0.20 = 1.20 + 2.00 = 3.20 EUR."""
    fleet = await Fleet.create(connection)
    driver_id = await fleet.driver()
    car_id = await fleet.entity("EV")
    await fleet.assign(driver_id, "car", entity_id=car_id)
    plan_id = await fleet.plan([("2026-01-01", None, {"t1": "0.30", "t2": "0.20"})])
    await fleet.give_plan(driver_id, plan_id)
    await fleet.session(
        car_id, "2026-10-24 20:00", "2026-10-25 09:00", kwh=14.0, calendar=DAY_NIGHT
    )

    document = await draft_document(connection, fleet, driver_id, "2026-10")

    (line,) = document["lines"]
    assert line["start"] == "2026-10-24T18:00:00Z"
    assert line["end"] == "2026-10-25T08:00:00Z"
    assert line["energy"] == {
        "t1": "4.000",
        "t2": "10.000",
        "t3": "0.000",
        "t4": "0.000",
        "total": "14.000",
        "unit": "kWh",
    }
    assert line["prices"] == {
        "t1": "0.30",
        "t2": "0.20",
        "t3": "0.30",
        "t4": "0.30",
        "unit": "EUR/kWh",
    }
    assert line["amount"] == "3.20"
    assert document["totals"]["amount"] == "3.20"
    assert document["problems"] == []


async def test_a_rate_change_on_the_first_of_a_quarter_goes_by_the_local_start_date(
    connection: AsyncConnection,
) -> None:
    """The plan costs 0.25 until 2026-10-01 and 0.30 from then. A session starting
    2026-09-30 23:30 local (21:30Z) is priced at 0.25: 10 kWh -> 2.50. One starting
    2026-10-01 00:30 local is priced at 0.30 although it is still September in UTC
    (2026-09-30T22:30Z): 10 kWh -> 3.00."""
    fleet = await Fleet.create(connection)
    driver_id = await fleet.driver()
    car_id = await fleet.entity("EV")
    await fleet.assign(driver_id, "car", entity_id=car_id)
    plan_id = await fleet.plan(
        [
            ("2026-07-01", "2026-10-01", {"t1": "0.25"}),
            ("2026-10-01", "2027-01-01", {"t1": "0.30"}),
        ]
    )
    await fleet.give_plan(driver_id, plan_id)
    await fleet.session(car_id, "2026-09-30 23:30", "2026-10-01 00:15", kwh=10.0)
    await fleet.session(car_id, "2026-10-01 00:30", "2026-10-01 02:00", kwh=10.0)

    both = await draft_document(connection, fleet, driver_id, "2026-09-01/2026-11-01")
    q3 = await draft_document(connection, fleet, driver_id, "2026-Q3")
    q4 = await draft_document(connection, fleet, driver_id, "2026-Q4")

    september, october = both["lines"]
    assert september["start"] == "2026-09-30T21:30:00Z"
    assert (september["amount"], september["rate"]["validFrom"]) == ("2.50", "2026-07-01")
    assert october["start"] == "2026-09-30T22:30:00Z"
    assert (october["amount"], october["rate"]["validFrom"]) == ("3.00", "2026-10-01")
    assert both["totals"]["amount"] == "5.50"  # 2.50 + 3.00
    assert [line["start"] for line in q3["lines"]] == ["2026-09-30T21:30:00Z"]
    assert [line["start"] for line in q4["lines"]] == ["2026-09-30T22:30:00Z"]


async def test_a_charge_seen_by_the_car_and_the_home_charge_point_counts_once_from_the_meter(
    connection: AsyncConnection,
) -> None:
    """The car (at Home, matched with accuracy 1.0 >= 0.5) reports 21.4 kWh from its state of
    charge, 18:00-21:00; the home charge point's OCPP meter 20.1 kWh, 18:05-20:55. They
    overlap: one charge, counted from the charger's meter (the stronger evidence), the car's
    session named in alsoSeenBy. 20.1 x 0.30 = 6.03 (not 21.4 x 0.30 = 6.42, not both)."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    charger_id = await fleet.entity("ChargePoint", name="wallbox")
    await fleet.assign(driver_id, "homeChargePoint", entity_id=charger_id)
    car = await fleet.session(
        car_id,
        "2026-10-12 18:00",
        "2026-10-12 21:00",
        kwh=21.4,
        source="readings",
        energy_method="stateOfCharge",
    )
    meter = await fleet.session(
        charger_id, "2026-10-12 18:05", "2026-10-12 20:55", kwh=20.1, source="ocpp", at=None
    )

    document = await draft_document(connection, fleet, driver_id, "2026-10")

    (line,) = document["lines"]
    assert (line["entityId"], line["sessionId"]) == (str(charger_id), str(meter.id))
    assert line["countedAs"] == "homeChargePoint"
    assert line["energy"]["total"] == "20.100"
    assert line["amount"] == "6.03"
    assert line["evidence"] == {
        "kind": "chargerMeter",
        "uncertaintyKwh": None,
        "alsoSeenBy": [
            {"entityId": str(car_id), "sessionId": str(car.id), "evidence": "stateOfCharge"}
        ],
    }
    assert document["totals"]["amount"] == "6.03"


async def test_a_car_session_counts_only_at_home(connection: AsyncConnection) -> None:
    """10 kWh at home and 30 kWh in Antwerp: only the home session is reimbursed, 3.00."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    await fleet.session(car_id, "2026-10-05 19:00", "2026-10-05 21:00", kwh=10.0)
    await fleet.session(car_id, "2026-10-06 12:00", "2026-10-06 13:00", kwh=30.0, at=ELSEWHERE)

    document = await draft_document(connection, fleet, driver_id, "2026-10")

    assert [line["energy"]["total"] for line in document["lines"]] == ["10.000"]
    assert document["lines"][0]["location"]["label"] == "Home"
    assert document["totals"]["amount"] == "3.00"


async def test_a_car_reassigned_mid_month_gives_each_driver_the_sessions_of_their_own_days(
    connection: AsyncConnection,
) -> None:
    """The car is An's until 2026-10-16 (exclusive), Bart's from then. Sessions on 10-10
    (10 kWh), on 10-16 at 00:30 local (still 10-15 in UTC: 22:30Z; 20 kWh) and on 10-20
    (5 kWh). An: 10 x 0.30 = 3.00. Bart: (20 + 5) x 0.40 = 10.00."""
    fleet = await Fleet.create(connection)
    car_id = await fleet.entity("EV")
    an = await fleet.driver("An")
    bart = await fleet.driver("Bart")
    await fleet.assign(an, "car", entity_id=car_id, valid_from="2026-01-01", valid_to="2026-10-16")
    await fleet.assign(bart, "car", entity_id=car_id, valid_from="2026-10-16")
    await fleet.give_plan(an, await fleet.plan([("2026-01-01", None, {"t1": "0.30"})]))
    await fleet.give_plan(bart, await fleet.plan([("2026-01-01", None, {"t1": "0.40"})]))
    await fleet.session(car_id, "2026-10-10 20:00", "2026-10-10 22:00", kwh=10.0)
    await fleet.session(car_id, "2026-10-16 00:30", "2026-10-16 03:00", kwh=20.0)
    await fleet.session(car_id, "2026-10-20 20:00", "2026-10-20 21:00", kwh=5.0)

    for_an = await draft_document(connection, fleet, an, "2026-10")
    for_bart = await draft_document(connection, fleet, bart, "2026-10")

    assert [line["start"] for line in for_an["lines"]] == ["2026-10-10T18:00:00Z"]
    assert for_an["totals"]["amount"] == "3.00"
    assert [line["start"] for line in for_bart["lines"]] == [
        "2026-10-15T22:30:00Z",
        "2026-10-20T18:00:00Z",
    ]
    assert [line["amount"] for line in for_bart["lines"]] == ["8.00", "2.00"]
    assert for_bart["totals"]["amount"] == "10.00"


async def test_each_line_is_rounded_half_up_once_and_the_total_is_the_sum_of_the_lines(
    connection: AsyncConnection,
) -> None:
    """At 0.30 per kWh:
      3.335 kWh -> 1.0005 -> 1.00
      3.350 kWh -> 1.005  -> 1.01 (half up; half-even would say 1.00)
      0.015 kWh -> 0.0045 -> 0.00, three times
    Total = 1.00 + 1.01 + 0.00 + 0.00 + 0.00 = 2.01, not the rounded exact sum
    (1.0005 + 1.005 + 3 x 0.0045 = 2.019 -> 2.02). 3.335 as a float is 3.33499..., yet the
    stored Wh are exactly 3335."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    for day, kwh in ((1, 3.335), (2, 3.35), (3, 0.015), (4, 0.015), (5, 0.015)):
        await fleet.session(car_id, f"2026-10-0{day} 20:00", f"2026-10-0{day} 21:00", kwh=kwh)

    document = await draft_document(connection, fleet, driver_id, "2026-10")

    assert [line["amount"] for line in document["lines"]] == [
        "1.00",
        "1.01",
        "0.00",
        "0.00",
        "0.00",
    ]
    assert document["totals"]["amount"] == "2.01"
    assert document["totals"]["energy"]["total"] == "6.730"  # 3.335 + 3.350 + 3 x 0.015
    assert sum(Decimal(line["amount"]) for line in document["lines"]) == Decimal("2.01")


async def test_a_driver_without_sessions_has_a_statement_with_no_lines_and_total_zero(
    connection: AsyncConnection,
) -> None:
    fleet = await Fleet.create(connection)
    driver_id, _ = await fleet.driver_with_car()

    document = await draft_document(connection, fleet, driver_id, "2026-10")

    assert document["lines"] == []
    assert document["totals"]["amount"] == "0.00"
    assert (document["totals"]["sessionLines"], document["totals"]["adjustmentLines"]) == (0, 0)
    assert document["problems"] == []
    assert document["status"] == "draft"
    assert (document["id"], document["number"], document["finalised"]) == (None, None, None)
    assert document["currency"] == "EUR"


async def test_a_session_without_a_rate_is_a_problem_of_the_draft(
    connection: AsyncConnection,
) -> None:
    """The plan starts on 2026-10-15: a session on 10-10 has no price (amount 0.00 and a
    problem that says why), one on 10-20 is priced (5 x 0.30 = 1.50)."""
    fleet = await Fleet.create(connection)
    driver_id = await fleet.driver()
    car_id = await fleet.entity("EV")
    await fleet.assign(driver_id, "car", entity_id=car_id)
    await fleet.give_plan(
        driver_id, await fleet.plan([("2026-10-15", None, {"t1": "0.30"})]), valid_from="2026-10-01"
    )
    await fleet.session(car_id, "2026-10-10 20:00", "2026-10-10 21:00", kwh=4.0)
    await fleet.session(car_id, "2026-10-20 20:00", "2026-10-20 21:00", kwh=5.0)

    document = await draft_document(connection, fleet, driver_id, "2026-10")

    unpriced, priced = document["lines"]
    assert (unpriced["amount"], unpriced["prices"]) == ("0.00", None)
    assert unpriced["problem"] == "rate plan 'Employee contract' has no price for 2026-10-10"
    assert priced["amount"] == "1.50"
    assert document["problems"] == [
        "line 1: rate plan 'Employee contract' has no price for 2026-10-10"
    ]


async def test_the_draft_hash_is_of_the_canonical_document_and_stable(
    connection: AsyncConnection,
) -> None:
    """Computed twice with nothing changed: the same bytes and hash; the served bytes are the
    canonical document with contentSha256 spliced in at the end."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car()
    await fleet.session(car_id, "2026-10-05 19:00", "2026-10-05 21:00", kwh=10.0)

    first = HashedDocument.of(
        await compute_draft(connection, fleet.tenant_id, driver_id, period_of("2026-10"))
    )
    second = HashedDocument.of(
        await compute_draft(connection, fleet.tenant_id, driver_id, period_of("2026-10"))
    )

    assert first.content == second.content
    assert first.content_sha256 == second.content_sha256
    served = first.response_bytes()
    assert served.startswith(first.content[:-1])
    assert served.endswith(f',"contentSha256":"{first.content_sha256}"}}'.encode())


async def test_a_session_starting_outside_the_period_is_not_in_it(
    connection: AsyncConnection,
) -> None:
    """Local midnights bound the period: 2026-10-31 23:59 local is October (22:59Z), 2026-11-01
    00:00 local (2026-10-31T23:00Z) is November."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car()
    await fleet.session(car_id, "2026-10-31 23:59", "2026-11-01 01:00", kwh=1.0)
    await fleet.session(car_id, "2026-11-01 00:00", "2026-11-01 01:00", kwh=2.0)

    october = await draft_document(connection, fleet, driver_id, "2026-10")
    november = await draft_document(connection, fleet, driver_id, "2026-11")

    assert [line["energy"]["total"] for line in october["lines"]] == ["1.000"]
    assert [line["energy"]["total"] for line in november["lines"]] == ["2.000"]
    assert local_ms("2026-11-01 00:00") == 1_793_487_600_000  # 2026-10-31T23:00Z


async def test_a_home_charge_point_session_started_by_another_drivers_tag_is_not_counted(
    connection: AsyncConnection,
) -> None:
    """An's wallbox charges three times: with Bart's tag (a colleague's car: not An's), with
    An's own tag, and with a tag nobody holds (the charger's free-charging tag: An's).
    An is paid 2 + 3 = 5 kWh at 0.30 = 1.50; the 7 kWh of Bart's tag are not An's."""
    fleet = await Fleet.create(connection)
    an = await fleet.driver("An")
    bart = await fleet.driver("Bart")
    wallbox = await fleet.entity("ChargePoint", name="wallbox")
    await fleet.assign(an, "homeChargePoint", entity_id=wallbox)
    await fleet.assign(an, "idTag", id_tag="AN-TAG")
    await fleet.assign(bart, "idTag", id_tag="BART-TAG")
    await fleet.give_plan(an, await fleet.plan([("2026-01-01", None, {"t1": "0.30"})]))
    for day, tag, kwh in ((3, "BART-TAG", 7.0), (4, "AN-TAG", 2.0), (5, "FREE", 3.0)):
        await fleet.session(
            wallbox,
            f"2026-10-0{day} 19:00",
            f"2026-10-0{day} 20:00",
            kwh=kwh,
            source="ocpp",
            id_tag=tag,
            at=None,
        )

    document = await draft_document(connection, fleet, an, "2026-10")

    assert [line["energy"]["total"] for line in document["lines"]] == ["2.000", "3.000"]
    assert {line["countedAs"] for line in document["lines"]} == {"homeChargePoint"}
    assert document["totals"]["amount"] == "1.50"


async def test_a_plan_capped_by_a_regional_maximum_pays_the_lower_price_per_register(
    connection: AsyncConnection,
) -> None:
    """The contract pays day 0.35 and night 0.20; the regional maximum is 0.2845 for both.
    Day is capped to 0.2845, night stays 0.20. 10 kWh day + 5 kWh night:
    10 x 0.2845 + 5 x 0.20 = 2.845 + 1.00 = 3.845 -> 3.85 (rounded once, half up)."""
    fleet = await Fleet.create(connection)
    driver_id = await fleet.driver()
    car_id = await fleet.entity("EV")
    await fleet.assign(driver_id, "car", entity_id=car_id)
    cap = await fleet.plan([("2026-10-01", "2027-01-01", {"t1": "0.2845"})], name="CREG maximum")
    contract = await fleet.plan(
        [("2026-01-01", None, {"t1": "0.35", "t2": "0.20"})], cap_plan_id=cap
    )
    await fleet.give_plan(driver_id, contract)
    await fleet.session(car_id, "2026-10-05 19:00", "2026-10-06 06:00", tiers=(10.0, 5.0, 0.0, 0.0))

    document = await draft_document(connection, fleet, driver_id, "2026-10")

    (line,) = document["lines"]
    assert line["prices"]["t1"] == "0.2845"
    assert line["prices"]["t2"] == "0.20"
    assert line["rate"] == {
        "planId": str(contract),
        "validFrom": "2026-01-01",
        "capped": ["t1", "t3", "t4"],
    }
    assert line["amount"] == "3.85"
