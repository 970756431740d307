"""Another tenant's webhook is not found, in the same words as one that never existed, by every
operation; trying leaves it as it was."""

import uuid

from chargeledger.storage.database import Database
from tests.support.api import TenantApi
from tests.support.problems import assert_problem
from tests.webhooks.log_rows import create_webhook, insert_delivery, record_events


async def test_another_tenants_webhook_is_not_found_like_a_missing_one(
    api: TenantApi, other_api: TenantApi, database: Database
) -> None:
    (event,) = await record_events(database, api.tenant_id, ["charge-session.created"])
    theirs = await create_webhook(api)
    url = f"/v1/webhooks/{theirs['id']}"
    delivery = await insert_delivery(
        database,
        tenant_id=api.tenant_id,
        webhook_id=theirs["id"],
        event=event,
        status="delivered",
        created_ms=0,
    )
    missing = uuid.uuid4()

    for webhook_id in (theirs["id"], missing):
        path = f"/v1/webhooks/{webhook_id}"
        for answer in (
            await other_api.http.get(path),
            await other_api.http.patch(path, json={"enabled": False}),
            await other_api.http.post(f"{path}/secret/rotate"),
            await other_api.http.get(f"{path}/deliveries"),
            await other_api.http.get(f"{path}/deliveries/{delivery}"),
            await other_api.http.post(f"{path}/deliveries/{delivery}/redeliver"),
            await other_api.http.delete(path),
        ):
            assert assert_problem(answer, 404)["detail"] == f"webhook {webhook_id} was not found"
    assert (await other_api.http.get("/v1/webhooks")).json()["data"] == []

    shown = (await api.http.get(url)).json()
    assert shown == {key: value for key, value in theirs.items() if key != "secret"}
    log = (await api.http.get(f"{url}/deliveries")).json()["data"]
    assert [(item["id"], item["status"]) for item in log] == [(str(delivery), "delivered")]


async def test_a_list_token_of_one_tenant_is_refused_to_another(
    api: TenantApi, other_api: TenantApi
) -> None:
    for _ in range(2):
        await create_webhook(api)
    first = (await api.http.get("/v1/webhooks", params={"pageSize": 1})).json()
    token = first["meta"]["continuationToken"]
    response = await other_api.http.get("/v1/webhooks", params={"continuationToken": token})
    assert "another list" in assert_problem(response, 400)["detail"]
