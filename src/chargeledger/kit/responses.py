"""Rows to response bytes. Lists are built as plain dicts and dumped with orjson: validating
a thousand records through pydantic on every page would cost more than the query."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response

from chargeledger.domain.instants import format_instant
from chargeledger.kit.paging import NO_FRAME, Page
from chargeledger.kit.path_alias import path_as_requested


def json_response(body: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def _measurement(unit: str, value: float | None) -> dict[str, Any]:
    return {"unit": unit, "value": value}


def charge_session_record(row: sa.Row[Any]) -> orjson.Fragment:
    """A Charging Record: the JSON kept with the session (domain/record_json.py)."""
    return orjson.Fragment(row.record_json)


def entity_resource(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "type": row.type,
        "name": row.name,
        "identifier": row.identifier,
        "brand": row.brand,
        "properties": orjson.Fragment(row.properties_json),
        "created": format_instant(row.created_ms),
    }


def location_resource(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "label": row.label,
        "address": row.address,
        "latitude": row.latitude,
        "longitude": row.longitude,
        "radius": row.radius_m,
    }


def next_page_url(
    request: Request, public_url: str | None, token: str, params: Mapping[str, str]
) -> str:
    # The path as the client wrote it: a list read under /api/v1 pages on under /api/v1.
    path = path_as_requested(request)
    base = URL(public_url.rstrip("/") + path) if public_url else request.url.replace(path=path)
    return str(base.replace_query_params(**params, continuationToken=token))


def page_response(
    request: Request,
    page: Page[sa.Row[Any]],
    serialize: Callable[[sa.Row[Any]], Any],
    *,
    public_url: str | None,
) -> Response:
    """re.alto's list envelope. links.next repeats the parameters that define the list: the
    page size and, for a framed list, the frame with its end explicit, so that an omitted end
    stays fixed from page to page."""
    token = page.continuation_token
    params: dict[str, str] = {}
    if page.frame != NO_FRAME:
        params["start"] = format_instant(page.frame.start_ms)
        params["end"] = format_instant(page.frame.end_ms)
    params["pageSize"] = str(page.page_size)
    rows: Iterable[sa.Row[Any]] = page.rows
    return json_response(
        {
            "data": [serialize(row) for row in rows],
            "links": {
                "next": None if token is None else next_page_url(request, public_url, token, params)
            },
            "meta": {"continuationToken": token, "pageSize": page.page_size},
        }
    )


def reading_resource(row: sa.Row[Any]) -> dict[str, Any]:
    """re.alto's Reading: fields the device did not report are left out."""
    reading: dict[str, Any] = dict(orjson.loads(row.extra_json)) if row.extra_json else {}
    reading["timestamp"] = format_instant(row.timestamp_ms)
    if row.soc_pct is not None:
        reading["stateOfCharge"] = _measurement("%", row.soc_pct)
    if row.range_km is not None:
        reading["range"] = _measurement("km", row.range_km)
    if row.is_charging is not None:
        reading["isCharging"] = row.is_charging
    if row.is_plugged_in is not None:
        reading["isPluggedIn"] = row.is_plugged_in
    counter = (row.energy_t1_kwh, row.energy_t2_kwh, row.energy_t3_kwh, row.energy_t4_kwh)
    if row.energy_total_kwh is not None or any(value is not None for value in counter):
        reading["positiveActiveEnergy"] = {
            "t1": counter[0],
            "t2": counter[1],
            "t3": counter[2],
            "t4": counter[3],
            "total": row.energy_total_kwh,
            "unit": "kWh",
        }
    if row.power_kw is not None:
        # re.alto reports power in W; round away the float noise of the kW round trip.
        reading["positiveActiveInstantaneousPower"] = _measurement(
            "W", round(row.power_kw * 1000, 3)
        )
    if row.latitude is not None and row.longitude is not None:
        reading["location"] = {
            "latitude": row.latitude,
            "longitude": row.longitude,
            "accuracy": row.position_uncertainty_m,
        }
    if row.odometer_km is not None:
        reading["odometer"] = _measurement("km", row.odometer_km)
    if row.speed_kmh is not None:
        reading["speed"] = _measurement("km/h", row.speed_kmh)
    return reading


def calendar_version_resource(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "validFrom": format_instant(row.valid_from_ms),
        **orjson.loads(row.definition_json),
    }
