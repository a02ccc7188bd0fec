"""Fixtures shared by every tier. The testbed fixtures start real infrastructure for the session
and always stop it, also when tests fail."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from scheduling import CONVERGED_USERS, heaviest_first, work_unit

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker owns a testbed instance of its own (the base instance plus
    the worker's number), so testbed tests in different workers never share hosts, DNS or Redis."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ...
    if worker:
        base = int(os.environ.get("MAILFLEET_TESTBED_INSTANCE", "1"))
        os.environ["MAILFLEET_TESTBED_INSTANCE"] = str(base + int(worker.removeprefix("gw")))
    # ansible.cfg caches facts by host name in the user's home: each worker's runs (whose testbed
    # hosts reuse names across instances and modules) keep theirs apart, and leave none behind.
    facts = tempfile.mkdtemp(prefix="mailfleet-test-facts-")
    os.environ["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = facts
    config.add_cleanup(lambda: shutil.rmtree(facts, ignore_errors=True))


@pytest.hookimpl(optionalhook=True)  # a plain `pytest` without xdist loaded still collects
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """loadfile (each file whole on one worker), with CONVERGED_USERS as one unit of work, the units
    sent out in collection order (heaviest first: see tests/scheduling.py)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    config.option.loadscopereorder = False  # xdist's reorder puts the files with most tests first

    class ConvergedTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(super()._split_scope(nodeid))

    return ConvergedTogether(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Heaviest units first (tests/scheduling.py). A file that uses the converged servers must be in
    CONVERGED_USERS, or the other worker would converge them all over again."""
    strays = {
        item.nodeid.split("::")[0]
        for item in items
        if "converged_servers" in getattr(item, "fixturenames", ())
        and not item.nodeid.startswith(CONVERGED_USERS)
    }
    if strays:
        raise pytest.UsageError(
            f"{', '.join(sorted(strays))}: uses converged_servers, so belongs in CONVERGED_USERS"
            " (tests/scheduling.py)"
        )
    items[:] = heaviest_first(
        items,
        lambda item: item.nodeid.split("::")[0],
        lambda item: item.get_closest_marker("testbed") is not None,
    )


@pytest.fixture(scope="session", autouse=True)
def no_runners_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fails the session (after the other session fixtures stopped theirs) when a test left rq
    workers or playbooks of its own running: they would load the machine for the rest of the run."""
    yield
    from leftovers import RUNNERS, fail_on_leftovers

    fail_on_leftovers(tmp_path_factory.getbasetemp(), RUNNERS)


@pytest.fixture(autouse=True)
def plane_environment_only_where_asked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session plane's environment stays with the tests that use the plane: a test that runs
    after it on the same xdist worker and builds an app of its own would read the plane's site file."""
    if "control_plane" not in request.fixturenames:
        from controlplane import hide_plane_environment

        hide_plane_environment(monkeypatch)


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


@pytest.fixture(scope="session")
def control_plane(testbed, tmp_path_factory) -> Iterator[dict[str, object]]:
    """One control plane per session (per xdist worker): see tests/controlplane.py."""
    from controlplane import running_plane

    with running_plane(testbed, tmp_path_factory.mktemp("plane")) as plane:
        yield plane


#: The labels of the session's converged servers: the first test asking for one converges them all,
#: side by side (tests/integration/mail/ uses both).
CONVERGED_LABELS = ("ma", "mb")


@pytest.fixture(scope="session")
def converged_servers(testbed, control_plane) -> Iterator[Callable[[str], object]]:
    """`converged_servers("mb")`: that label's tenant and server, provisioned and converged by
    site.yml through the control plane once per session, whichever test asks first; the tests
    that ask later share it (so they leave it as they found it). Stopped at the session's end."""
    from controlplane import provision_tenants

    made: dict[str, object] = {}
    failed: dict[str, str] = {}

    def server(label: str) -> object:
        if label in failed:  # once is enough: converging again would fail the same way, slowly
            pytest.fail(f"converging {label}'s server failed earlier in this session: {failed[label]}")
        if label not in made:
            together = CONVERGED_LABELS if label in CONVERGED_LABELS else (label,)
            wanted = [each for each in together if each not in made]
            outcomes = provision_tenants(testbed, control_plane["app"], wanted)
            for each, outcome in outcomes.items():
                if isinstance(outcome, BaseException):
                    failed[each] = str(outcome)[:2000]
                else:
                    made[each] = outcome
            if label in failed:
                raise outcomes[label]
        return made[label]

    try:
        yield server
    finally:
        for made_server in made.values():
            testbed.stop_host(made_server.host.name)


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


#: What the tests' own environment gives ansible-playbook beside the repository's settings.
PASSED_TO_ANSIBLE = ("ANSIBLE_SSH_COMMON_ARGS", "MAILFLEET_KNOWN_HOSTS", "ANSIBLE_CACHE_PLUGIN_CONNECTION",
                     "ANSIBLE_STRATEGY")


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
        **{k: v for k, v in os.environ.items() if k in PASSED_TO_ANSIBLE},
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium through Playwright (headless), one per test module of the browser tier."""
    from chromium import launch
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()
