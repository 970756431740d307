"""events/service.py in-process, on a connection rolled back at the end: the filter's
spellings, and tokens that resume where the page ended."""

from uuid import uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.errors import InvalidContinuationTokenError, InvalidInputError
from chargeledger.events.recording import record_event
from chargeledger.events.service import event_filter, list_events
from chargeledger.storage.database import run_before_commit

KEYS = TokenKeys(signing_id="0a1b2c3d", signing=b"k" * 32, verifying={"0a1b2c3d": b"k" * 32})


def test_one_filter_has_one_digest_however_it_is_spelled() -> None:
    entity_id = uuid4()
    spellings = [
        ["charge-session.removed,charge-session.created"],
        ["charge-session.created", " charge-session.removed"],
        ["charge-session.created,charge-session.removed", "charge-session.created"],
    ]
    filters = {event_filter(spelling, entity_id) for spelling in spellings}

    assert len(filters) == 1
    (one,) = filters
    assert one.types == ("charge-session.created", "charge-session.removed")
    assert one.digest() != event_filter(spellings[0], None).digest()
    assert one.digest() != event_filter(["charge-session.created"], entity_id).digest()
    assert event_filter(None, None).digest() == event_filter([], None).digest()


@pytest.mark.parametrize("value", ["", "charge-session.created,", "x" * 5000])
def test_empty_and_unknown_types_are_refused_with_a_bounded_detail(value: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        event_filter([value], None)
    assert "charge-session.created" in refused.value.detail
    assert len(refused.value.detail) < 300


async def test_each_page_resumes_after_its_last_event_and_a_token_keeps_its_filter(
    connection: AsyncConnection,
) -> None:
    tenant_id, entity_id = uuid4(), uuid4()
    for event_type in ("charge-session.created", "charge-session.updated") * 2:
        record_event(
            connection,
            tenant_id=tenant_id,
            type=event_type,
            entity_id=entity_id,
            subject_id=None,
            version=None,
            occurred_ms=0,
            data={},
        )
    await run_before_commit(connection)
    everything = event_filter(None, None)
    created = event_filter(["charge-session.created"], None)

    first = await list_events(
        connection,
        tenant_id=tenant_id,
        filter=created,
        page_size=1,
        continuation_token=None,
        after=None,
        cursor_key=KEYS,
    )
    second = await list_events(
        connection,
        tenant_id=tenant_id,
        filter=created,
        page_size=1,
        continuation_token=first.continuation_token,
        after=None,
        cursor_key=KEYS,
    )
    end = await list_events(
        connection,
        tenant_id=tenant_id,
        filter=created,
        page_size=1,
        continuation_token=second.continuation_token,
        after=None,
        cursor_key=KEYS,
    )

    assert [(p.rows[0].sequence if p.rows else None, p.has_more) for p in (first, second, end)] == [
        (1, True),
        (3, False),
        (None, False),
    ]
    with pytest.raises(InvalidContinuationTokenError, match="other filters"):
        await list_events(
            connection,
            tenant_id=tenant_id,
            filter=everything,
            page_size=1,
            continuation_token=first.continuation_token,
            after=None,
            cursor_key=KEYS,
        )
    with pytest.raises(InvalidContinuationTokenError, match="another list"):
        await list_events(
            connection,
            tenant_id=uuid4(),
            filter=created,
            page_size=1,
            continuation_token=first.continuation_token,
            after=None,
            cursor_key=KEYS,
        )
