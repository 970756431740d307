from typing import Annotated, Literal

from pydantic import BaseModel, Field

from chargeledger.kit.schemas import Strict


class AuthenticationIn(Strict):
    clientId: Annotated[str, Field(min_length=1, max_length=100)]  # noqa: N815
    clientSecret: Annotated[str, Field(min_length=1, max_length=200)]  # noqa: N815


class AccessToken(BaseModel):
    access_token: str
    expires_in: int = Field(description="Seconds until the token expires")
    token_type: Literal["Bearer"]
