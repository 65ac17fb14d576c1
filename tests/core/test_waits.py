"""The tests' one way of waiting: a condition polled until a deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.waits import process_gone, wait_gone, wait_until


def test_wait_until_returns_the_first_true_value() -> None:
    calls: list[int] = []

    def third_time() -> int:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    assert wait_until(third_time, timeout=5, interval=0.01) == 3


def test_wait_until_fails_at_the_deadline_and_says_why() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"not within 0\.2 s: still 7"):
        wait_until(lambda: False, timeout=0.2, interval=0.01, message=lambda: "still 7")
    assert 0.2 <= time.monotonic() - started < 5


def test_a_killed_process_is_waited_for_not_assumed_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not process_gone(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        wait_gone([child.pid], timeout=30)  # a zombie until reaped: ended all the same
        assert process_gone(child.pid)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert process_gone(child.pid)
