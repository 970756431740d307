"""python -m bench.accuracy --profile ci|full --seed N [--base-url URL --client-id X
--client-secret Y | --database-url URL] [--src DIR] --out bench/results/accuracy-NAME.json

Without --base-url it starts its own `chargeledger serve` on a fresh SQLite file (or on
--database-url) and creates a tenant with `chargeledger tenant create`; --src runs both from
another checkout's src (to measure an earlier release with the same scorer)."""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.accuracy.fleet import PROFILES
from bench.accuracy.report import render
from bench.accuracy.score import run_fleet
from bench.common import Server, start_server, token


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="ci")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--base-url")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    parser.add_argument("--database-url", help="for the server started here; default: new SQLite")
    parser.add_argument("--src", type=Path, help="run chargeledger from this checkout's src")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4, help="cars posting at once")
    parser.add_argument("--with-speed", action="store_true", help="send the `speed` field")
    parser.add_argument("--out", type=Path)
    return parser.parse_args()


def _environment(src: Path | None) -> dict[str, str]:
    if src is None:
        return {}
    return {
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(src.resolve()), os.environ.get("PYTHONPATH")])
        )
    }


def _create_tenant(database_url: str, env: dict[str, str]) -> tuple[str, str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chargeledger",
            "tenant",
            "create",
            "accuracy bench",
            "--database-url",
            database_url,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    credentials = json.loads(done.stdout.strip().splitlines()[-1])
    return str(credentials["clientId"]), str(credentials["clientSecret"])


async def _run(base_url: str, bearer: str, arguments: argparse.Namespace) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {bearer}"}, timeout=300
    ) as http:
        return await run_fleet(
            http,
            PROFILES[arguments.profile],
            arguments.seed,
            with_speed=arguments.with_speed,
            concurrency=arguments.concurrency,
        )


def main() -> None:
    arguments = _arguments()
    server: Server | None = None
    env = _environment(arguments.src)
    with tempfile.TemporaryDirectory(prefix="accuracy-") as scratch:
        try:
            if arguments.base_url:
                if not (arguments.client_id and arguments.client_secret):
                    raise SystemExit("--base-url needs --client-id and --client-secret")
                base_url = arguments.base_url
                client_id, client_secret = arguments.client_id, arguments.client_secret
            else:
                database_url = arguments.database_url or f"sqlite:///{scratch}/accuracy.db"
                server = start_server(
                    database_url,
                    workers=arguments.workers,
                    env=env,
                    log=Path(scratch) / "server.log",
                )
                base_url = server.base_url
                client_id, client_secret = _create_tenant(database_url, env)
            result = asyncio.run(
                _run(base_url, token(base_url, client_id, client_secret), arguments)
            )
        finally:
            if server is not None:
                server.stop()
    result["chargeledger_src"] = str(arguments.src) if arguments.src else "installed"
    text = json.dumps(result, indent=2)
    if arguments.out:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(text + "\n")
    print(render(result))


if __name__ == "__main__":
    main()
