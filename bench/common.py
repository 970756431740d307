"""Shared by the benchmark scripts: servers, wrk runs, memory readings, result files."""

import atexit
import functools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from chargeledger.domain.signing_keys import TokenKeys

REPO_ROOT = Path(__file__).parent.parent
RESULTS = Path(__file__).parent / "results"
WRK_SCRIPT = Path(__file__).parent / "wrk" / "replay.lua"


@functools.cache
def bench_key_file() -> Path:
    """The master key of the servers a benchmark run starts (PostgreSQL needs one): a key
    file in a temporary directory, made once per run."""
    from chargeledger.auth.key_file import write_key_file
    from chargeledger.auth.keys import generate_secret
    from chargeledger.domain.signing_keys import new_key

    directory = Path(tempfile.mkdtemp(prefix="chargeledger-bench-keys-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / "keys.json"
    write_key_file(path, [new_key(secret=generate_secret(), now_ms=int(time.time() * 1000))])
    return path


def bench_cursor_keys() -> "TokenKeys":
    """The keys the servers sign continuation tokens with (for the in-process floors)."""
    from chargeledger.auth.keys import KeyRing, KeySource

    return KeyRing(KeySource(key_file=bench_key_file())).continuation_tokens(
        int(time.time() * 1000)
    )


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


def server_environment(source_root: Path | None = None) -> dict[str, str]:
    """The environment of the processes a benchmark starts: the bench's key file, the bench
    package importable, and `chargeledger` from `source_root` (another tree's `src`, e.g. the
    commit before a change, to measure before and after with the same harness) when given."""
    paths = [str(REPO_ROOT)]
    if source_root is not None:
        paths.insert(0, str(source_root.resolve()))
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),
        "CHARGELEDGER_SECRET_KEY_FILE": str(bench_key_file()),
    }


def source_description(source_root: Path | None) -> dict[str, Any]:
    """Which code a run measured: where the servers import chargeledger from, that tree's
    commit, and whether it had changes."""
    imported = subprocess.run(
        [sys.executable, "-c", "import chargeledger; print(chargeledger.__file__)"],
        env=server_environment(source_root),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    root = Path(imported).parent

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    return {
        "chargeledger": str(root),
        "commit": git("rev-parse", "HEAD") or None,
        "uncommitted_changes": bool(git("status", "--porcelain", "--", ".")),
    }


def chargeledger_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "chargeledger", *args]


def create_tenant(database_url: str, *, source_root: Path | None = None) -> dict[str, str]:
    """A tenant and its API client, made by the CLI of the tree that is measured (which also
    migrates the database to that tree's schema): {"tenantId", "clientId", "clientSecret"}."""
    created = subprocess.run(
        chargeledger_command("tenant", "create", "bench", "--database-url", database_url),
        env=server_environment(source_root),
        capture_output=True,
        text=True,
        check=True,
    )
    credentials: dict[str, str] = json.loads(created.stdout)
    return credentials


def start_server(
    database_url: str,
    *,
    workers: int,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    bench_routes: bool = False,
    source_root: Path | None = None,
) -> Server:
    """`chargeledger serve` on a free port, or with `bench_routes` the same server for the
    benchmark's app (bench/app.py: the product plus the floors it is compared with)."""
    port = free_port()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    arguments = ["--port", str(port), "--workers", str(workers), "--database-url", database_url]
    command = (
        [sys.executable, "-m", "bench.serve", *arguments]
        if bench_routes
        else chargeledger_command("serve", *arguments)
    )
    process = subprocess.Popen(
        command,
        env={**server_environment(source_root), **(env or {})},
        cwd=REPO_ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} (see {log})")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                time.sleep(1)  # let every worker come up
                return Server(process, base_url)
        except httpx.HTTPError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
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


_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds a process has used (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S  # utime, stime


def postgres_pids() -> list[int]:
    """Every PostgreSQL process on this machine (the server and its backends)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return pids


@dataclass
class CpuMeter:
    """CPU used by the server's workers and by PostgreSQL between start() and per_request():
    where a request's cost goes, whatever else the machine is doing."""

    server: Server
    _before: dict[str, dict[int, float]] | None = None

    def _sample(self) -> dict[str, dict[int, float]]:
        return {
            "server": {pid: _process_cpu_s(pid) for pid in self.server.worker_pids()},
            "postgres": {pid: _process_cpu_s(pid) for pid in postgres_pids()},
        }

    def start(self) -> None:
        self._before = self._sample()

    def per_request(self, requests: int) -> dict[str, float]:
        assert self._before is not None
        after = self._sample()
        used = {
            side: sum(after[side][pid] - self._before[side].get(pid, 0.0) for pid in after[side])
            for side in after
        }
        return {
            f"{side}_cpu_us_per_request": round(seconds * 1e6 / max(1, requests), 1)
            for side, seconds in used.items()
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
