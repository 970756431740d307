"""Plots for docs/benchmarks.md from the result files in bench/results/."""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.common import RESULTS

DEPTHS = (1, 10, 50, 100, 200)
DOCS = Path(__file__).parent.parent / "docs"


def _load(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((RESULTS / f"{name}.json").read_text())


def latency_by_depth(run: dict, out: Path) -> None:  # type: ignore[type-arg]
    scenarios = run["scenarios"]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, page_size in zip(axes, (25, 100), strict=True):
        for kind, label, style in (
            ("deep", "keyset (ours)", "o-"),
            ("offset", "OFFSET/LIMIT", "s--"),
        ):
            p50 = [scenarios[f"{kind}-{page_size}-{d}"]["p50_ms"] for d in DEPTHS]
            p99 = [scenarios[f"{kind}-{page_size}-{d}"]["p99_ms"] for d in DEPTHS]
            axis.plot(DEPTHS, p50, style, label=f"{label} p50")
            axis.plot(DEPTHS, p99, style, alpha=0.4, label=f"{label} p99")
        axis.set_title(f"pageSize {page_size}")
        axis.set_xlabel("page number (depth)")
        axis.set_xscale("log")
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel("latency under load (ms)")
    axes[1].legend(fontsize=8)
    figure.suptitle("Latency against page depth (wrk, 32 connections)")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def latency_by_size(runs: dict[str, dict], out: Path) -> None:  # type: ignore[type-arg]
    labels = list(runs)
    sizes = [runs[label]["sessions"] for label in labels]
    figure, axis = plt.subplots(figsize=(6, 4))
    for scenario, style in (("first-25", "o-"), ("deep-25-200", "s-"), ("offset-25-200", "^--")):
        axis.plot(
            sizes,
            [runs[label]["scenarios"][scenario]["p50_ms"] for label in labels],
            style,
            label=f"{scenario} p50",
        )
        axis.plot(
            sizes,
            [runs[label]["scenarios"][scenario]["p99_ms"] for label in labels],
            style,
            alpha=0.4,
            label=f"{scenario} p99",
        )
    axis.set_xscale("log")
    # Log scale: OFFSET's hundreds of milliseconds would flatten the keyset lines to zero.
    axis.set_yscale("log")
    axis.set_xlabel("sessions in the database")
    axis.set_ylabel("latency under load (ms, log scale)")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=7, loc="center right")
    axis.set_title("Latency against dataset size (pageSize 25)")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", nargs="+", default=["read-path-1x", "read-path-10x"])
    args = parser.parse_args()
    runs = {name: _load(name) for name in args.runs if (RESULTS / f"{name}.json").exists()}
    DOCS.mkdir(exist_ok=True)
    first = next(iter(runs.values()))
    latency_by_depth(first, DOCS / "bench-latency-by-depth.png")
    if len(runs) > 1:
        latency_by_size(runs, DOCS / "bench-latency-by-size.png")
    print("plots written to", DOCS)


if __name__ == "__main__":
    main()
