"""Fixtures shared by every tier. The testbed fixtures start real infrastructure for the session
and always stop it, also when tests fail."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker owns a testbed instance of its own (the base instance plus
    the worker's number), so testbed tests in different workers never share hosts, DNS or Redis."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ...
    if worker:
        base = int(os.environ.get("MAILFLEET_TESTBED_INSTANCE", "1"))
        os.environ["MAILFLEET_TESTBED_INSTANCE"] = str(base + int(worker.removeprefix("gw")))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def testbed() -> Iterator[object]:
    """The session's testbed instance (MAILFLEET_TESTBED_INSTANCE, default 1; one per xdist worker):
    DNS, ACME, Redis and the apt proxy up; hosts are started by the tests that need them
    (see `testbed_hosts`)."""
    if os.geteuid() != 0 or shutil.which("systemd-nspawn") is None:
        pytest.fail("the testbed tier needs root and systemd-container (run `make test`)")
    from testbed import Testbed

    tb = Testbed()
    # ansible.cfg checks host keys strictly: plays run by tests trust the keys the hosts booted with.
    known_hosts = pytest.MonkeyPatch()
    known_hosts.setenv("ANSIBLE_SSH_COMMON_ARGS", f"-o UserKnownHostsFile={tb.known_hosts}")
    known_hosts.setenv("MAILFLEET_KNOWN_HOSTS", str(tb.known_hosts))  # the playbooks' own ssh calls
    try:
        tb.up()
        yield tb
    finally:
        known_hosts.undo()
        tb.down()


@pytest.fixture
def testbed_hosts(testbed):
    """Boot hosts for one test: `web1, web2 = testbed_hosts("web1", "web2")`; stopped afterwards."""
    started: list[str] = []

    def boot(*names: str, authorized_keys: tuple[str, ...] = ()):
        hosts = testbed.start_hosts(list(names), authorized_keys=authorized_keys)
        started.extend(names)
        return hosts if len(hosts) > 1 else hosts[0]

    yield boot
    for name in started:
        testbed.stop_host(name)


@pytest.fixture
def ansible_env(repo_root: Path) -> dict[str, str]:
    """Environment for running ansible-playbook / ansible-inventory from tests with the repo's config."""
    venv_bin = Path(os.sys.executable).parent
    return {
        "PATH": f"{venv_bin}:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "ANSIBLE_CONFIG": str(repo_root / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        **{k: v for k, v in os.environ.items() if k in ("ANSIBLE_SSH_COMMON_ARGS", "MAILFLEET_KNOWN_HOSTS")},
    }


CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium through Playwright (headless), one per test module of the browser tier."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=list(CHROMIUM_ARGS), headless=True
        )
        yield chromium
        chromium.close()
