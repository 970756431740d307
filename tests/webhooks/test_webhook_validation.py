"""What /v1/webhooks refuses: problem+json 400s that name the field and say what is wrong."""

import pytest

from tests.support.api import TenantApi
from tests.support.problems import assert_problem, error_detail
from tests.webhooks.log_rows import RECEIVER_URL, create_webhook


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://hooks.example.com/in", "http:// or https://"),
        ("/hooks/relative", "http:// or https://"),
        ("hooks.example.com/in", "http:// or https://"),
        ("https://user:password@hooks.example.com/in", "user name or password"),
        ("https://token@hooks.example.com/in", "user name or password"),
        ("https://hooks.example.com/in#part", "fragment"),
        ("https:///in", "host"),
        ("https://hooks.example.com:99999/in", "not a valid URL"),
        ("https://hooks.example.com/in put", "spaces or control characters"),
        ("https://hooks.example.com/\nin", "spaces or control characters"),
        ("https://hooks.example.com/" + "a" * 2030, "at most 2048"),
        ("", "at least 1"),
    ],
)
async def test_urls_that_are_not_absolute_plain_http_are_refused(
    api: TenantApi, url: str, says: str
) -> None:
    response = await api.http.post("/v1/webhooks", json={"url": url})
    body = assert_problem(response, 400, names=["url"])
    assert says in error_detail(body, "url")
    created = await create_webhook(api)
    patched = await api.http.patch(f"/v1/webhooks/{created['id']}", json={"url": url})
    assert says in error_detail(assert_problem(patched, 400, names=["url"]), "url")


async def test_a_url_of_2048_characters_is_accepted(api: TenantApi) -> None:
    url = "https://hooks.example.com/" + "a" * (2048 - len("https://hooks.example.com/"))
    assert len(url) == 2048
    assert (await create_webhook(api, url=url))["url"] == url


async def test_an_unknown_event_type_is_refused_listing_the_known_ones(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/webhooks",
        json={"url": RECEIVER_URL, "eventTypes": ["charge-session.created", "session.created"]},
    )
    body = assert_problem(response, 400, names=["eventTypes.1"])
    detail = error_detail(body, "eventTypes.1")
    assert "'session.created'" in detail
    for known in (
        "charge-session.created",
        "charge-session.updated",
        "charge-session.removed",
        "statement.finalised",
    ):
        assert known in detail
    assert (await api.http.get("/v1/webhooks")).json()["data"] == []


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({}, "url"),
        ({"url": RECEIVER_URL, "enabled": "true"}, "enabled"),
        ({"url": RECEIVER_URL, "eventTypes": "charge-session.created"}, "eventTypes"),
        ({"url": RECEIVER_URL, "description": "x" * 501}, "description"),
        ({"url": RECEIVER_URL, "secret": "whsec_mine"}, "secret"),
    ],
)
async def test_malformed_bodies_are_refused_naming_the_field(
    api: TenantApi, body: dict[str, object], name: str
) -> None:
    assert_problem(await api.http.post("/v1/webhooks", json=body), 400, names=[name])


async def test_ids_that_are_not_uuids_are_refused(api: TenantApi) -> None:
    response = await api.http.get("/v1/webhooks/not-a-uuid")
    assert_problem(response, 400, names=["webhookId"])


async def test_an_unknown_delivery_status_filter_is_refused(api: TenantApi) -> None:
    created = await create_webhook(api)
    response = await api.http.get(
        f"/v1/webhooks/{created['id']}/deliveries", params={"status": "lost"}
    )
    assert_problem(response, 400, names=["status"])


async def test_without_a_token_nothing_is_answered(api: TenantApi) -> None:
    api.http.headers.pop("Authorization")
    response = await api.http.get("/v1/webhooks")
    assert_problem(response, 401)
