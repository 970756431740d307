"""The webhook-deliveries benchmark (bench/webhook_deliveries.py) on a tiny run: its posts make
created and updated events, a real server delivers them (a backlog drained by a server started
later, then live, with two subscriptions and a receiver refusing some attempts so retries
happen), its checks pass, and the same checks fail when an arrival is missing or a session's
events arrive out of order."""

from pathlib import Path
from random import Random

from bench.session_writes import plan_entities, plan_sessions
from bench.webhook_checks import check_deliveries
from bench.webhook_deliveries import Options, measure, plan_posts, sessions_for, summarise

from tests.support.databases import fresh_database


def test_the_planned_posts_are_the_asked_number_with_each_correction_after_its_session() -> None:
    entities = plan_entities(5, Random(3))
    sessions = plan_sessions(entities, sessions_for(200), Random(3))
    posts = plan_posts(sessions, 200, gap=8)
    assert len(posts) == 200
    first_post_at = {post.session: n for n, post in enumerate(posts) if not post.correction}
    corrections = [(n, post) for n, post in enumerate(posts) if post.correction]
    assert {post.correction for _, post in corrections} == {1, 2}
    assert all(first_post_at[post.session] < n for n, post in corrections)


async def test_a_tiny_run_delivers_every_event_in_order_and_its_checks_can_fail(
    tmp_path: Path,
) -> None:
    async with fresh_database(tmp_path, name_hint="webhook_bench") as url:
        measurement = await measure(
            Options(
                database_url=url,
                events=30,
                backlog_events=15,
                warmup_events=5,
                workers=1,
                subscriptions=2,
                fail_rate=0.2,
                clients=4,
                entities=5,
                delivery_timeout_s=40,
                log=tmp_path / "server.log",
            )
        )
    result = summarise(measurement)
    verification = result["verification"]
    assert verification["ok"], verification
    assert (verification["events"], verification["events_posted"]) == (50, 50)
    assert verification["delivered"] == 100  # every event at both subscriptions
    assert verification["answered_500"] > 0  # retried, and still all there in order
    assert result["backlog_drain"]["deliveries"] == 30
    assert result["live"]["deliveries"] == 60
    assert result["live"]["latency_from_event_timestamp_ms"]["p50"] > 0
    events, arrivals, hooks = measurement.events, measurement.arrivals, measurement.hooks

    # An event that never arrived at one subscription is reported missing.
    lost = events[-1]
    without = [a for a in arrivals if not (a.hook == hooks[0] and a.webhook_id == lost.id)]
    checked = check_deliveries(events, without, hooks)
    assert (checked["ok"], checked["missing"]) == (False, 1)

    # A session's second event arriving before its first is reported out of order.
    updated = next(e for e in events if e.version == 2)
    created = next(e for e in events if e.session_id == updated.session_id and e.version == 1)
    i, j = (
        next(n for n, a in enumerate(arrivals) if a.hook == hooks[0] and a.webhook_id == event.id)
        for event in (created, updated)
    )
    swapped = list(arrivals)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    checked = check_deliveries(events, swapped, hooks)
    assert checked["ok"] is False
    assert checked["out_of_order"] >= 1
