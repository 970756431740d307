"""When a failed webhook delivery is tried again, and when it is given up.

The ceilings grow like Svix's schedule (5 s, 5 min, 30 min, 2 h, 5 h, then 10 h), and each
delay is drawn between half its ceiling and the ceiling ("equal jitter"), so deliveries that
failed together (a receiver that was down) come back spread out, not as one burst. Not full
jitter (0 to the ceiling): a draw near zero would hammer a failing receiver, and the total
span could then only be guaranteed by trying an unbounded number of times. With the lower
half fixed, the schedule has a fixed length and spans at least `MIN_SPAN_MS` (24 h) for any
draw: the sum of the half-ceilings is more than that.
"""

from collections.abc import Callable
from dataclasses import dataclass

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS

# The delay after the n-th failed attempt is at most CEILINGS_MS[n - 1].
CEILINGS_MS: tuple[int, ...] = (
    5 * SECOND_MS,
    5 * MINUTE_MS,
    30 * MINUTE_MS,
    2 * HOUR_MS,
    5 * HOUR_MS,
    10 * HOUR_MS,
    10 * HOUR_MS,
    10 * HOUR_MS,
    10 * HOUR_MS,
    10 * HOUR_MS,
)
# Retries go on for at least this long after the first attempt (the issue asks for 24 h).
MIN_SPAN_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """`scale` multiplies every delay: 1 in production; tests shrink the schedule with it
    instead of waiting hours."""

    scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"the retry schedule's scale must be positive, not {self.scale}")

    @property
    def attempts(self) -> int:
        """How many attempts a delivery gets in all (the first one and its retries)."""
        return len(CEILINGS_MS) + 1

    def ceiling_ms(self, failures: int) -> int:
        return max(1, round(CEILINGS_MS[failures - 1] * self.scale))

    def delay_ms(self, failures: int, draw: Callable[[], float]) -> int | None:
        """The wait before the next attempt, after `failures` failed attempts; None when the
        schedule is over and the delivery is given up. `draw` returns a number in [0, 1)
        (random.random, or a fixed one in tests)."""
        if failures < 1:
            raise ValueError(f"a retry follows a failed attempt: failures is {failures}")
        if failures > len(CEILINGS_MS):
            return None
        ceiling = self.ceiling_ms(failures)
        floor = max(1, ceiling // 2)
        fraction = draw()
        # A source outside [0, 1] (NaN included) cannot push a delay out of its bounds.
        fraction = min(fraction, 1.0) if fraction >= 0.0 else 0.0
        return floor + round((ceiling - floor) * fraction)
