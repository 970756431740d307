"""The session-writes benchmark (bench/session_writes.py) on a small fleet: its sessions are
posts the API accepts, an entity's never overlap, the posts in flight belong to different
entities, and its check finds every posted session listed with its total."""

from datetime import datetime
from itertools import pairwise
from random import Random

import orjson
from bench.session_writes import drive, plan_entities, plan_sessions, set_up, verify

from tests.support.api import TenantApi


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_an_entitys_sessions_never_overlap_and_each_round_posts_every_entity_once() -> None:
    entities = plan_entities(10, Random(1))
    sessions = plan_sessions(entities, 305, Random(1))
    assert len(sessions) == 305
    for start in range(0, 300, 10):
        assert {session.entity for session in sessions[start : start + 10]} == set(range(10))
    for index in range(10):
        spans = [
            (_instant(body["start"]), _instant(body["end"]))
            for body in (orjson.loads(s.body) for s in sessions if s.entity == index)
        ]
        assert spans == sorted(spans)
        assert all(end <= next_start for (_, end), (next_start, _) in pairwise(spans))


async def test_every_posted_session_is_accepted_and_listed_with_its_total(
    api: TenantApi, live_server: str
) -> None:
    entities = plan_entities(8, Random(2))
    sessions = plan_sessions(entities, 120, Random(2))
    await set_up(api.http, entities)
    bearer = api.http.headers["Authorization"].removeprefix("Bearer ")
    result = await drive(
        live_server, bearer, entities, sessions, clients=4, warmup=10, on_measure_start=lambda: None
    )
    assert result["statuses"] == {"201": 120}, result["failures"]
    assert result["sessions_measured"] == 110
    checked = await verify(api.http, entities, sessions)
    assert (checked["missing"], checked["wrong_total"], checked["problems"]) == (0, 0, [])
    assert checked["sessions_listed_ok"] == 120
    # The fleet exercises location matching and the t1..t4 split, not only plain inserts.
    assert checked["with_location_match"] > 0
    assert checked["split_over_registers"] > 0
