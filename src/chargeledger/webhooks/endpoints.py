"""/v1/webhooks: subscriptions, their secrets, their delivery logs and redelivery."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from chargeledger.api.context import Context, RequestContext
from chargeledger.kit.openapi_responses import READ, WRITE, problems
from chargeledger.kit.paging import DEFAULT_PAGE_SIZE, Page
from chargeledger.kit.params import ContinuationToken, PageSize
from chargeledger.kit.path_alias import path_as_requested
from chargeledger.kit.responses import json_response, next_page_url
from chargeledger.kit.routing import JsonBodyRoute
from chargeledger.webhooks import service
from chargeledger.webhooks.schemas import (
    DEFAULT_EXPIRE_CURRENT_HOURS,
    Delivery,
    DeliveryPage,
    DeliveryStatus,
    SecretRotated,
    SecretRotationIn,
    Webhook,
    WebhookCreated,
    WebhookIn,
    WebhookPage,
    WebhookPatch,
    created_webhook_resource,
    delivery_resource,
    webhook_resource,
)

router = APIRouter(route_class=JsonBodyRoute, tags=["Webhooks"])

WebhookId = Annotated[UUID, Path(description="The id of the webhook subscription")]
DeliveryId = Annotated[UUID, Path(description="The id of the delivery")]

_LOCATION = {
    "Location": {
        "description": "The path of what was created",
        "schema": {
            "type": "string",
            "example": "/v1/webhooks/3f0c5a6e-64b4-4f7e-9d7d-1b9d0c3f2a10",
        },
    }
}
_CANCELS = (
    " Its pending deliveries are cancelled (status `cancelled`): they are not sent, and "
    "events that occur meanwhile are not queued for it. `GET /v1/events` still lists them."
)
_SIGNING = """\
Each event is POSTed to the subscription's URL as JSON, `{"id", "type", "timestamp", "data"}`,
following the Standard Webhooks specification (https://www.standardwebhooks.com): the headers
`webhook-id` (the event id: the same on every retry, so a receiver can drop duplicates),
`webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256>`, one per active secret,
space-separated). Verify them with the secret and a Standard Webhooks library, e.g. in Python
`standardwebhooks.Webhook(secret).verify(body, headers)`.

