from typing import Annotated

from fastapi import APIRouter, Depends

from chargeledger.api.context import AppState, app_state
from chargeledger.api.openapi_responses import problems
from chargeledger.api.routing import JsonBodyRoute
from chargeledger.api.schemas.authentication import AccessToken, AuthenticationIn
from chargeledger.services import auth

router = APIRouter(route_class=JsonBodyRoute, tags=["Authentication"])


@router.post(
    "/v1/authentication",
    summary="Authenticate",
    description="Exchanges a client's id and secret for an access token (a JWT) to send as "
    "`Authorization: Bearer <token>` on every other call.",
    response_model=AccessToken,
    responses=problems(400, 401, 413, 415),
)
async def authenticate(
    body: AuthenticationIn, state: Annotated[AppState, Depends(app_state)]
) -> AccessToken:
    async with state.database.write() as connection:
        principal = await auth.authenticate_client(
            connection, client_id=body.clientId, client_secret=body.clientSecret
        )
    token = auth.issue_access_token(
        principal, key=state.keys.access_token, now_s=state.clock_ms() // 1000
    )
    return AccessToken(
        access_token=token,
        expires_in=auth.EXPIRES_IN_S,
        token_type="Bearer",  # noqa: S106 - the token type, not a password
    )
