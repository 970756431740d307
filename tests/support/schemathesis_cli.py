"""Schemathesis's command line, with `ast.parse` taken by one thread at a time.

With `--workers 2` two threads describe Hypothesis strategies at once, and Hypothesis describes
a lambda by parsing its source with `ast.parse`. CPython 3.11 keeps the AST constructor's
recursion depth in interpreter-wide state, so two parses that interleave (a garbage collection
can switch threads in the middle of one) fail with "SystemError: AST constructor recursion depth
mismatch" (python/cpython#106905 and its kin). That error is the tool's, not the server's: it
failed one landing's CI run. Run as a script: `python tests/support/schemathesis_cli.py run ...`.
"""

import ast
import sys
import threading
from typing import Any

from schemathesis.cli import schemathesis

_parse = ast.parse
_parse_lock = threading.Lock()


def _parse_one_at_a_time(*args: Any, **kwargs: Any) -> Any:
    with _parse_lock:
        return _parse(*args, **kwargs)


if __name__ == "__main__":
    ast.parse = _parse_one_at_a_time
    sys.exit(schemathesis())
