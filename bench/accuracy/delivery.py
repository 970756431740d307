"""How a car's cloud delivers its readings: in batches of a few hours, mostly in order, but
some batches shuffled, some re-sending readings already sent, two batches swapped, and
stretches of days held back and uploaded days later (a car offline, then its backlog)."""

import random
from collections import Counter
from dataclasses import dataclass

from bench.accuracy.fleet import Car, Profile
from bench.accuracy.telemetry import Sample


@dataclass(frozen=True, slots=True)
class Delivery:
    batches: list[list[Sample]]  # in the order they are posted
    faults: Counter[str]


def deliver(car: Car, profile: Profile, samples: list[Sample], start_s: float) -> Delivery:
    rng = random.Random(f"delivery/{car.seed}/{car.index}")
    faults: Counter[str] = Counter()
    window_s = car.batch_hours * 3600
    by_window: dict[int, list[Sample]] = {}
    for sample in samples:
        by_window.setdefault(int((sample.true_s - start_s) // window_s), []).append(sample)
    batches = [by_window[key] for key in sorted(by_window)]
    for index, batch in enumerate(batches):
        if rng.random() < profile.shuffle_prob:
            rng.shuffle(batch)
            faults["shuffled_batches"] += 1
        if index > 0 and rng.random() < profile.duplicate_prob:
            # The cloud re-sends the tail of the previous batch (and a repeat within this one).
            previous = batches[index - 1]
            resent = previous[-rng.randint(1, min(5, len(previous))) :]
            batch.extend(resent)
            batch.append(rng.choice(batch))
            faults["duplicated_readings"] += len(resent) + 1
    index = 0
    while index + 1 < len(batches):
        if rng.random() < profile.swap_prob:
            batches[index], batches[index + 1] = batches[index + 1], batches[index]
            faults["swapped_batch_pairs"] += 1
            index += 1
        index += 1
    expected = profile.backlogs_per_car
    count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
    for _ in range(count):
        per_day = max(1, round(24 / car.batch_hours))
        if len(batches) < 8 * per_day:
            break
        first = rng.randrange(0, len(batches) - 7 * per_day)
        length = max(1, round(rng.uniform(0.25, 2.0) * per_day))
        late = batches[first : first + length]
        del batches[first : first + length]
        # Uploaded after the batches of the next 2-5 days have been delivered.
        at = min(len(batches), first + round(rng.uniform(2, 5) * per_day))
        batches[at:at] = late
        faults["backlogs"] += 1
        faults["backlog_readings"] += sum(len(batch) for batch in late)
    return Delivery(batches, faults)
