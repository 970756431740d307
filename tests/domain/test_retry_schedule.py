"""The webhook retry schedule (chargeledger.domain.retry_schedule): exponential, jittered,
spanning at least 24 h whatever the random draws, then over."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain.retry_schedule import (
    CEILINGS_MS,
    HOUR_MS,
    MIN_SPAN_MS,
    MINUTE_MS,
    SECOND_MS,
    RetrySchedule,
)

SCHEDULE = RetrySchedule()
RETRIES = len(CEILINGS_MS)
draws = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


def all_delays(schedule: RetrySchedule, draw_values: list[float]) -> list[int]:
    """The delays of a delivery that fails every attempt, until the schedule gives up."""
    values = iter(draw_values)
    delays = []
    failures = 1
    while (delay := schedule.delay_ms(failures, lambda: next(values))) is not None:
        delays.append(delay)
        failures += 1
    return delays


@pytest.mark.parametrize(
    ("failures", "draw", "expected_ms"),
    [
        (1, 0.0, 2_500),  # half the 5 s ceiling at the lowest draw
        (1, 1.0, 5_000),
        (2, 0.5, round(3.75 * MINUTE_MS)),  # 5 min ceiling: between 2.5 and 5 min
        (3, 0.0, 15 * MINUTE_MS),
        (4, 0.0, 1 * HOUR_MS),
        (5, 0.0, round(2.5 * HOUR_MS)),
        (6, 0.0, 5 * HOUR_MS),
        (RETRIES, 1.0, 10 * HOUR_MS),
    ],
)
def test_delays_follow_the_svix_like_ceilings(failures: int, draw: float, expected_ms: int) -> None:
    assert SCHEDULE.delay_ms(failures, lambda: draw) == expected_ms


def test_the_schedule_gives_up_after_its_last_retry() -> None:
    assert SCHEDULE.delay_ms(RETRIES, lambda: 0.5) is not None
    assert SCHEDULE.delay_ms(RETRIES + 1, lambda: 0.5) is None
    assert SCHEDULE.attempts == RETRIES + 1


def test_a_retry_needs_a_failure_first() -> None:
    with pytest.raises(ValueError, match="failed attempt"):
        SCHEDULE.delay_ms(0, lambda: 0.5)


def test_the_scale_shrinks_every_delay_for_tests() -> None:
    fast = RetrySchedule(scale=0.001)
    assert fast.delay_ms(1, lambda: 1.0) == 5  # 5 s -> 5 ms
    assert fast.delay_ms(RETRIES, lambda: 1.0) == 36 * SECOND_MS  # 10 h -> 36 s
    with pytest.raises(ValueError, match="positive"):
        RetrySchedule(scale=0)


@given(st.lists(draws, min_size=RETRIES, max_size=RETRIES))
def test_any_draws_span_at_least_24_hours_within_bounds(draw_values: list[float]) -> None:
    delays = all_delays(SCHEDULE, draw_values)
    assert len(delays) == RETRIES
    for failures, delay in enumerate(delays, start=1):
        ceiling = CEILINGS_MS[failures - 1]
        assert 0 < ceiling // 2 <= delay <= ceiling
    assert sum(delays) >= MIN_SPAN_MS


@given(st.randoms(use_true_random=False), st.floats(min_value=1e-6, max_value=1.0))
def test_delays_are_positive_and_grow_at_any_scale(rng: random.Random, scale: float) -> None:
    schedule = RetrySchedule(scale=scale)
    delays = all_delays(schedule, [rng.random() for _ in range(RETRIES)])
    assert all(delay >= 1 for delay in delays)
    ceilings = [schedule.ceiling_ms(failures) for failures in range(1, RETRIES + 1)]
    assert ceilings == sorted(ceilings)
    assert all(c // 2 <= d <= c or d == 1 for c, d in zip(ceilings, delays, strict=True))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_draw_outside_zero_to_one_is_clamped(draw: float) -> None:
    delay = SCHEDULE.delay_ms(1, lambda: draw)
    assert delay is not None
    assert 2_500 <= delay <= 5_000
