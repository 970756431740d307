"""Markdown tables of an accuracy result file (for docs/accuracy.md).

python -m bench.accuracy.report bench/results/accuracy-ci.json [more.json ...]
"""

import json
import sys
from pathlib import Path
from typing import Any

COLUMNS = ("overall", "counter", "power", "stateOfCharge")


def _cell(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if percent:
        return f"{100 * value:.1f} %"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _rows(metrics: dict[str, Any]) -> list[tuple[str, list[str]]]:
    def each(path: tuple[str, ...], percent: bool = False) -> list[str]:
        cells = []
        for column in COLUMNS:
            value: Any = metrics[column]
            for key in path:
                value = value[key]
            cells.append(_cell(value, percent))
        return cells

    return [
        ("cars", each(("cars",))),
        ("true sessions >= 1 kWh", each(("true_sessions_ge_1kwh",))),
        ("... that the data shows", each(("shown",))),
        ("found", each(("found",))),
        ("missed", each(("missed",))),
        ("spurious", each(("spurious",))),
        ("energy within what the data allows", each(("energy", "within_allowed_fraction"), True)),
        ("excess beyond allowed, % of truth, p50", each(("energy", "excess_pct_of_truth", "p50"))),
        ("excess beyond allowed, % of truth, p95", each(("energy", "excess_pct_of_truth", "p95"))),
        ("excess beyond allowed, % of truth, max", each(("energy", "excess_pct_of_truth", "max"))),
        ("energy error, % of truth, p95", each(("energy", "error_pct_of_truth", "p95"))),
        ("energy listed as null", each(("energy", "null_totals"))),
        ("uncertainty covers the error", each(("energy", "uncertainty_covers_fraction"), True)),
        ("t1..t4 error Wh, p95", each(("tiers", "p95"))),
        ("t1..t4 error Wh, max", each(("tiers", "max"))),
        ("t1..t4 beyond what the data allows, Wh, p95", each(("tiers_excess", "p95"))),
        ("t1..t4 beyond what the data allows, Wh, max", each(("tiers_excess", "max"))),
        ("start within 1 sampling interval", each(("start", "within_1_interval"), True)),
        ("start error in intervals, p50 / p95", _pair(metrics, "start")),
        ("end within 1 sampling interval", each(("end", "within_1_interval"), True)),
        ("end error in intervals, p50 / p95", _pair(metrics, "end")),
        ("Home decision right", each(("home", "right_fraction"), True)),
    ]


def _pair(metrics: dict[str, Any], key: str) -> list[str]:
    return [
        f"{_cell(metrics[column][key]['p50'])} / {_cell(metrics[column][key]['p95'])}"
        for column in COLUMNS
    ]


def render(result: dict[str, Any]) -> str:
    metrics, ingest = result["metrics"], result["ingest"]
    lines = [
        f"### Accuracy, profile `{result['profile']}` (seed {result['seed']}): "
        f"{result['cars']} cars x {result['days']} days from {result['start']}",
        "",
        "| | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in _rows(metrics)]
    met = result["targets_met"]
    lines += [
        "",
        "Targets: " + ", ".join(f"{name} {_cell(ok)}" for name, ok in met.items()),
        "",
        f"Ingest: {ingest['readings_posted']:,} readings in {ingest['posts']:,} posts "
        f"({ingest['duplicates']:,} duplicates, {ingest['rejected']} rejected), "
        f"{_cell(ingest['readings_per_s'])} readings/s while posting "
        f"({ingest['busy_s']} s busy, {ingest['wall_s']} s in all).",
        "",
        "Faults delivered: "
        + ", ".join(f"{name} {count:,}" for name, count in result["simulation"]["faults"].items()),
    ]
    return "\n".join(lines)


def main() -> None:
    for name in sys.argv[1:]:
        print(render(json.loads(Path(name).read_text())))
        print()


if __name__ == "__main__":
    main()
