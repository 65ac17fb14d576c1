"""Waiting in tests: poll a condition until a deadline, never a bare sleep before an assertion."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "",
) -> T:
    """Call condition until it returns something true, and return that; fail at the deadline.

    The condition is always checked once more after the deadline has passed, so a slow machine
    that pauses this process past the deadline still sees the final state.
    """
    deadline = time.monotonic() + timeout
    while True:
        late = time.monotonic() >= deadline
        value = condition()
        if value:
            return value
        if late:
            said = message() if callable(message) else message
            raise AssertionError(f"not within {timeout:g} s" + (f": {said}" if said else ""))
        time.sleep(interval)


def process_gone(pid: int) -> bool:
    """Whether the process has ended (a zombie, ended but not yet reaped by its parent, counts)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    for line in status.splitlines():
        if line.startswith("State:"):
            return line.split()[1] in ("Z", "X")
    return False


def wait_gone(pids: Iterable[int], timeout: float = 30.0) -> None:
    """Wait until every one of pids has ended: a killed process needs a moment to go."""
    pids = list(pids)
    wait_until(
        lambda: all(process_gone(pid) for pid in pids),
        timeout=timeout,
        message=lambda: f"still running: {[pid for pid in pids if not process_gone(pid)]}",
    )
