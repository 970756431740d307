"""Fail unless each JUnit report ran tests on the database it claims, with none failing.

Usage: check_test_results.py REPORT=BACKEND [REPORT=BACKEND ...]
"""

import sys
import xml.etree.ElementTree as ElementTree


def check(report: str, backend: str) -> list[str]:
    root = ElementTree.parse(report).getroot()  # noqa: S314 - our own pytest's report
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return [f"{report}: no testsuite element"]
    tests = int(suite.get("tests", "0"))
    failed = int(suite.get("failures", "0")) + int(suite.get("errors", "0"))
    ran_on = {
        prop.get("value")
        for prop in suite.iter("property")
        if prop.get("name") == "database_backend"
    }
    problems = []
    if tests == 0:
        problems.append(f"{report}: no tests ran")
    if failed:
        problems.append(f"{report}: {failed} tests failed")
    if ran_on != {backend}:
        problems.append(f"{report}: tests ran on {sorted(ran_on) or 'nothing'}, not {backend}")
    if not problems:
        print(f"{backend}: {tests} tests ran, none failed")
    return problems


def main() -> int:
    problems = []
    for argument in sys.argv[1:]:
        report, backend = argument.split("=", 1)
        problems += check(report, backend)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
