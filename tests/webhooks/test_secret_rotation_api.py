"""POST /v1/webhooks/{id}/secret/rotate: a new secret shown once; the old one keeps signing
beside it for the hours asked (stored as previous_secret until previous_secret_expires_ms)."""

from typing import Any
from uuid import UUID

import sqlalchemy as sa

from chargeledger.domain.instants import parse_instant_ms
from chargeledger.storage.database import Database
from chargeledger.storage.tables import webhook_subscriptions
from tests.support.api import TenantApi
from tests.support.problems import assert_problem
from tests.webhooks.log_rows import assert_standard_webhooks_secret, create_webhook

HOUR_MS = 3_600_000


async def secrets_of(database: Database, webhook_id: str) -> Any:
    async with database.read() as connection:
        return (
            await connection.execute(
                sa.select(
                    webhook_subscriptions.c.secret,
                    webhook_subscriptions.c.previous_secret,
                    webhook_subscriptions.c.previous_secret_expires_ms,
                    webhook_subscriptions.c.updated_ms,
                ).where(webhook_subscriptions.c.id == UUID(webhook_id))
            )
        ).one()


async def rotate(api: TenantApi, webhook_id: str, **body: Any) -> dict[str, Any]:
    response = await api.http.post(
        f"/v1/webhooks/{webhook_id}/secret/rotate", json=body if body else None
    )
    assert response.status_code == 200, response.text
    rotated: dict[str, Any] = response.json()
    assert set(rotated) == {"id", "secret", "previousSecretExpires"}
    assert rotated["id"] == webhook_id
    assert_standard_webhooks_secret(rotated["secret"])
    return rotated


async def test_rotation_without_a_body_keeps_the_old_secret_signing_for_a_day(
    api: TenantApi, database: Database
) -> None:
    created = await create_webhook(api)
    rotated = await rotate(api, created["id"])
    assert rotated["secret"] != created["secret"]

    stored = await secrets_of(database, created["id"])
    assert stored.secret == rotated["secret"]
    assert stored.previous_secret == created["secret"]
    assert stored.previous_secret_expires_ms == stored.updated_ms + 24 * HOUR_MS
    assert parse_instant_ms(rotated["previousSecretExpires"]) == stored.previous_secret_expires_ms
    shown = (await api.http.get(f"/v1/webhooks/{created['id']}")).json()
    assert shown["previousSecretExpires"] == rotated["previousSecretExpires"]
    assert rotated["secret"] not in str(shown)


async def test_rotation_for_hours_given_and_zero_stops_the_old_secret_at_once(
    api: TenantApi, database: Database
) -> None:
    created = await create_webhook(api)
    first = await rotate(api, created["id"], expireCurrentInHours=72)
    stored = await secrets_of(database, created["id"])
    assert stored.previous_secret_expires_ms == stored.updated_ms + 72 * HOUR_MS

    second = await rotate(api, created["id"], expireCurrentInHours=0)
    assert second["previousSecretExpires"] is None
    stored = await secrets_of(database, created["id"])
    assert stored.secret == second["secret"]
    assert (stored.previous_secret, stored.previous_secret_expires_ms) == (None, None)
    assert first["secret"] not in (stored.secret, stored.previous_secret)


async def test_a_second_rotation_keeps_only_the_secret_it_replaces(
    api: TenantApi, database: Database
) -> None:
    created = await create_webhook(api)
    first = await rotate(api, created["id"])
    second = await rotate(api, created["id"], expireCurrentInHours=1)
    stored = await secrets_of(database, created["id"])
    assert (stored.secret, stored.previous_secret) == (second["secret"], first["secret"])
    assert stored.previous_secret_expires_ms == stored.updated_ms + HOUR_MS


async def test_hours_outside_0_to_72_are_refused_naming_the_field(
    api: TenantApi, database: Database
) -> None:
    created = await create_webhook(api)
    before = await secrets_of(database, created["id"])
    for hours in (-1, 73, 1.5, "24", True):
        response = await api.http.post(
            f"/v1/webhooks/{created['id']}/secret/rotate", json={"expireCurrentInHours": hours}
        )
        assert_problem(response, 400, names=["expireCurrentInHours"])
    assert await secrets_of(database, created["id"]) == before
