"""Bodies and calls the rate-plan tests share."""

from typing import Any

from tests.support.api import TenantApi

Q4_2026 = {"validFrom": "2026-10-01", "validTo": "2027-01-01"}


def plan_body(name: str = "Contract price", currency: str = "EUR", **fields: Any) -> dict[str, Any]:
    return {"name": name, "currency": currency, **fields}


async def create_plan(api: TenantApi, **fields: Any) -> dict[str, Any]:
    response = await api.http.post("/v1/rate-plans", json=plan_body(**fields))
    assert response.status_code == 201, response.text
    plan: dict[str, Any] = response.json()
    return plan


async def import_csv(api: TenantApi, text: str | bytes, content_type: str = "text/csv") -> Any:
    content = text.encode() if isinstance(text, str) else text
    return await api.http.post(
        "/v1/rate-plans/import", content=content, headers={"Content-Type": content_type}
    )
