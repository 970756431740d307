"""Proving that a computation's work is bounded without timing it: count the Python lines it
executes, and stop it with an error the moment it exceeds a budget (so a regression to a loop
whose length depends on a value's magnitude fails at once instead of hanging the suite)."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any


class WorkBudgetExceededError(AssertionError):
    pass


@dataclass
class WorkCount:
    lines: int = 0


@contextmanager
def work_budget(max_lines: int) -> Iterator[WorkCount]:
    """Counts every line executed in the block (in any module); raises
    WorkBudgetExceededError inside the block once more than max_lines ran."""
    count = WorkCount()

    def on_line(frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event == "line":
            count.lines += 1
            if count.lines > max_lines:
                raise WorkBudgetExceededError(f"more than {max_lines} lines executed")
        return on_line

    def on_call(frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        return on_line

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        yield count
    finally:
        sys.settrace(previous)
