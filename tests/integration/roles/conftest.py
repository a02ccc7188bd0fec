"""Fixtures for role tests; the helpers (run_playbook, write_inventory, PlaybookRun) are in
roletest.py beside this file."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="module")
def start_hosts(testbed: Any) -> Any:
    """Boot fresh testbed hosts for one test module and stop them (by recorded PID) afterwards.

    ``hosts = start_hosts("hard1")`` returns the testbed's Host objects (root login by key).
    """
    started: list[str] = []

    def _start(*names: str) -> list[Any]:
        hosts = testbed.start_hosts(list(names))
        started.extend(names)
        return hosts

    yield _start
    for name in started:
        testbed.stop_host(name)
