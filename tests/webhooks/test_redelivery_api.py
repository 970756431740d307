"""POST /v1/webhooks/{id}/deliveries/{deliveryId}/redeliver: a new pending delivery of the same
event, due now; refused while the original is pending or the webhook is disabled."""

import uuid
from uuid import UUID

import pytest

from chargeledger.storage.database import Database
from tests.support.api import TenantApi
from tests.support.problems import assert_problem
from tests.webhooks.log_rows import (
    create_webhook,
    delivery_row,
    insert_delivery,
    record_events,
)

T0_MS = 1_717_000_000_000


@pytest.mark.parametrize("status", ["delivered", "failed", "cancelled"])
async def test_redelivery_queues_the_same_event_again_due_now(
    api: TenantApi, database: Database, status: str
) -> None:
    (event,) = await record_events(database, api.tenant_id, ["charge-session.updated"])
    webhook = await create_webhook(api)
    original = await insert_delivery(
        database,
        tenant_id=api.tenant_id,
        webhook_id=webhook["id"],
        event=event,
        status=status,
        created_ms=T0_MS,
        attempts=[{"started_ms": T0_MS, "duration_ms": 5, "response_status": 200, "error": None}],
    )
    before = await delivery_row(database, original)

    response = await api.http.post(f"/v1/webhooks/{webhook['id']}/deliveries/{original}/redeliver")
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["id"] != str(original)
    assert response.headers["location"] == (
        f"/v1/webhooks/{webhook['id']}/deliveries/{queued['id']}"
    )
    assert queued == {
        "id": queued["id"],
        "eventId": str(event.id),
        "eventType": "charge-session.updated",
        "eventSequence": event.sequence,
        "status": "pending",
        "attempts": 0,
        "created": queued["created"],
        "nextAttempt": queued["created"],
        "lastAttempt": None,
        "lastResponseStatus": None,
        "lastError": None,
        "delivered": None,
        "attemptHistory": [],
    }
    # Only what no dispatcher changes: it may be claiming the new delivery by now.
    stored = await delivery_row(database, queued["id"])
    assert (stored.subscription_id, stored.tenant_id, stored.ordering_key) == (
        UUID(webhook["id"]),
        api.tenant_id,
        before.ordering_key,
    )
    # The original is left as it was, and the log lists the new one first.
    assert await delivery_row(database, original) == before
    log = (await api.http.get(f"/v1/webhooks/{webhook['id']}/deliveries")).json()["data"]
    assert [item["id"] for item in log] == [queued["id"], str(original)]
    # The location answers (the dispatcher may have tried it meanwhile: only its identity).
    fetched = await api.http.get(response.headers["location"])
    assert (fetched.json()["id"], fetched.json()["eventId"]) == (queued["id"], str(event.id))


async def test_a_pending_delivery_is_not_redelivered(api: TenantApi, database: Database) -> None:
    (event,) = await record_events(database, api.tenant_id, ["charge-session.created"])
    webhook = await create_webhook(api)
    pending = await insert_delivery(
        database,
        tenant_id=api.tenant_id,
        webhook_id=webhook["id"],
        event=event,
        status="pending",
        created_ms=T0_MS,
    )
    response = await api.http.post(f"/v1/webhooks/{webhook['id']}/deliveries/{pending}/redeliver")
    assert "still pending" in assert_problem(response, 409)["detail"]
    log = (await api.http.get(f"/v1/webhooks/{webhook['id']}/deliveries")).json()["data"]
    assert [item["id"] for item in log] == [str(pending)]


async def test_a_disabled_webhook_redelivers_nothing_until_enabled(
    api: TenantApi, database: Database
) -> None:
    (event,) = await record_events(database, api.tenant_id, ["charge-session.created"])
    webhook = await create_webhook(api, enabled=False)
    delivered = await insert_delivery(
        database,
        tenant_id=api.tenant_id,
        webhook_id=webhook["id"],
        event=event,
        status="delivered",
        created_ms=T0_MS,
    )
    path = f"/v1/webhooks/{webhook['id']}/deliveries/{delivered}/redeliver"
    body = assert_problem(await api.http.post(path), 409)
    assert "disabled" in body["detail"]
    assert "enabled: true" in body["detail"]

    enabled = await api.http.patch(f"/v1/webhooks/{webhook['id']}", json={"enabled": True})
    assert enabled.status_code == 200, enabled.text
    assert (await api.http.post(path)).status_code == 202


async def test_an_unknown_delivery_is_not_found(api: TenantApi) -> None:
    webhook = await create_webhook(api)
    missing = uuid.uuid4()
    response = await api.http.post(f"/v1/webhooks/{webhook['id']}/deliveries/{missing}/redeliver")
    body = assert_problem(response, 404)
    assert body["detail"] == f"delivery {missing} of webhook {webhook['id']} was not found"
