"""GET /v1/webhooks/{id}/deliveries (and one delivery): what the dispatcher recorded, newest
first, each with its attempts; paged with tokens bound to the status filter."""

from urllib.parse import parse_qs, urlsplit

from chargeledger.domain.instants import format_instant
from chargeledger.storage.database import Database
from tests.support.api import TenantApi
from tests.support.problems import assert_problem
from tests.webhooks.log_rows import DAY_MS, create_webhook, insert_delivery, record_events

T0_MS = 1_717_000_000_000  # 2024-05-29T16:26:40Z


async def test_the_log_shows_each_delivery_and_its_attempts_newest_first(
    api: TenantApi, database: Database
) -> None:
    created_event, updated_event, removed_event = await record_events(
        database,
        api.tenant_id,
        ["charge-session.created", "charge-session.updated", "charge-session.removed"],
    )
    webhook = await create_webhook(api)
    delivered = await insert_delivery(
        database,
        tenant_id=api.tenant_id,
        webhook_id=webhook["id"],
        event=created_event,
        status="delivered",
        created_ms=T0_MS,
        attempts=[
            {
                "started_ms": T0_MS,
                "duration_ms": 10_000,
                "response_status": None,
                "error": "timed out after 10 s",
            },
            {
                "started_ms": T0_MS + 15_000,
                "duration_ms": 87,
                "response_status": 204,
                "error": None,
            },
        ],
        next_attempt_ms=T0_MS + 15_000,
        last_attempt_ms=T0_MS + 15_000,
        last_response_status=204,
        delivered_ms=T0_MS + 15_087,
    )
    failed = await insert_delivery(
        database,
        tenant_id=api.tenant_id,
        webhook_id=webhook["id"],
        event=updated_event,
        status="failed",
        created_ms=T0_MS + 1_000,
        attempts=[
            {
                "started_ms": T0_MS + 1_000,
                "duration_ms": 3,
                "response_status": None,
                "error": "address 10.0.0.7 is private",
            }
        ],
        last_attempt_ms=T0_MS + 1_000,
        last_error="address 10.0.0.7 is private",
    )
    pending = await insert_delivery(
        database,
        tenant_id=api.tenant_id,
        webhook_id=webhook["id"],
        event=removed_event,
        status="pending",
        created_ms=T0_MS + 2_000,
        attempts=[
            {
                "started_ms": T0_MS + 2_000,
                "duration_ms": 41,
                "response_status": 500,
                "error": "the receiver answered 500",
            }
        ],
        last_attempt_ms=T0_MS + 2_000,
        last_response_status=500,
        last_error="the receiver answered 500",
    )

    response = await api.http.get(f"/v1/webhooks/{webhook['id']}/deliveries")
    assert response.status_code == 200, response.text
    page = response.json()
    assert [item["id"] for item in page["data"]] == [str(pending), str(failed), str(delivered)]
    assert page["links"] == {"next": None}
    assert page["meta"] == {"continuationToken": None, "pageSize": 25}
    assert page["data"][2] == {
        "id": str(delivered),
        "eventId": str(created_event.id),
        "eventType": "charge-session.created",
        "eventSequence": created_event.sequence,
        "status": "delivered",
        "attempts": 2,
        "created": "2024-05-29T16:26:40Z",
        "nextAttempt": None,
        "lastAttempt": "2024-05-29T16:26:55Z",
        "lastResponseStatus": 204,
        "lastError": None,
        "delivered": "2024-05-29T16:26:55.087Z",
        "attemptHistory": [
            {
                "attempt": 1,
                "started": "2024-05-29T16:26:40Z",
                "durationMs": 10_000,
                "responseStatus": None,
                "error": "timed out after 10 s",
            },
            {
                "attempt": 2,
                "started": "2024-05-29T16:26:55Z",
                "durationMs": 87,
                "responseStatus": 204,
                "error": None,
            },
        ],
    }
    failed_item, pending_item = page["data"][1], page["data"][0]
    assert (failed_item["status"], failed_item["eventType"], failed_item["nextAttempt"]) == (
        "failed",
        "charge-session.updated",
        None,
    )
    assert failed_item["lastError"] == "address 10.0.0.7 is private"
    assert pending_item["status"] == "pending"
    assert pending_item["nextAttempt"] == format_instant(T0_MS + 2_000 + DAY_MS)
    assert pending_item["attemptHistory"][0]["responseStatus"] == 500

    one = await api.http.get(f"/v1/webhooks/{webhook['id']}/deliveries/{delivered}")
    assert one.status_code == 200, one.text
    assert one.json() == page["data"][2]


async def test_a_webhook_without_deliveries_has_an_empty_log(api: TenantApi) -> None:
    webhook = await create_webhook(api)
    page = (await api.http.get(f"/v1/webhooks/{webhook['id']}/deliveries")).json()
    assert page == {
        "data": [],
        "links": {"next": None},
        "meta": {"continuationToken": None, "pageSize": 25},
    }


async def test_the_log_pages_by_status_with_tokens_bound_to_the_filter(
    api: TenantApi, database: Database
) -> None:
    events = await record_events(database, api.tenant_id, ["charge-session.created"] * 6)
    webhook = await create_webhook(api)
    failed = []
    # Five failed ones created in the same millisecond (the id breaks the tie) and one
    # delivered one among them that the filter leaves out.
    for index, event in enumerate(events):
        status = "delivered" if index == 2 else "failed"
        delivery_id = await insert_delivery(
            database,
            tenant_id=api.tenant_id,
            webhook_id=webhook["id"],
            event=event,
            status=status,
            created_ms=T0_MS,
        )
        if status == "failed":
            failed.append(str(delivery_id))
    url = f"/v1/webhooks/{webhook['id']}/deliveries"

    seen: list[str] = []
    response = await api.http.get(url, params={"status": "failed", "pageSize": 2})
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["data"]]
        assert {item["status"] for item in page["data"]} == {"failed"}
        if page["links"]["next"] is None:
            break
        query = parse_qs(urlsplit(page["links"]["next"]).query)
        assert query["status"] == ["failed"]
        assert query["pageSize"] == ["2"]
        response = await api.http.get(page["links"]["next"])
    assert seen == sorted(failed, reverse=True)

    first = (await api.http.get(url, params={"status": "failed", "pageSize": 2})).json()
    token = first["meta"]["continuationToken"]
    for params in ({}, {"status": "delivered"}):
        refused = await api.http.get(url, params={**params, "continuationToken": token})
        assert "another list" in assert_problem(refused, 400)["detail"]
    listed = await api.http.get("/v1/webhooks", params={"continuationToken": token})
    assert_problem(listed, 400)


async def test_another_webhooks_delivery_is_not_found_under_this_one(
    api: TenantApi, database: Database
) -> None:
    (event,) = await record_events(database, api.tenant_id, ["charge-session.created"])
    first = await create_webhook(api)
    second = await create_webhook(api)
    delivery = await insert_delivery(
        database,
        tenant_id=api.tenant_id,
        webhook_id=first["id"],
        event=event,
        status="delivered",
        created_ms=T0_MS,
    )
    response = await api.http.get(f"/v1/webhooks/{second['id']}/deliveries/{delivery}")
    body = assert_problem(response, 404)
    assert body["detail"] == f"delivery {delivery} of webhook {second['id']} was not found"
    assert (await api.http.get(f"/v1/webhooks/{second['id']}/deliveries")).json()["data"] == []
