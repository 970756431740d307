"""One delivery attempt (chargeledger.webhooks.sending) against a real local receiver that
verifies it with the Standard Webhooks library."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from chargeledger.webhooks.sending import USER_AGENT, Sender
from chargeledger.webhooks.signing import new_secret, sign_headers
from chargeledger.webhooks.targets import parse_networks
from tests.support.webhook_receiver import Answer, WebhookReceiver

BODY = (
    '{"id":"3f1d","type":"charge-session.created","timestamp":"2024-05-27T13:00:00Z",'
    '"data":{"sessionId":"s-1","version":1}}'
)
SECRET = new_secret()
TIMEOUT_S = 1.0


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver([SECRET]) as receiver:
        yield receiver


@pytest.fixture
async def sender() -> AsyncIterator[Sender]:
    """Generous: only the timeout test, with a sender of its own, has answers come late."""
    sender = Sender(allowed_networks=parse_networks("127.0.0.0/8"), timeout_s=10)
    yield sender
    await sender.close()


def headers(msg_id: str = "msg_1") -> dict[str, str]:
    return sign_headers([SECRET], msg_id=msg_id, timestamp_s=int(time.time()), body=BODY)


async def test_a_2xx_answer_is_success_and_the_request_verifies(
    receiver: WebhookReceiver, sender: Sender
) -> None:
    outcome = await sender.send(receiver.url, body=BODY, headers=headers())
    assert outcome.succeeded
    assert outcome.response_status == 200
    assert outcome.error is None
    assert outcome.duration_ms >= 0
    [arrival] = receiver.snapshot()
    assert arrival.verified
    assert (arrival.webhook_id, arrival.session_id, arrival.version) == ("msg_1", "s-1", 1)
    assert arrival.headers["content-type"] == "application/json"
    assert arrival.headers["user-agent"] == USER_AGENT


async def test_another_status_is_a_failure_with_that_status(
    receiver: WebhookReceiver, sender: Sender
) -> None:
    receiver.answer_next(Answer(status=500), Answer(status=404))
    first = await sender.send(receiver.url, body=BODY, headers=headers())
    second = await sender.send(receiver.url, body=BODY, headers=headers())
    assert (first.succeeded, first.response_status, first.error) == (False, 500, "HTTP 500")
    assert (second.response_status, second.error) == (404, "HTTP 404")


async def test_a_redirect_is_a_failure_and_not_followed(
    receiver: WebhookReceiver, sender: Sender
) -> None:
    with WebhookReceiver([SECRET]) as elsewhere:
        receiver.answer_next(Answer(status=302, location=elsewhere.url))
        outcome = await sender.send(receiver.url, body=BODY, headers=headers())
        assert not outcome.succeeded
        assert outcome.response_status == 302
        assert outcome.error is not None
        assert "redirect, not followed" in outcome.error
        assert elsewhere.snapshot() == []


async def test_an_answer_slower_than_the_timeout_is_a_failure(receiver: WebhookReceiver) -> None:
    receiver.answer_next(Answer(delay_s=TIMEOUT_S + 5))
    impatient = Sender(allowed_networks=parse_networks("127.0.0.0/8"), timeout_s=TIMEOUT_S)
    try:
        outcome = await impatient.send(receiver.url, body=BODY, headers=headers())
    finally:
        receiver.release()
        await impatient.close()
    assert not outcome.succeeded
    assert outcome.response_status is None
    assert outcome.error is not None
    assert outcome.error == "no complete answer within 1 s"
    assert len(receiver.snapshot()) == 1  # it did arrive; the answer was too late


async def test_a_2xx_whose_body_is_slower_than_the_timeout_is_success(
    receiver: WebhookReceiver,
) -> None:
    """The receiver accepted it; failing the attempt would only send it a duplicate."""
    receiver.answer_next(Answer(body_delay_s=TIMEOUT_S + 5))
    impatient = Sender(allowed_networks=parse_networks("127.0.0.0/8"), timeout_s=TIMEOUT_S)
    try:
        outcome = await impatient.send(receiver.url, body=BODY, headers=headers())
    finally:
        receiver.release()
        await impatient.close()
    assert (outcome.succeeded, outcome.response_status) == (True, 200)


async def test_a_closed_port_is_a_connection_error(
    receiver: WebhookReceiver, sender: Sender
) -> None:
    receiver.go_down()
    outcome = await sender.send(receiver.url, body=BODY, headers=headers())
    assert not outcome.succeeded
    assert outcome.response_status is None
    assert outcome.error is not None
    assert outcome.error.startswith("could not connect")


async def test_a_receiver_that_comes_back_is_reached_again(
    receiver: WebhookReceiver, sender: Sender
) -> None:
    """A pooled connection cut while the receiver was down is not reused for good."""
    assert (await sender.send(receiver.url, body=BODY, headers=headers())).succeeded
    receiver.go_down()
    assert not (await sender.send(receiver.url, body=BODY, headers=headers())).succeeded
    receiver.come_up()
    outcome = await sender.send(receiver.url, body=BODY, headers=headers())
    assert outcome.succeeded, outcome.error


async def test_loopback_is_refused_unless_allowed(receiver: WebhookReceiver) -> None:
    strict = Sender(timeout_s=10)
    try:
        for url in (receiver.url, receiver.url.replace("127.0.0.1", "localhost")):
            outcome = await strict.send(url, body=BODY, headers=headers())
            assert not outcome.succeeded
            assert outcome.error is not None
            assert outcome.error.startswith("refused:")
            assert "loopback" in outcome.error
    finally:
        await strict.close()
    assert receiver.snapshot() == []


async def test_urls_that_cannot_be_targets_are_refused_without_a_request(sender: Sender) -> None:
    outcome = await sender.send("ftp://example.com/x", body=BODY, headers=headers())
    assert outcome.error == "refused: only http and https URLs can receive webhooks"


async def test_concurrent_attempts_each_verify(receiver: WebhookReceiver, sender: Sender) -> None:
    outcomes = await asyncio.gather(
        *(sender.send(receiver.url, body=BODY, headers=headers(f"m{i}")) for i in range(20))
    )
    assert all(outcome.succeeded for outcome in outcomes), [o.error for o in outcomes if o.error]
    arrivals = receiver.snapshot()
    assert sorted(a.webhook_id for a in arrivals) == sorted(f"m{i}" for i in range(20))
    assert all(a.verified for a in arrivals)
