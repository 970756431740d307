"""The statement document as the OpenAPI document describes it: real documents with every kind
of line (a counted session seen twice, a line without a rate, an adjustment of a session that
no longer exists), drafts and finalised ones, validate against the published schemas, nulls
included. (Schemathesis checks the same over HTTP, but only reaches what it happens to seed.)"""

from typing import Any
from uuid import UUID

import jsonschema_rs
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.api.app import create_app
from chargeledger.statements.service import HashedDocument, compute_draft, finalise
from chargeledger.storage.database import Database
from tests.statements.builders import Fleet, local_ms, period_of
from tests.support.api import TenantApi

OPENAPI = create_app().openapi()


def validator(name: str) -> jsonschema_rs.Validator:
    """A validator of the named component, its references resolved in the OpenAPI document's
    components; formats (uuid, date, date-time) checked too."""
    return jsonschema_rs.validator_for(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"#/components/schemas/{name}",
            "components": OPENAPI["components"],
        },
        validate_formats=True,
    )


def assert_valid(name: str, document: Any) -> None:
    errors = [
        f"{list(error.instance_path)}: {error.message}"
        for error in validator(name).iter_errors(document)
    ]
    assert not errors, errors


async def rich_october(connection: AsyncConnection) -> tuple[Fleet, UUID]:
    """A driver whose October has a charge seen by car and wallbox, and whose November has a
    session without a rate and the adjustment of an October session that was removed."""
    fleet = await Fleet.create(connection)
    driver_id = await fleet.driver()
    car_id = await fleet.entity("EV")
    wallbox = await fleet.entity("ChargePoint")
    await fleet.assign(driver_id, "car", entity_id=car_id)
    await fleet.assign(driver_id, "homeChargePoint", entity_id=wallbox)
    plan = await fleet.plan(
        [("2026-01-01", "2026-11-15", {"t1": "0.30"}), ("2026-11-20", None, {"t1": "0.30"})]
    )
    await fleet.give_plan(driver_id, plan)
    await fleet.session(
        car_id,
        "2026-10-05 19:00",
        "2026-10-05 21:00",
        kwh=9.5,
        source="readings",
        energy_method="counter",
        uncertainty_kwh=0.4,
    )
    await fleet.session(
        wallbox, "2026-10-05 19:02", "2026-10-05 20:58", kwh=9.2, source="ocpp", at=None
    )
    await fleet.session(car_id, "2026-10-08 19:00", "2026-10-08 21:00", kwh=3.0, external_id="gone")
    return fleet, driver_id


async def test_drafts_and_finalised_documents_match_the_published_schema(
    connection: AsyncConnection,
) -> None:
    fleet, driver_id = await rich_october(connection)
    october_draft = HashedDocument.of(
        await compute_draft(connection, fleet.tenant_id, driver_id, period_of("2026-10"))
    )
    october = await finalise(
        connection,
        fleet.tenant_id,
        driver_id,
        period_of("2026-10"),
        None,
        local_ms("2026-11-02 09:00"),
    )
    car_id = UUID(october.document()["lines"][1]["entityId"])
    await fleet.remove(car_id, "gone", now_ms=local_ms("2026-11-05 09:00"))
    await fleet.session(car_id, "2026-11-16 19:00", "2026-11-16 20:00", kwh=1.0)
    november = HashedDocument.of(
        await compute_draft(connection, fleet.tenant_id, driver_id, period_of("2026-11"))
    )

    lines = november.document["lines"]
    assert [(line["kind"], line["problem"] is None) for line in lines] == [
        ("session", False),
        ("adjustment", True),
    ]
    assert october.document()["lines"][0]["evidence"]["alsoSeenBy"]
    for document in (october_draft.with_hash(), october.document(), november.with_hash()):
        assert_valid("StatementDocument", document)
    assert_valid("StatementDocument", orjson.loads(october.response_bytes()))


async def test_list_summaries_match_the_published_schema(
    api: TenantApi, database: Database
) -> None:
    async with database.write() as connection:
        fleet = await Fleet.create(connection, api.tenant_id)
        driver_id, _ = await fleet.driver_with_car()
    created = await api.http.post(f"/v1/drivers/{driver_id}/statements", json={"period": "2026-10"})
    assert created.status_code == 201, created.text

    listed = await api.http.get("/v1/statements")

    assert_valid("StatementPage", listed.json())
    assert_valid("StatementDocument", created.json())


@pytest.mark.parametrize("name", ["StatementDocument", "StatementPage"])
def test_the_schemas_are_published(name: str) -> None:
    assert name in OPENAPI["components"]["schemas"]
