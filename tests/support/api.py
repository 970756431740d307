"""A tenant's authenticated HTTP client for the live server, and request bodies."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx


@dataclass
class TenantApi:
    """One tenant, its API client's credentials, and an httpx client carrying its token."""

    http: httpx.AsyncClient
    tenant_id: UUID
    client_id: UUID
    client_secret: str

    async def create_entity(self, entity_type: str = "EV", **fields: Any) -> dict[str, Any]:
        body = {"type": entity_type, "name": fields.pop("name", f"test {entity_type}"), **fields}
        response = await self.http.post("/v1/entities", json=body)
        assert response.status_code == 201, response.text
        entity: dict[str, Any] = response.json()
        return entity

    async def create_location(self, entity_id: str, **fields: Any) -> dict[str, Any]:
        body = {"label": "Home", "latitude": 50.87405, "longitude": 4.70043, **fields}
        response = await self.http.post(f"/v1/entities/{entity_id}/locations", json=body)
        assert response.status_code == 201, response.text
        location: dict[str, Any] = response.json()
        return location

    async def post_session(self, entity_id: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(f"/v1/entities/{entity_id}/charge-sessions", json=body)

    async def list_sessions(self, entity_id: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"/v1/entities/{entity_id}/charge-sessions", params=params)

    @classmethod
    async def logged_in(cls, http: httpx.AsyncClient, credentials: Any) -> "TenantApi":
        """Authenticates the client with `credentials` (auth.ClientCredentials) on `http`,
        which then carries the token."""
        response = await http.post(
            "/v1/authentication",
            json={
                "clientId": str(credentials.client_id),
                "clientSecret": credentials.client_secret,
            },
        )
        assert response.status_code == 200, response.text
        http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return cls(
            http=http,
            tenant_id=credentials.tenant_id,
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
        )


def session_body(
    external_id: str,
    start: str,
    end: str,
    *,
    total_kwh: float | None = 10.0,
    tiers_kwh: tuple[float, float, float, float] | None = None,
    soc: tuple[float, float] | None = (20.0, 80.0),
    range_km: tuple[float, float] | None = (100.0, 400.0),
    position: tuple[float, float] | None = None,
    accuracy_m: float | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """A POST /charge-sessions body; t1 carries the whole total unless tiers are given."""
    body: dict[str, Any] = {"externalId": external_id, "start": start, "end": end}
    charge: dict[str, Any] = {}
    if total_kwh is not None:
        t1, t2, t3, t4 = tiers_kwh or (total_kwh, 0.0, 0.0, 0.0)
        charge["total"] = {
            "t1": t1,
            "t2": t2,
            "t3": t3,
            "t4": t4,
            "total": total_kwh,
            "unit": "kWh",
        }
    if soc is not None:
        charge["start"] = {"unit": "%", "value": soc[0]}
        charge["end"] = {"unit": "%", "value": soc[1]}
    body["charge"] = charge
    if range_km is not None:
        body["range"] = {
            "start": {"unit": "km", "value": range_km[0]},
            "end": {"unit": "km", "value": range_km[1]},
        }
    if position is not None or address is not None:
        location: dict[str, Any] = {"address": address}
        if position is not None:
            location["latitude"], location["longitude"] = position
        if accuracy_m is not None:
            location["accuracy"] = accuracy_m
        body["location"] = location
    return body
