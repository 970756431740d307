from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from chargeledger.api.context import Context
from chargeledger.events import service
from chargeledger.events.schemas import EventPage
from chargeledger.events.types import EVENT_TYPES
from chargeledger.kit.openapi_responses import READ
from chargeledger.kit.paging import DEFAULT_PAGE_SIZE
from chargeledger.kit.params import ContinuationToken, PageSize
from chargeledger.kit.responses import json_response, next_page_url
from chargeledger.kit.routing import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, tags=["Events"])

EventTypes = Annotated[
    list[str] | None,
    Query(
        alias="type",
        description="Only events of these types: repeat the parameter or separate them with "
        f"commas. Known types: {', '.join(EVENT_TYPES)}. Every type when omitted.",
    ),
]
EntityFilter = Annotated[
    UUID | None,
    Query(
        description="Only events about this Entity (its sessions); an id of no Entity of "
        "yours lists nothing"
    ),
]
AfterSequence = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**63 - 1,
        description="Start after this sequence (the last one you processed) instead of at the "
        "first event; not together with continuationToken. For a client whose token was "
        "refused because the key that signed it retired.",
    ),
]

_DESCRIPTION = """\
The tenant's events in the order they were committed, oldest first: what a webhook
subscription is sent, for a client that pulls instead (behind a firewall, or to catch up on
what it missed). Each item is the event exactly as a webhook delivers it (`id`, `type`,
`timestamp`, `data`) plus its `sequence`.

**The feed has no last page.** Every answer, an empty one too, carries `links.next` and
`meta.continuationToken`, which resume right after the last event of the page (or where the
page started, when it has none):

- while `meta.hasMore` is true, more events are already there: follow `links.next` at once;
- when it is false you have seen everything committed so far: **keep** `links.next` (or the
  token) and call it again later, in a minute or a day; you get exactly the events committed
  since, none twice and none skipped.

The first call, without a token, starts at the tenant's first event. A token is bound to the
tenant and to the filters: pass the same `type` and `entityId` with it (`links.next` does), or
the answer is 400. Keep the token of your last call: it is the resume point.

A token verifies as long as the key that signed it (README, "Keys"): after a key rotation, a
token older than the rotation's grace period is refused (400). Resume then with `after` set to
the last `sequence` you processed (instead of the token), and keep the new token."""


@router.get(
    "/v1/events",
    summary="List the tenant's events, and pull new ones later",
    description=_DESCRIPTION,
    response_model=EventPage,
    response_description="OK",
    responses=READ,
)
async def list_events(
    request: Request,
    context: Context,
    types: EventTypes = None,
    entityId: EntityFilter = None,  # noqa: N803
    pageSize: PageSize = DEFAULT_PAGE_SIZE,  # noqa: N803
    continuationToken: ContinuationToken = None,  # noqa: N803
    after: AfterSequence = None,
) -> Response:
    event_filter = service.event_filter(types, entityId)
    async with context.read() as connection:
        page = await service.list_events(
            connection,
            tenant_id=context.principal.tenant_id,
            filter=event_filter,
            page_size=pageSize,
            continuation_token=continuationToken,
            after=after,
            cursor_key=context.cursor_keys,
        )
    params = {"pageSize": str(page.page_size)}
    if event_filter.types:
        params["type"] = ",".join(event_filter.types)
    if event_filter.entity_id is not None:
        params["entityId"] = str(event_filter.entity_id)
    token = page.continuation_token
    return json_response(
        {
            "data": [_event_item(row.sequence, row.payload_json) for row in page.rows],
            "links": {
                "next": next_page_url(request, context.state.settings.public_url, token, params)
            },
            "meta": {
                "continuationToken": token,
                "pageSize": page.page_size,
                "hasMore": page.has_more,
            },
        }
    )


def _event_item(sequence: int, payload_json: str) -> orjson.Fragment:
    """The stored payload (an object) with the sequence spliced in as its first member: no
    parsing and re-serializing per event."""
    members = payload_json[1:]
    separator = "" if members.lstrip().startswith("}") else ","
    return orjson.Fragment(f'{{"sequence":{sequence}{separator}{members}')
