"""Markdown tables for docs/benchmarks.md from the result files in bench/results/."""

import argparse
import json
from typing import Any

from bench.common import RESULTS

DEPTHS = (1, 10, 50, 100, 200)


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _cpu(row: dict[str, Any], side: str) -> str:
    value = row.get(f"{side}_cpu_us_per_request")
    return "" if value is None else f"{value:.0f}"


def read_path(name: str) -> str:
    run = _load(name)
    if run is None:
        return f"(no {name} results)\n"
    scenarios = run["scenarios"]
    floor = scenarios["floor-first-25"]["requests_per_s"]
    full_floor = scenarios["floor-full-25"]["requests_per_s"]
    lines = [
        f"{run['sessions']:,} sessions. Ratio: requests/s against the framework floor of the "
        "same body size (first pages: ~6.4 kB; deep pages: ~18.9 kB, the busy chargers' "
        "records carry more matches).",
        "",
        "| Scenario | req/s | p50 ms | p99 ms | ratio to floor | server CPU µs/req "
        "| PostgreSQL CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    order = ["floor-first-25", "first-25", "first-100", "dbfloor-first-25", "floor-full-25"]
    order += [f"deep-25-{d}" for d in DEPTHS] + ["dbfloor-deep-25-200"]
    order += [f"offset-25-{d}" for d in DEPTHS]
    order += [f"deep-100-{d}" for d in DEPTHS] + [f"offset-100-{d}" for d in DEPTHS]
    for scenario in order:
        row = scenarios.get(scenario)
        if row is None:
            continue
        # Against the floor serving a body of the same size; pageSize 100's deep pages are
        # four times bigger than any floor here, so they get no ratio.
        base = floor if scenario in ("first-25", "first-100", "dbfloor-first-25") else full_floor
        comparable = not scenario.startswith(("floor", "deep-100", "offset-100"))
        ratio = f"{row['requests_per_s'] / base:.0%}" if comparable else ""
        lines.append(
            f"| {scenario} | {row['requests_per_s']:,.0f} | {row['p50_ms']:.1f} "
            f"| {row['p99_ms']:.1f} | {ratio} | {_cpu(row, 'server')} | {_cpu(row, 'postgres')} |"
        )
    for page_size in (25, 100):
        first = scenarios.get(f"deep-{page_size}-1")
        deepest = scenarios.get(f"deep-{page_size}-200")
        offset_first = scenarios.get(f"offset-{page_size}-1")
        offset_deepest = scenarios.get(f"offset-{page_size}-200")
        if first and deepest and offset_first and offset_deepest:
            lines.append(
                f"\npageSize {page_size}: page 200 / page 1 p50 = "
                f"**{deepest['p50_ms'] / first['p50_ms']:.2f}x** with continuation tokens, "
                f"**{offset_deepest['p50_ms'] / offset_first['p50_ms']:.1f}x** with OFFSET."
            )
    memory = run.get("server_memory", {})
    if memory:
        lines.append(
            f"\nServer memory after the run: {memory['rss_total'] / 2**20:.0f} MiB resident "
            f"(2 workers), peak {memory['rss_peak_total'] / 2**20:.0f} MiB, largest worker "
            f"{memory['rss_peak_largest'] / 2**20:.0f} MiB."
        )
    return "\n".join(lines) + "\n"


def ingest(names: list[str]) -> str:
    lines = [
        "| Run | batches in flight | readings | readings/s | batch p50 / p99 ms "
        "| listed p50 / p99 s | sessions checked | server peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        run = _load(name)
        if run is None:
            continue
        lines.append(
            f"| {name} | {run['concurrency']} | {run['readings']:,} | {run['readings_per_s']:,} "
            f"| {run['batch_p50_ms']:.0f} / {run['batch_p99_ms']:.0f} "
            f"| {run['listed_p50_s']:.2f} / {run['listed_p99_s']:.2f} "
            f"| {run['sessions_checked']:,} "
            f"| {run['server_memory']['rss_peak_total'] / 2**20:.0f} |"
        )
    return "\n".join(lines) + "\n"


def ocpp(name: str) -> str:
    run = _load(name)
    if run is None:
        return f"(no {name} results)\n"
    lines = [
        "| chargers | MeterValues calls in window | p50 ms | p99 ms | errors | server RSS MiB "
        "| RSS per charger KiB | server CPU µs/call | PostgreSQL CPU µs/call |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for step in run["steps"]:
        p50 = "" if step["p50_ms"] is None else f"{step['p50_ms']:.1f}"
        p99 = "" if step["p99_ms"] is None else f"{step['p99_ms']:.1f}"
        lines.append(
            f"| {step['chargers']:,} | {step['calls']:,} | {p50} | {p99} | {step['errors']} "
            f"| {step['server_rss_mib']:.0f} | {step['rss_per_charger_kib']:.0f} "
            f"| {_cpu(step, 'server')} | {_cpu(step, 'postgres')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--read", nargs="*", default=["read-path-1x", "read-path-10x"])
    parser.add_argument("--ingest", nargs="*", default=["ingest"])
    parser.add_argument("--ocpp", nargs="*", default=["ocpp", "ocpp-floor"])
    args = parser.parse_args()
    for name in args.read:
        print(f"### {name}\n\n{read_path(name)}")
    print(f"### ingest\n\n{ingest(args.ingest)}")
    for name in args.ocpp:
        print(f"### {name}\n\n{ocpp(name)}")


if __name__ == "__main__":
    main()
