"""Writes requirements.lock from a `pip install --dry-run --report` resolution (scripts/lock)."""

import json
import platform
import sys
from pathlib import Path


def main() -> None:
    report_path, lock_path = Path(sys.argv[1]), Path(sys.argv[2])
    report = json.loads(report_path.read_text())
    pins = sorted(
        (item["metadata"]["name"].lower(), item["metadata"]["version"])
        for item in report["install"]
        if item["metadata"]["name"].lower() != "chargeledger"
    )
    lines = [
        "# Every package scripts/setup installs, at the exact version: written by scripts/lock",
        "# from pyproject.toml (extras dev and bench); upgrade deliberately with scripts/lock.",
        f"# Resolved on Python {platform.python_version()}, {platform.system()} "
        f"{platform.machine()}.",
        *(f"{name}=={version}" for name, version in pins),
    ]
    lock_path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
