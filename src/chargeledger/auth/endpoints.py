from typing import Annotated

from fastapi import APIRouter, Depends, Request

from chargeledger.api.context import AppState, app_state
from chargeledger.auth import service as auth
from chargeledger.auth.schemas import AccessToken, AuthenticationIn
from chargeledger.kit.openapi_responses import problems
from chargeledger.kit.routing import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, tags=["Authentication"])


@router.post(
    "/v1/authentication",
    summary="Authenticate",
    description="Exchanges a client's id and secret for an access token (a JWT) to send as "
    "`Authorization: Bearer <token>` on every other call. Failed attempts are rate limited "
    "per clientId and per address (429 with `Retry-After`).",
    response_model=AccessToken,
    responses=problems(400, 401, 408, 413, 415, 429, 503),
)
async def authenticate(
    body: AuthenticationIn, request: Request, state: Annotated[AppState, Depends(app_state)]
) -> AccessToken:
    limits = state.authentication_limits
    address = limits.address_of(request.scope)
    async with limits.attempt(address=address, client_id=body.clientId) as known:
        principal = await auth.authenticate_client(
            state.database,
            client_id=body.clientId,
            client_secret=body.clientSecret,
            hashing=state.secret_hashing,
            known=known,
        )
    now_ms = state.clock_ms()
    token = auth.issue_access_token(
        principal, keys=state.keys.access_tokens(now_ms), now_s=now_ms // 1000
    )
    return AccessToken(
        access_token=token,
        expires_in=auth.EXPIRES_IN_S,
        token_type="Bearer",  # noqa: S106 - the token type, not a password
    )