A delivery succeeds when the receiver answers 2xx within 10 seconds (redirects are not
followed). Otherwise it is retried with exponential backoff and jitter for more than 24 hours,
then marked failed. A session's events are delivered in the order they happened, one at a
time. A subscription whose deliveries all fail for days is disabled (`disabledReason` says
so); re-enable it with `PATCH` once the receiver works."""


@router.post(
    "/v1/webhooks",
    status_code=201,
    summary="Subscribe to events",
    description="Creates a webhook subscription and answers with its signing `secret`, the "
    "only time it is shown.\n\n" + _SIGNING,
    response_model=WebhookCreated,
    responses={
        201: {"description": "Created", "headers": _LOCATION},
        **WRITE,
        **problems(409),
    },
)
async def create_webhook(request: Request, body: WebhookIn, context: Context) -> Response:
    async with context.write() as connection:
        row = await service.create_webhook(
            connection,
            tenant_id=context.principal.tenant_id,
            url=body.url,
            event_types=body.eventTypes,
            description=body.description,
            enabled=body.enabled,
            now_ms=context.now_ms,
        )
    response = json_response(created_webhook_resource(row, now_ms=context.now_ms), 201)
    response.headers["Location"] = f"{path_as_requested(request)}/{row.id}"
    return response


@router.get(
    "/v1/webhooks",
    summary="List the webhook subscriptions",
    description="Oldest first. Follow `links.next` (or pass `meta.continuationToken`) for the "
    "next page; both are null on the last page. Secrets are never shown.",
    response_model=WebhookPage,
    responses=READ,
)
async def list_webhooks(
    request: Request,
    context: Context,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,  # noqa: N803
    continuationToken: ContinuationToken = None,  # noqa: N803
) -> Response:
    async with context.read() as connection:
        page = await service.list_webhooks(
            connection,
            tenant_id=context.principal.tenant_id,
            page_size=pageSize,
            continuation_token=continuationToken,
            cursor_key=context.cursor_keys,
        )
    items = [webhook_resource(row, now_ms=context.now_ms) for row in page.rows]
    return _page_response(request, context, page, items, params={})


@router.get(
    "/v1/webhooks/{webhookId}",
    summary="Retrieve a webhook subscription",
    description="Never shows the secret.",
    response_model=Webhook,
    responses=READ,
)
async def get_webhook(webhookId: WebhookId, context: Context) -> Response:  # noqa: N803
    async with context.read() as connection:
        row = await service.get_webhook(
            connection, tenant_id=context.principal.tenant_id, subscription_id=webhookId
        )
    return json_response(webhook_resource(row, now_ms=context.now_ms))


@router.patch(
    "/v1/webhooks/{webhookId}",
    summary="Change a webhook subscription",
    description="Changes the fields given, keeps the others. `enabled: false` pauses it."
    + _CANCELS
    + " `enabled: true` resumes it, clearing `disabled`, `disabledReason` and `failingSince` "
    "(also after it was disabled for failing); redeliver what it missed, or read it from "
    "`GET /v1/events`.",
    response_model=Webhook,
    responses=WRITE,
)
async def update_webhook(
    webhookId: WebhookId,  # noqa: N803
    body: WebhookPatch,
    context: Context,
) -> Response:
    changes = service.WebhookChanges(
        url=body.url,
        event_types=body.eventTypes,
        description=body.description,
        change_description="description" in body.model_fields_set,
        enabled=body.enabled,
    )
    async with context.write() as connection:
        row = await service.update_webhook(
            connection,
            tenant_id=context.principal.tenant_id,
            subscription_id=webhookId,
            changes=changes,
            now_ms=context.now_ms,
        )
    return json_response(webhook_resource(row, now_ms=context.now_ms))


@router.delete(
    "/v1/webhooks/{webhookId}",
    status_code=204,
    summary="Delete a webhook subscription",
    description="From then on it is not found, nor is its delivery log." + _CANCELS,
    responses=READ,
)
async def delete_webhook(webhookId: WebhookId, context: Context) -> Response:  # noqa: N803
    async with context.write() as connection:
        await service.delete_webhook(
            connection,
            tenant_id=context.principal.tenant_id,
            subscription_id=webhookId,
            now_ms=context.now_ms,
        )
    return Response(status_code=204)


@router.post(
    "/v1/webhooks/{webhookId}/secret/rotate",
    summary="Rotate the signing secret",
    description="Answers with a new secret, shown only here. The current secret keeps signing "
    f"beside it for `expireCurrentInHours` (default {DEFAULT_EXPIRE_CURRENT_HOURS}, at most 72; "
    "0 stops it at once, e.g. after a leak): every delivery meanwhile carries both signatures, "
    "so the receiver can switch to the new secret at its own pace. A secret replaced by an "
    "earlier rotation stops signing now. The body is optional.",
    response_model=SecretRotated,
    responses=WRITE,
)
async def rotate_secret(
    webhookId: WebhookId,  # noqa: N803
    context: Context,
    body: SecretRotationIn | None = None,
) -> Response:
    hours = (body or SecretRotationIn()).expireCurrentInHours
    async with context.write() as connection:
        row = await service.rotate_secret(
            connection,
            tenant_id=context.principal.tenant_id,
            subscription_id=webhookId,
            expire_current_in_hours=hours,
            now_ms=context.now_ms,
        )
    resource = webhook_resource(row, now_ms=context.now_ms)
    return json_response(
        {
            "id": resource["id"],
            "secret": row.secret,
            "previousSecretExpires": resource["previousSecretExpires"],
        }
    )


@router.get(
    "/v1/webhooks/{webhookId}/deliveries",
    summary="List a webhook subscription's deliveries",
    description="Newest first, each with its attempts (status, duration, error). Follow "
    "`links.next` (or pass `meta.continuationToken` with the same `status`) for the next page; "
    "both are null on the last page.",
    response_model=DeliveryPage,
    responses=READ,
)
async def list_deliveries(
    request: Request,
    webhookId: WebhookId,  # noqa: N803
    context: Context,
    status: Annotated[
        DeliveryStatus | None, Query(description="Only the deliveries with this status")
    ] = None,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,  # noqa: N803
    continuationToken: ContinuationToken = None,  # noqa: N803
) -> Response:
    async with context.read() as connection:
        log = await service.list_deliveries(
            connection,
            tenant_id=context.principal.tenant_id,
            subscription_id=webhookId,
            status=status,
            page_size=pageSize,
            continuation_token=continuationToken,
            cursor_key=context.cursor_keys,
        )
    items = [delivery_resource(row, log.attempts[row.id]) for row in log.page.rows]
    params: dict[str, str] = {} if status is None else {"status": status}
    return _page_response(request, context, log.page, items, params=params)


@router.get(
    "/v1/webhooks/{webhookId}/deliveries/{deliveryId}",
    summary="Retrieve a delivery",
    response_model=Delivery,
    responses=READ,
)
async def get_delivery(
    webhookId: WebhookId,  # noqa: N803
    deliveryId: DeliveryId,  # noqa: N803
    context: Context,
) -> Response:
    async with context.read() as connection:
        row, attempts = await service.get_delivery(
            connection,
            tenant_id=context.principal.tenant_id,
            subscription_id=webhookId,
            delivery_id=deliveryId,
        )
    return json_response(delivery_resource(row, attempts))


@router.post(
    "/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
    status_code=202,
    summary="Deliver an event again",
    description="Queues a new delivery of the same event (same `webhook-id`) to this "
    "subscription, due now, and answers with it; the original delivery stays as it was. For a "
    "delivered, failed or cancelled delivery; 409 while it is still pending, or while the "
    "subscription is disabled.",
    response_model=Delivery,
    responses={
        202: {"description": "Queued", "headers": _LOCATION},
        **READ,
        **problems(409),
    },
)
async def redeliver(
    request: Request,
    webhookId: WebhookId,  # noqa: N803
    deliveryId: DeliveryId,  # noqa: N803
    context: Context,
) -> Response:
    async with context.write() as connection:
        row = await service.redeliver(
            connection,
            tenant_id=context.principal.tenant_id,
            subscription_id=webhookId,
            delivery_id=deliveryId,
            now_ms=context.now_ms,
        )
    response = json_response(delivery_resource(row, []), 202)
    # The alias prefix (/api) the request came with, if any, then the new delivery's path.
    prefix = path_as_requested(request).removesuffix(request.url.path)
    response.headers["Location"] = f"{prefix}/v1/webhooks/{webhookId}/deliveries/{row.id}"
    return response


def _page_response(
    request: Request,
    context: RequestContext,
    page: Page[Any],
    items: list[dict[str, Any]],
    *,
    params: dict[str, str],
) -> Response:
    """The list envelope of every list (data, links.next, meta); links.next keeps the
    filters, which the continuation token is bound to."""
    token = page.continuation_token
    next_url = None
    if token is not None:
        next_url = next_page_url(
            request,
            context.state.settings.public_url,
            token,
            {**params, "pageSize": str(page.page_size)},
        )
    return json_response(
        {
            "data": items,
            "links": {"next": next_url},
            "meta": {"continuationToken": token, "pageSize": page.page_size},
        }
    )
