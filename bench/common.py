"""Shared by the benchmark scripts: servers, wrk runs, memory readings, result files."""

import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).parent / "results"
WRK_SCRIPT = Path(__file__).parent / "wrk" / "replay.lua"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str

    def worker_pids(self) -> list[int]:
        """The server's processes: Granian's main process and its workers."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(pid) for pid in children.read_text().split()]
        return pids

    def memory(self) -> dict[str, int]:
        """Current and peak resident memory (bytes) of the workers, summed and largest."""
        current, peak = [], []
        for pid in self.worker_pids()[1:] or self.worker_pids():
            status = Path(f"/proc/{pid}/status")
            if not status.exists():
                continue
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
            current.append(int(fields["VmRSS"].split()[0]) * 1024)
            peak.append(int(fields["VmHWM"].split()[0]) * 1024)
        return {
            "rss_total": sum(current),
            "rss_peak_total": sum(peak),
            "rss_peak_largest": max(peak, default=0),
        }

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def start_server(
    database_url: str, *, workers: int, env: dict[str, str] | None = None, log: Path | None = None
) -> Server:
    port = free_port()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chargeledger",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--database-url",
            database_url,
        ],
        env={**os.environ, "CHARGELEDGER_BENCH_ROUTES": "1", **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                time.sleep(1)  # let every worker come up
                return Server(process, base_url)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


def token(base_url: str, client_id: str, client_secret: str) -> str:
    response = httpx.post(
        f"{base_url}/v1/authentication",
        json={"clientId": client_id, "clientSecret": client_secret},
        timeout=30,
    )
    response.raise_for_status()
    value: str = response.json()["access_token"]
    return value


def wrk(
    base_url: str,
    paths_file: Path,
    bearer: str,
    *,
    seconds: int,
    connections: int,
    threads: int = 2,
) -> dict[str, Any]:
    """Run wrk replaying the paths; its summary (requests/s, p50/p99 in ms, errors)."""
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(WRK_SCRIPT),
            base_url,
            "--",
            str(paths_file),
            bearer,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    seconds_run = summary["duration_us"] / 1e6
    errors = sum(summary[key] for key in summary if key.startswith("errors_"))
    return {
        "requests_per_s": round(summary["requests"] / seconds_run, 1),
        "p50_ms": summary["p50_us"] / 1000,
        "p90_ms": summary["p90_us"] / 1000,
        "p99_ms": summary["p99_us"] / 1000,
        "mean_ms": round(summary["mean_us"] / 1000, 3),
        "requests": summary["requests"],
        "errors": errors,
        "bytes_per_request": round(summary["bytes"] / max(1, summary["requests"])),
    }


def machine() -> dict[str, Any]:
    cpu = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        memory_kb = int(meminfo.read_text().split()[1])
    postgres = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-Atc", "show server_version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgresql": postgres,
        "kernel": platform.release(),
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path
