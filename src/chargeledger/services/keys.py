"""The keys that sign access tokens and continuation tokens.

Both derive from one master secret: the configured CHARGELEDGER_SECRET_KEY, or else one
generated on first start and stored in the database, so that every worker and every machine
serving that database, and every restart, signs and verifies alike.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage import secrets as secrets_repository

_MASTER_SECRET_NAME = "master_signing_secret"  # noqa: S105 - a name, not a secret


@dataclass(frozen=True, slots=True)
class SigningKeys:
    access_token: bytes
    continuation_token: bytes


def derive_signing_keys(master_secret: str) -> SigningKeys:
    # Separate keys per purpose: a continuation token can never pass for an access token.
    def derive(purpose: bytes) -> bytes:
        return hmac.new(master_secret.encode(), purpose, hashlib.sha256).digest()

    return SigningKeys(
        access_token=derive(b"chargeledger/access-token/v1"),
        continuation_token=derive(b"chargeledger/continuation-token/v1"),
    )


async def load_signing_keys(
    connection: AsyncConnection, *, configured_secret: str | None, now_ms: int
) -> SigningKeys:
    if configured_secret:
        return derive_signing_keys(configured_secret)
    stored = await secrets_repository.get_or_create_secret(
        connection,
        name=_MASTER_SECRET_NAME,
        generate=lambda: secrets.token_urlsafe(48),
        now_ms=now_ms,
    )
    return derive_signing_keys(stored)
