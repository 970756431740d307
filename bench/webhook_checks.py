"""What a webhook benchmark run recorded and received, and the checks and figures made from it
(bench/webhook_deliveries.py): every event accepted at every subscription, each session's
events in version order, duplicates counted; deliveries/s and latencies."""

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bench.webhook_receiver import Arrival


@dataclass(frozen=True)
class RecordedEvent:
    sequence: int
    id: str
    session_id: str
    version: int
    occurred_ms: int


def _instant_ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


async def recorded_events(http: httpx.AsyncClient) -> list[RecordedEvent]:
    """Every event of the tenant, in sequence order, from the API's feed."""
    found: list[RecordedEvent] = []
    url: str | None = "/v1/events?pageSize=1000"
    while url is not None:
        page = (await http.get(url)).raise_for_status().json()
        found += [
            RecordedEvent(
                item["sequence"],
                item["id"],
                item["data"]["sessionId"],
                item["data"]["version"],
                _instant_ms(item["timestamp"]),
            )
            for item in page["data"]
        ]
        url = page["links"]["next"] if page["meta"]["hasMore"] else None
    return found


def check_deliveries(
    events: list[RecordedEvent], arrivals: list[Arrival], hooks: list[str]
) -> dict[str, Any]:
    """Every event accepted at every hook; per hook and session, each arrival is the next
    event not yet accepted (or a repeat of one that was): never one ahead of its turn."""
    by_id = {event.id: event for event in events}
    turn = {}  # event id -> its place among its session's events
    per_session: Counter[str] = Counter()
    for in_order in sorted(events, key=lambda e: e.sequence):
        turn[in_order.id] = per_session[in_order.session_id]
        per_session[in_order.session_id] += 1
    accepted: Counter[tuple[str, str]] = Counter()
    progress: Counter[tuple[str, str]] = Counter()  # (hook, session) -> events accepted in turn
    out_of_order: list[str] = []
    unexpected = 0
    for arrival in arrivals:
        event = by_id.get(arrival.webhook_id)
        if event is None:
            unexpected += arrival.accepted
            continue
        if arrival.accepted:
            accepted[arrival.hook, event.id] += 1
        key = (arrival.hook, event.session_id)
        if turn[event.id] > progress[key]:
            out_of_order.append(f"{arrival.hook} {event.session_id} v{event.version}")
        elif turn[event.id] == progress[key] and arrival.accepted:
            progress[key] += 1
    missing = [
        f"{hook} {event.id} ({event.session_id} v{event.version})"
        for hook in hooks
        for event in events
        if not accepted[hook, event.id]
    ]
    statuses = Counter(arrival.status for arrival in arrivals)
    duplicates = sum(count - 1 for count in accepted.values())
    return {
        "events": len(events),
        "deliveries_expected": len(events) * len(hooks),
        "delivered": len(accepted),
        "missing": len(missing),
        "missing_examples": missing[:5],
        "out_of_order": len(out_of_order),
        "out_of_order_examples": out_of_order[:5],
        "duplicates": duplicates,
        "unverified": statuses[401],
        "unexpected": unexpected,
        "attempts": len(arrivals),
        "answered_500": statuses[500],
        "ok": not (missing or out_of_order or statuses[401] or unexpected),
    }


def first_acceptance_ms(arrivals: list[Arrival]) -> dict[tuple[str, str], float]:
    """When each (hook, event) was first accepted."""
    first: dict[tuple[str, str], float] = {}
    for arrival in arrivals:
        if arrival.accepted:
            first.setdefault((arrival.hook, arrival.webhook_id), arrival.arrived_ms)
    return first


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def delivery_rate(
    events: list[RecordedEvent],
    hooks: list[str],
    first: dict[tuple[str, str], float],
    *,
    answered_ms: dict[tuple[str, int], float] | None = None,
) -> dict[str, Any]:
    """Deliveries/s from the first acceptance of these events to the last; with the times
    their posts were answered, each delivery's latency: from the event's timestamp (taken
    when its request began, in the transaction that committed it) and from the answer (when
    the client knew it committed; negative when the delivery came first)."""
    accepted = [
        (first[hook, event.id], event)
        for hook in hooks
        for event in events
        if (hook, event.id) in first
    ]
    if not accepted:
        return {"deliveries": 0}
    times = [at for at, _ in accepted]
    seconds = (max(times) - min(times)) / 1000
    result: dict[str, Any] = {
        "deliveries": len(accepted),
        "seconds_first_to_last": round(seconds, 2),
        "deliveries_per_s": round(len(accepted) / seconds, 1) if seconds else None,
        "first_ms": min(times),
        "last_ms": max(times),
    }
    if answered_ms is not None:
        result["latency_from_event_timestamp_ms"] = _spread(
            [at - event.occurred_ms for at, event in accepted]
        )
        result["latency_from_post_answer_ms"] = _spread(
            [
                at - answered_ms[event.session_id, event.version]
                for at, event in accepted
                if (event.session_id, event.version) in answered_ms
            ]
        )
    return result


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p99": round(_percentile(ordered, 0.99), 1),
        "max": round(ordered[-1], 1),
    }
