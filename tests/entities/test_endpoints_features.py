"""Entity Settings > Features: CaptureChargeSessions, listed and switched per entity."""

import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import TenantApi, session_body

PROBLEM = "application/problem+json"
CAPTURE = "CaptureChargeSessions"
NON_CHARGING_TYPES = ["Battery", "HeatPump", "SolarPlant", "Meter", "RetrofitMeter", "Inverter"]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem of that status: the media type and the four members."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str), body
        assert body[member], body
    return body


async def features(api: TenantApi, entity_id: str) -> Any:
    response = await api.http.get(f"/v1/entities/{entity_id}/features")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


@pytest.mark.parametrize("entity_type", ["EV", "ChargePoint"])
async def test_capture_is_enabled_by_default_for_charging_entities(
    api: TenantApi, entity_type: str
) -> None:
    entity = await api.create_entity(entity_type)
    assert await features(api, entity["id"]) == [{"feature": CAPTURE, "enabled": True}]


@pytest.mark.parametrize("entity_type", NON_CHARGING_TYPES)
async def test_capture_is_disabled_for_entities_that_do_not_charge(
    api: TenantApi, entity_type: str
) -> None:
    entity = await api.create_entity(entity_type)
    assert await features(api, entity["id"]) == [{"feature": CAPTURE, "enabled": False}]


async def test_disabling_capture_returns_the_statuses_and_persists(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.patch(
        f"/v1/entities/{entity['id']}/features", json={"feature": CAPTURE, "enabled": False}
    )
    assert response.status_code == 200, response.text
    assert response.json() == [{"feature": CAPTURE, "enabled": False}]
    assert await features(api, entity["id"]) == [{"feature": CAPTURE, "enabled": False}]


async def test_capture_can_be_enabled_again(api: TenantApi) -> None:
    entity = await api.create_entity("ChargePoint")
    url = f"/v1/entities/{entity['id']}/features"
    await api.http.patch(url, json={"feature": CAPTURE, "enabled": False})
    response = await api.http.patch(url, json={"feature": CAPTURE, "enabled": True})
    assert response.status_code == 200, response.text
    assert response.json() == [{"feature": CAPTURE, "enabled": True}]
    assert await features(api, entity["id"]) == [{"feature": CAPTURE, "enabled": True}]


async def test_setting_the_current_value_again_is_harmless(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    url = f"/v1/entities/{entity['id']}/features"
    for _ in range(2):
        response = await api.http.patch(url, json={"feature": CAPTURE, "enabled": True})
        assert response.status_code == 200, response.text
        assert response.json() == [{"feature": CAPTURE, "enabled": True}]


@pytest.mark.parametrize("feature", ["CaptureReadings", "captureChargeSessions", ""])
async def test_unknown_feature_is_400_naming_feature(api: TenantApi, feature: str) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.patch(
        f"/v1/entities/{entity['id']}/features", json={"feature": feature, "enabled": False}
    )
    body = assert_problem(response, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-input"
    assert [error["name"] for error in body["errors"]] == ["feature"]
    assert await features(api, entity["id"]) == [{"feature": CAPTURE, "enabled": True}]


async def test_missing_enabled_is_400_naming_it(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.patch(
        f"/v1/entities/{entity['id']}/features", json={"feature": CAPTURE}
    )
    body = assert_problem(response, 400)
    assert body["errors"] == [{"name": "enabled", "in": "body", "detail": "is required"}]


async def test_enabling_capture_on_a_heat_pump_is_409(api: TenantApi) -> None:
    entity = await api.create_entity("HeatPump")
    response = await api.http.patch(
        f"/v1/entities/{entity['id']}/features", json={"feature": CAPTURE, "enabled": True}
    )
    body = assert_problem(response, 409)
    assert body["type"] == "urn:chargeledger:problem:conflict"
    assert body["title"] == "Conflict"
    assert "HeatPump" in body["detail"]
    assert await features(api, entity["id"]) == [{"feature": CAPTURE, "enabled": False}]


async def test_disabling_capture_on_a_heat_pump_is_allowed(api: TenantApi) -> None:
    entity = await api.create_entity("HeatPump")
    response = await api.http.patch(
        f"/v1/entities/{entity['id']}/features", json={"feature": CAPTURE, "enabled": False}
    )
    assert response.status_code == 200, response.text
    assert response.json() == [{"feature": CAPTURE, "enabled": False}]


async def test_features_of_an_unknown_entity_are_404(api: TenantApi) -> None:
    missing = uuid.uuid4()
    assert_problem(await api.http.get(f"/v1/entities/{missing}/features"), 404)
    response = await api.http.patch(
        f"/v1/entities/{missing}/features", json={"feature": CAPTURE, "enabled": False}
    )
    assert assert_problem(response, 404)["detail"] == f"entity {missing} was not found"


async def test_other_tenant_cannot_switch_my_entitys_feature(
    api: TenantApi, other_api: TenantApi
) -> None:
    entity = await api.create_entity("EV")
    response = await other_api.http.patch(
        f"/v1/entities/{entity['id']}/features", json={"feature": CAPTURE, "enabled": False}
    )
    assert_problem(response, 404)
    assert await features(api, entity["id"]) == [{"feature": CAPTURE, "enabled": True}]


async def test_no_session_is_recorded_while_capture_is_disabled(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    await api.http.patch(
        f"/v1/entities/{entity['id']}/features", json={"feature": CAPTURE, "enabled": False}
    )
    response = await api.post_session(
        entity["id"], session_body("s1", "2024-05-27T13:00:00Z", "2024-05-27T15:00:00Z")
    )
    body = assert_problem(response, 409)
    assert body["type"] == "urn:chargeledger:problem:capture-disabled"
    listed = await api.list_sessions(entity["id"], start="2024-05-01T00:00:00Z")
    assert listed.json()["data"] == []
