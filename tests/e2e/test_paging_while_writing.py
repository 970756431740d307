"""A client that knows only the seed page lists a frame through links.next, against two
server workers, while another process keeps posting sessions into the same frame: every
session that existed when paging began is listed exactly once, in order, and nothing repeats.
"""

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.servers import chargeledger_command, running_server

FRAME_START = datetime(2024, 3, 1, tzinfo=UTC)
FRAME_HOURS = 24 * 30
EXISTING_SESSIONS = 240
INTERLEAVED_PAGES = 4  # pages read each after a new post by the writer


class _WriterProgress:
    """Follows the writer's `posted N` lines in a thread."""

    def __init__(self, writer: "subprocess.Popen[str]") -> None:
        self.posted = 0
        self.done = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._follow, args=(writer,), daemon=True)
        self._thread.start()

    def _follow(self, writer: "subprocess.Popen[str]") -> None:
        assert writer.stdout is not None
        for line in writer.stdout:
            if line.startswith("posted "):
                with self._changed:
                    self.posted = int(line.split()[1])
                    self._changed.notify_all()
        self.done.set()

    def wait_for(self, count: int, timeout_s: float = 60) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.posted >= count, timeout=timeout_s), (
                f"the writer posted {self.posted} sessions, not {count}, in {timeout_s} s"
            )


def _z(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def two_worker_server(database_url: str) -> Iterator[str]:
    with running_server(database_url, workers=2) as base_url:
        yield base_url


def test_paging_sees_every_existing_session_once_while_another_process_posts(
    database_url: str, two_worker_server: str
) -> None:
    base_url = two_worker_server
    created = subprocess.run(
        chargeledger_command("tenant", "create", "e2e", "--database-url", database_url),
        capture_output=True,
        text=True,
        check=True,
    )
    credentials = json.loads(created.stdout)
    with httpx.Client(base_url=base_url, timeout=30) as http:
        token = http.post(
            "/v1/authentication",
            json={"clientId": credentials["clientId"], "clientSecret": credentials["clientSecret"]},
        ).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        entity_id = http.post("/v1/entities", json={"type": "EV", "name": "e2e"}).json()["id"]
        existing_ids = set()
        for index in range(EXISTING_SESSIONS):
            # Several sessions share a start, so the id tie-breaker is exercised too.
            start = FRAME_START + timedelta(hours=(index // 3) * 7)
            response = http.post(
                f"/v1/entities/{entity_id}/charge-sessions",
                json={
                    "externalId": f"existing-{index}",
                    "start": _z(start),
                    "end": _z(start + timedelta(hours=1)),
                },
            )
            assert response.status_code == 201, response.text
            existing_ids.add(response.json()["id"])

        writer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.session_writer",
                base_url,
                token,
                entity_id,
                str(int(FRAME_START.timestamp())),
                str(FRAME_HOURS),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        progress = _WriterProgress(writer)
        try:
            # Paging interleaves with the writer for sure, however busy the machine: the
            # first pages are each read only after the writer posted again.
            progress.wait_for(1)
            posted_before = progress.posted
            seen: list[tuple[str, str]] = []
            url: str | None = (
                f"{base_url}/v1/entities/{entity_id}/charge-sessions"
                f"?start={_z(FRAME_START)}&end={_z(FRAME_START + timedelta(hours=FRAME_HOURS))}"
                "&pageSize=20"
            )
            pages = 0
            while url is not None:
                if pages < INTERLEAVED_PAGES:
                    progress.wait_for(posted_before + pages + 1)
                page = http.get(url)
                assert page.status_code == 200, page.text
                body = page.json()
                seen.extend((r["data"]["start"], r["id"]) for r in body["data"])
                url = body["links"]["next"]
                pages += 1
            posted_meanwhile = progress.posted - posted_before
        finally:
            writer.terminate()
            writer.wait(timeout=30)
            progress.done.wait(timeout=30)
        assert writer.returncode == 0

    assert posted_meanwhile >= INTERLEAVED_PAGES, "the writer must have posted while we paged"
    ids = [session_id for _, session_id in seen]
    duplicates = [i for i, count in Counter(ids).items() if count > 1]
    assert duplicates == []
    assert existing_ids <= set(ids), f"missing {len(existing_ids - set(ids))} existing sessions"
    assert seen == sorted(seen), "records must come ordered by start, then id"
    assert pages >= EXISTING_SESSIONS // 20
