"""Entity Settings: the Battery Capacity of an entity."""

from fastapi import APIRouter
from starlette.responses import Response

from chargeledger.api.context import Context
from chargeledger.entities import battery
from chargeledger.entities import service as entities
from chargeledger.entities.schemas import BatteryCapacity, BatteryCapacityIn
from chargeledger.kit.openapi_responses import READ, WRITE
from chargeledger.kit.params import EntityId
from chargeledger.kit.responses import json_response
from chargeledger.kit.routing import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, tags=["Entity Settings"])


@router.get(
    "/v1/entities/{entityId}/battery-capacity",
    summary="Retrieve the Battery Capacity of an Entity",
    response_model=BatteryCapacity,
    responses=READ,
)
async def get_battery_capacity(entityId: EntityId, context: Context) -> Response:  # noqa: N803
    async with context.read() as connection:
        entity = await entities.get_entity(
            connection, tenant_id=context.principal.tenant_id, entity_id=entityId
        )
    return json_response({"value": entity.battery_capacity_kwh, "unit": "kWh"})


@router.put(
    "/v1/entities/{entityId}/battery-capacity",
    summary="Set the Battery Capacity of an Entity",
    description="Usable capacity in kWh. Sessions detected from state of charge alone get their "
    "energy from it; setting it measures them again.",
    response_model=BatteryCapacity,
    responses=WRITE,
)
async def put_battery_capacity(
    entityId: EntityId,  # noqa: N803
    body: BatteryCapacityIn,
    context: Context,
) -> Response:
    async with context.write() as connection:
        entity = await battery.set_battery_capacity(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            capacity_kwh=body.value,
            now_ms=context.now_ms,
            config=context.state.settings.detector_config,
        )
    return json_response({"value": entity.battery_capacity_kwh, "unit": "kWh"})
