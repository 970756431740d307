"""Standard Webhooks signatures: `whsec_` secrets and the three headers of a delivery.

The signature is the reference library's (standardwebhooks.Webhook.sign), so a receiver that
verifies with any Standard Webhooks library accepts it. While a rotated-out secret has not
expired, every delivery carries a signature by each secret: a receiver still configured with
the old one keeps verifying until it switches.
"""

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the spec's prefix, not a secret)
# The spec asks for 24 to 64 bytes of randomness; 32 is what its reference servers make.
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def active_secrets(
    secret: str,
    previous_secret: str | None,
    previous_secret_expires_ms: int | None,
    *,
    now_ms: int,
) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one until it
    expires (a subscription's columns of the same names)."""
    if (
        previous_secret is not None
        and previous_secret_expires_ms is not None
        and now_ms < previous_secret_expires_ms
    ):
        return [secret, previous_secret]
    return [secret]


def sign_headers(
    signing_secrets: Sequence[str], *, msg_id: str, timestamp_s: int, body: str
) -> dict[str, str]:
    """webhook-id, webhook-timestamp and webhook-signature (one `v1,<base64>` per secret,
    separated by spaces) for `body`, the exact text sent."""
    if not signing_secrets:
        raise ValueError("a delivery needs at least one secret to sign it")
    timestamp = datetime.fromtimestamp(timestamp_s, tz=UTC)
    signatures = [
        Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body)
        for secret in signing_secrets
    ]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": " ".join(signatures),
    }
