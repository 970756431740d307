"""Path and query parameters shared by several routes, with the seed's descriptions."""

from typing import Annotated
from uuid import UUID

from fastapi import Path, Query

from chargeledger.kit.paging import MAX_PAGE_SIZE
from chargeledger.kit.schemas import InstantMs

EntityId = Annotated[UUID, Path(description="The id of the Entity")]
PageSize = Annotated[
    int,
    Query(
        ge=1, le=MAX_PAGE_SIZE, description="The number of records per page (1 to 1000, default 25)"
    ),
]
ContinuationToken = Annotated[
    str | None,
    Query(max_length=512, description="The token used to retrieve the next page"),
]
FrameStart = Annotated[
    InstantMs,
    Query(
        description="The start of the time frame. Inclusive; UTC RFC 3339 such as "
        "2024-05-27T13:00:00Z (an offset, or a space instead of T, is accepted too)."
    ),
]
FrameEnd = Annotated[
    InstantMs | None,
    Query(description="The end of the time frame. Exclusive; now when omitted."),
]
ChargingRecordPageSize = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_PAGE_SIZE,
        description="The number of Charging Records per page (1 to 1000, default 25)",
    ),
]
