"""Standard Webhooks signing (chargeledger.webhooks.signing), checked with the spec's own
reference library as a receiver would check it."""

import base64
import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from chargeledger.webhooks.signing import active_secrets, new_secret, sign_headers

BODY = '{"id":"e1","type":"charge-session.created","timestamp":"2024-05-27T13:00:00Z","data":{}}'


def now_s() -> int:
    return int(time.time())


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert new_secret() != secret


def test_a_signed_delivery_verifies_with_the_reference_library() -> None:
    secret = new_secret()
    headers = sign_headers([secret], msg_id="msg_1", timestamp_s=now_s(), body=BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_during_a_rotation_both_secrets_verify() -> None:
    old, new = new_secret(), new_secret()
    headers = sign_headers([new, old], msg_id="msg_2", timestamp_s=now_s(), body=BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)  # raises when it does not verify


def test_another_secret_a_changed_body_or_id_do_not_verify() -> None:
    secret = new_secret()
    headers = sign_headers([secret], msg_id="msg_3", timestamp_s=now_s(), body=BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("e1", "e2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "msg_4"})


def test_the_timestamp_is_the_attempts_own() -> None:
    """A receiver refuses timestamps older than 5 minutes: a retry is signed anew."""
    secret = new_secret()
    stale = sign_headers([secret], msg_id="msg_5", timestamp_s=now_s() - 600, body=BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, stale)


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        sign_headers([], msg_id="msg_6", timestamp_s=now_s(), body=BODY)


@pytest.mark.parametrize(
    ("previous", "expires_ms", "now_ms", "expected"),
    [
        (None, None, 1_000, ["new"]),
        ("old", 2_000, 1_000, ["new", "old"]),  # not expired yet: both sign
        ("old", 2_000, 2_000, ["new"]),  # expired at that instant
        ("old", None, 1_000, ["new"]),  # no expiry recorded: not used
    ],
)
def test_the_previous_secret_signs_until_it_expires(
    previous: str | None, expires_ms: int | None, now_ms: int, expected: list[str]
) -> None:
    assert active_secrets("new", previous, expires_ms, now_ms=now_ms) == expected
