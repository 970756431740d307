"""Posts charge sessions at random starts inside a frame until stopped (SIGTERM).

Run as a separate process: `python -m tests.support.session_writer BASE_URL TOKEN ENTITY_ID
FRAME_START_EPOCH_S FRAME_HOURS`. Prints `posted N` after each post (so a test can wait for
it to have posted, rather than hope it did on a busy machine) and `total N` when it stops.
"""

import random
import signal
import sys
from datetime import UTC, datetime, timedelta

import httpx

stopping = False


def _stop(*_: object) -> None:
    global stopping
    stopping = True


def main() -> None:
    base_url, token, entity_id, start_s, hours = sys.argv[1:6]
    frame_start = datetime.fromtimestamp(int(start_s), tz=UTC)
    signal.signal(signal.SIGTERM, _stop)
    rng = random.Random()
    posted = 0
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        while not stopping:
            start = frame_start + timedelta(seconds=rng.randrange(int(float(hours) * 3600)))
            end = start + timedelta(minutes=30)
            response = http.post(
                f"/v1/entities/{entity_id}/charge-sessions",
                json={
                    "externalId": f"writer-{posted}-{rng.random()}",
                    "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
            if response.status_code != 201:
                print(f"unexpected {response.status_code}: {response.text}", file=sys.stderr)
                sys.exit(1)
            posted += 1
            print(f"posted {posted}", flush=True)
    print(f"total {posted}", flush=True)


if __name__ == "__main__":
    main()
