"""/v1/webhooks through the HTTP API: create, list, get, change, delete; the secret shown once."""

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import sqlalchemy as sa

from chargeledger.storage.database import Database
from chargeledger.storage.tables import webhook_deliveries, webhook_subscriptions
from chargeledger.webhooks.service import MAX_WEBHOOKS_PER_TENANT
from tests.support.api import TenantApi
from tests.support.problems import assert_problem
from tests.webhooks.log_rows import (
    DAY_MS,
    RECEIVER_URL,
    assert_standard_webhooks_secret,
    create_webhook,
    delivery_row,
    insert_delivery,
    record_events,
)

RESOURCE_KEYS = {
    "id",
    "url",
    "description",
    "eventTypes",
    "enabled",
    "disabled",
    "disabledReason",
    "failingSince",
    "previousSecretExpires",
    "created",
    "updated",
}


async def subscription_row(database: Database, webhook_id: str) -> Any:
    async with database.read() as connection:
        return (
            await connection.execute(
                sa.select(webhook_subscriptions).where(
                    webhook_subscriptions.c.id == UUID(webhook_id)
                )
            )
        ).one()


async def test_created_webhook_shows_its_secret_once_and_never_again(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/webhooks",
        json={
            "url": RECEIVER_URL,
            "eventTypes": ["charge-session.created", "charge-session.removed"],
            "description": "Reimbursement system",
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == RESOURCE_KEYS | {"secret"}
    assert_standard_webhooks_secret(created["secret"])
    assert response.headers["location"] == f"/v1/webhooks/{created['id']}"
    assert created == {
        "id": created["id"],
        "url": RECEIVER_URL,
        "description": "Reimbursement system",
        "eventTypes": ["charge-session.created", "charge-session.removed"],
        "enabled": True,
        "disabled": None,
        "disabledReason": None,
        "failingSince": None,
        "previousSecretExpires": None,
        "created": created["created"],
        "updated": created["created"],
        "secret": created["secret"],
    }

    fetched = await api.http.get(response.headers["location"])
    assert fetched.status_code == 200, fetched.text
    without_secret = {key: value for key, value in created.items() if key != "secret"}
    assert fetched.json() == without_secret
    listed = await api.http.get("/v1/webhooks")
    assert listed.json()["data"] == [without_secret]
    for answer in (fetched, listed):
        assert created["secret"] not in answer.text


async def test_defaults_are_every_event_type_enabled_and_no_description(api: TenantApi) -> None:
    created = await create_webhook(api)
    assert created["eventTypes"] == []
    assert created["enabled"] is True
    assert created["description"] is None


async def test_a_webhook_created_disabled_says_since_when_and_why(api: TenantApi) -> None:
    created = await create_webhook(api, enabled=False)
    assert created["enabled"] is False
    assert created["disabled"] == created["created"]
    assert created["disabledReason"] == "disabled by the client"


async def test_repeated_event_types_are_kept_once(api: TenantApi) -> None:
    types = ["charge-session.updated", "charge-session.created", "charge-session.updated"]
    created = await create_webhook(api, eventTypes=types)
    assert created["eventTypes"] == ["charge-session.updated", "charge-session.created"]


async def test_the_list_pages_oldest_first_with_continuation_tokens(api: TenantApi) -> None:
    ids = [(await create_webhook(api, description=f"hook {index}"))["id"] for index in range(3)]
    first = (await api.http.get("/v1/webhooks", params={"pageSize": 2})).json()
    assert [item["id"] for item in first["data"]] == ids[:2]
    assert first["meta"]["pageSize"] == 2
    token = first["meta"]["continuationToken"]
    assert token is not None
    next_url = urlsplit(first["links"]["next"])
    assert next_url.path == "/v1/webhooks"
    assert parse_qs(next_url.query) == {"pageSize": ["2"], "continuationToken": [token]}

    second = (await api.http.get(first["links"]["next"])).json()
    assert [item["id"] for item in second["data"]] == ids[2:]
    assert second["links"]["next"] is None
    assert second["meta"]["continuationToken"] is None


async def test_an_altered_continuation_token_is_refused(api: TenantApi) -> None:
    for _ in range(2):
        await create_webhook(api)
    first = (await api.http.get("/v1/webhooks", params={"pageSize": 1})).json()
    token = first["meta"]["continuationToken"]
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = await api.http.get("/v1/webhooks", params={"continuationToken": altered})
    assert_problem(response, 400)


async def test_patch_changes_only_the_fields_given(api: TenantApi) -> None:
    created = await create_webhook(api, eventTypes=["charge-session.created"], description="before")
    url = f"/v1/webhooks/{created['id']}"

    moved = await api.http.patch(url, json={"url": "http://hooks.example.com:8080/v2?x=1"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["url"] == "http://hooks.example.com:8080/v2?x=1"
    assert moved.json()["eventTypes"] == ["charge-session.created"]
    assert moved.json()["description"] == "before"

    everything = await api.http.patch(url, json={"eventTypes": [], "description": None})
    assert everything.status_code == 200, everything.text
    changed = everything.json()
    assert changed["eventTypes"] == []
    assert changed["description"] is None
    assert changed["url"] == "http://hooks.example.com:8080/v2?x=1"
    assert changed["created"] == created["created"]
    assert (await api.http.get(url)).json() == changed


async def test_a_null_for_a_field_that_cannot_be_null_is_refused(api: TenantApi) -> None:
    created = await create_webhook(api)
    for name in ("url", "eventTypes", "enabled"):
        response = await api.http.patch(f"/v1/webhooks/{created['id']}", json={name: None})
        assert_problem(response, 400, names=[name])
    assert (await api.http.get(f"/v1/webhooks/{created['id']}")).json() == {
        key: value for key, value in created.items() if key != "secret"
    }


async def test_disabling_cancels_pending_deliveries_and_only_those(
    api: TenantApi, database: Database
) -> None:
    event, other = await record_events(
        database, api.tenant_id, ["charge-session.created", "charge-session.updated"]
    )
    created = await create_webhook(api)
    now_ms = (await subscription_row(database, created["id"])).created_ms
    pending = await insert_delivery(
        database,
        tenant_id=api.tenant_id,
        webhook_id=created["id"],
        event=event,
        status="pending",
        created_ms=now_ms,
    )
    delivered = await insert_delivery(
        database,
        tenant_id=api.tenant_id,
        webhook_id=created["id"],
        event=other,
        status="delivered",
        created_ms=now_ms,
        delivered_ms=now_ms,
    )

    response = await api.http.patch(f"/v1/webhooks/{created['id']}", json={"enabled": False})
    assert response.status_code == 200, response.text
    disabled = response.json()
    assert disabled["enabled"] is False
    assert disabled["disabledReason"] == "disabled by the client"
    assert disabled["disabled"] == disabled["updated"]
    assert (await delivery_row(database, pending)).status == "cancelled"
    assert (await delivery_row(database, delivered)).status == "delivered"


async def test_re_enabling_clears_the_record_of_failing_and_being_disabled(
    api: TenantApi, database: Database
) -> None:
    created = await create_webhook(api)
    # As the dispatcher leaves a subscription that failed for days.
    async with database.write() as connection:
        await connection.execute(
            sa.update(webhook_subscriptions)
            .where(webhook_subscriptions.c.id == UUID(created["id"]))
            .values(
                enabled=False,
                failing_since_ms=1_700_000_000_000,
                disabled_ms=1_700_000_000_000 + 5 * DAY_MS,
                disabled_reason="every delivery failed for 5 days",
            )
        )
    shown = (await api.http.get(f"/v1/webhooks/{created['id']}")).json()
    assert shown["enabled"] is False
    assert shown["failingSince"] == "2023-11-14T22:13:20Z"
    assert shown["disabled"] == "2023-11-19T22:13:20Z"
    assert shown["disabledReason"] == "every delivery failed for 5 days"

    response = await api.http.patch(f"/v1/webhooks/{created['id']}", json={"enabled": True})
    assert response.status_code == 200, response.text
    enabled = response.json()
    assert enabled["enabled"] is True
    assert (enabled["disabled"], enabled["disabledReason"], enabled["failingSince"]) == (
        None,
        None,
        None,
    )
    row = await subscription_row(database, created["id"])
    assert (row.enabled, row.disabled_ms, row.disabled_reason, row.failing_since_ms) == (
        True,
        None,
        None,
        None,
    )


async def test_a_deleted_webhook_is_gone_everywhere_and_its_pending_deliveries_cancelled(
    api: TenantApi, database: Database
) -> None:
    (event,) = await record_events(database, api.tenant_id, ["charge-session.created"])
    kept = await create_webhook(api)
    created = await create_webhook(api)
    row = await subscription_row(database, created["id"])
    pending = await insert_delivery(
        database,
        tenant_id=api.tenant_id,
        webhook_id=created["id"],
        event=event,
        status="pending",
        created_ms=row.created_ms,
    )
    url = f"/v1/webhooks/{created['id']}"

    deleted = await api.http.delete(url)
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""

    detail = f"webhook {created['id']} was not found"
    for answer in (
        await api.http.get(url),
        await api.http.patch(url, json={"enabled": True}),
        await api.http.delete(url),
        await api.http.post(f"{url}/secret/rotate"),
        await api.http.get(f"{url}/deliveries"),
        await api.http.get(f"{url}/deliveries/{pending}"),
        await api.http.post(f"{url}/deliveries/{pending}/redeliver"),
    ):
        assert assert_problem(answer, 404)["detail"] == detail
    listed = (await api.http.get("/v1/webhooks")).json()["data"]
    assert [item["id"] for item in listed] == [kept["id"]]
    assert (await delivery_row(database, pending)).status == "cancelled"
    # Soft: the row stays for its deliveries' sake.
    assert (await subscription_row(database, created["id"])).deleted_ms is not None


async def test_a_tenant_has_at_most_so_many_webhooks(api: TenantApi, database: Database) -> None:
    template = await create_webhook(api)
    row = await subscription_row(database, template["id"])
    copies = [
        {**row._asdict(), "id": uuid.uuid4(), "created_ms": row.created_ms + index}
        for index in range(1, MAX_WEBHOOKS_PER_TENANT)
    ]
    async with database.write() as connection:
        await connection.execute(sa.insert(webhook_subscriptions), copies)

    refused = await api.http.post("/v1/webhooks", json={"url": RECEIVER_URL})
    body = assert_problem(refused, 409)
    assert str(MAX_WEBHOOKS_PER_TENANT) in body["detail"]
    assert (await api.http.delete(f"/v1/webhooks/{template['id']}")).status_code == 204
    await create_webhook(api)


async def test_deleting_leaves_other_webhooks_deliveries_pending(
    api: TenantApi, database: Database
) -> None:
    (event,) = await record_events(database, api.tenant_id, ["charge-session.created"])
    kept = await create_webhook(api)
    removed = await create_webhook(api)
    created_ms = (await subscription_row(database, kept["id"])).created_ms
    kept_delivery = await insert_delivery(
        database,
        tenant_id=api.tenant_id,
        webhook_id=kept["id"],
        event=event,
        status="pending",
        created_ms=created_ms,
    )
    assert (await api.http.delete(f"/v1/webhooks/{removed['id']}")).status_code == 204
    async with database.read() as connection:
        status = await connection.scalar(
            sa.select(webhook_deliveries.c.status).where(webhook_deliveries.c.id == kept_delivery)
        )
    assert status == "pending"
