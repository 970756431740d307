"""Entity Settings (ours): the tariff calendars of entities and locations."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path
from starlette.responses import Response

from chargeledger.api.context import Context
from chargeledger.domain.tariffs import (
    PRESETS,
    InvalidCalendarError,
    TariffCalendar,
    calendar_from_dict,
)
from chargeledger.errors import InvalidInputError
from chargeledger.kit.openapi_responses import READ, WRITE
from chargeledger.kit.params import EntityId
from chargeledger.kit.responses import calendar_version_resource, json_response
from chargeledger.kit.routing import JsonBodyRoute
from chargeledger.tariffs import service as tariffs
from chargeledger.tariffs.schemas import (
    TariffCalendarIn,
    TariffCalendarVersion,
    TariffCalendarVersions,
)

router = APIRouter(route_class=JsonBodyRoute, tags=["Entity Settings"])

LocationId = Annotated[UUID, Path(description="The id of the Location")]
_CALENDAR_DESCRIPTION = (
    "A time-of-use calendar: which register (t1..t4) meters energy at each local time. "
    "Sessions' energy is split by it. A new version applies from its `validFrom` on; sessions "
    "before that keep their split, later ones are split again at once. Presets: `BE-day-night` "
    "(t1 day, t2 night) and `NL-normal-low` (t1 low, t2 normal); see the README."
)


def _calendar(body: TariffCalendarIn) -> TariffCalendar:
    custom = (
        body.timeZone,
        body.rules,
        body.defaultRegister,
        body.country,
        body.subdivision,
        body.ignoredHolidays,
    )
    if body.preset is not None:
        if any(value is not None for value in custom):
            raise InvalidInputError(
                "give either a preset or a calendar of your own, not both",
                errors=[{"name": "preset", "in": "body", "detail": "preset with other fields"}],
            )
        return PRESETS[body.preset]
    try:
        return calendar_from_dict(
            {
                "timeZone": body.timeZone,
                "country": body.country,
                "subdivision": body.subdivision,
                "ignoredHolidays": body.ignoredHolidays,
                "defaultRegister": body.defaultRegister,
                "rules": [rule.model_dump(by_alias=True) for rule in body.rules or []],
            }
        )
    except InvalidCalendarError as error:
        raise InvalidInputError(
            f"{error.field}: {error}",
            errors=[{"name": error.field, "in": "body", "detail": str(error)}],
        ) from None


async def _versions(context: Context, entity_id: UUID, location_id: UUID | None) -> Response:
    async with context.read() as connection:
        rows = await tariffs.calendar_versions(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entity_id,
            location_id=location_id,
        )
    return json_response({"data": [calendar_version_resource(row) for row in rows]})


async def _put(
    context: Context, entity_id: UUID, location_id: UUID | None, body: TariffCalendarIn
) -> Response:
    calendar = _calendar(body)
    async with context.write() as connection:
        row = await tariffs.put_calendar(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entity_id,
            location_id=location_id,
            calendar=calendar,
            valid_from_ms=0 if body.validFrom is None else body.validFrom,
            now_ms=context.now_ms,
            detector_config=context.state.settings.detector_config,
        )
    return json_response(calendar_version_resource(row))


@router.get(
    "/v1/entities/{entityId}/tariff-calendar",
    summary="List the tariff calendar versions of an Entity",
    description=_CALENDAR_DESCRIPTION,
    response_model=TariffCalendarVersions,
    responses=READ,
)
async def get_entity_calendar(entityId: EntityId, context: Context) -> Response:  # noqa: N803
    return await _versions(context, entityId, None)


@router.put(
    "/v1/entities/{entityId}/tariff-calendar",
    summary="Set the tariff calendar of an Entity from validFrom on",
    description=_CALENDAR_DESCRIPTION,
    response_model=TariffCalendarVersion,
    responses=WRITE,
)
async def put_entity_calendar(
    entityId: EntityId,  # noqa: N803
    body: TariffCalendarIn,
    context: Context,
) -> Response:
    return await _put(context, entityId, None, body)


@router.get(
    "/v1/entities/{entityId}/locations/{locationId}/tariff-calendar",
    summary="List the tariff calendar versions of a Location",
    description="A Location's own calendar wins over the Entity's for sessions matched to it "
    "(best match). " + _CALENDAR_DESCRIPTION,
    response_model=TariffCalendarVersions,
    responses=READ,
)
async def get_location_calendar(
    entityId: EntityId,  # noqa: N803
    locationId: LocationId,  # noqa: N803
    context: Context,
) -> Response:
    return await _versions(context, entityId, locationId)


@router.put(
    "/v1/entities/{entityId}/locations/{locationId}/tariff-calendar",
    summary="Set the tariff calendar of a Location from validFrom on",
    description="A Location's own calendar wins over the Entity's for sessions matched to it "
    "(best match). " + _CALENDAR_DESCRIPTION,
    response_model=TariffCalendarVersion,
    responses=WRITE,
)
async def put_location_calendar(
    entityId: EntityId,  # noqa: N803
    locationId: LocationId,  # noqa: N803
    body: TariffCalendarIn,
    context: Context,
) -> Response:
    return await _put(context, entityId, locationId, body)
