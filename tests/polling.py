"""Waiting for what a test cannot be told about: poll a condition, never assert on wall-clock time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, every: float = 1.0) -> T:
    """Poll until `predicate` returns something true, and return that; the bound only keeps a broken
    build from hanging (AssertionError naming `what`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"gave up waiting for {what}")
