"""Schemathesis's own runner, every phase (examples, coverage, fuzzing and stateful sequences
that chain what one call creates into the next), over the whole API of a real server: no
answer is a 5xx, and every answer conforms to the document (status codes, media types,
headers, schemas); a call without or with a bad token is never served (`ignored_auth`), and
what was deleted stays gone (`use_after_free`).

Its data checks are not run: `positive_data_acceptance` counts as wrong every 400 for input the
document cannot describe (a continuation token not signed by us, a country without holiday
data), and `negative_data_rejection` the cases where we accept more than the document says
(unknown fields in a readings batch are reported per reading, not refused as a whole)."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import TenantApi
from tests.support.servers import running_server

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "ignored_auth",
        "use_after_free",
    ]
)


@pytest.fixture(scope="module")
def own_server(database_url: str) -> Iterator[str]:
    """A server of its own: the run's thousands of wrong logins reach its authentication
    limits (which the document declares), not the shared server the other tests log in to."""
    with running_server(database_url) as base_url:
        yield base_url


async def test_every_phase_finds_no_server_error_and_no_nonconformance(
    own_server: str, api: TenantApi
) -> None:
    async with httpx.AsyncClient(base_url=own_server, timeout=30) as http:
        login = await http.post(
            "/v1/authentication",
            json={"clientId": str(api.client_id), "clientSecret": api.client_secret},
        )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    in_ci = os.environ.get("CHARGELEDGER_HYPOTHESIS_PROFILE") == "ci"
    examples = os.environ.get("CHARGELEDGER_SCHEMATHESIS_EXAMPLES", "15")
    command = [
        sys.executable,
        str(Path(__file__).parents[1] / "support" / "schemathesis_cli.py"),
        "run",
        f"{own_server}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--checks",
        CHECKS,
        "--max-examples",
        examples,
        "--workers",
        "2",
        "--request-timeout",
        "60",
        "--generation-database",
        "none",
        "--no-color",
    ]
    if in_ci:
        command += ["--seed", "20261129"]  # a landing never hangs on a new example
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, check=False, timeout=1500
    )
    output = done.stdout + done.stderr
    # Long lines (a source file quoted in a traceback) are cut so the summary stays in view.
    readable = "\n".join(line[:400] for line in output.splitlines())
    assert done.returncode == 0, readable[-20_000:]
    phases = output[output.index("Test Phases:") :].splitlines()[1:5]
    assert all("✅" in line for line in phases), phases  # none skipped, stateful included
