"""Unit fixtures for the Hostwinds client: the HTTP layer is replaced by FakeHostwinds."""

from __future__ import annotations

import pytest
import requests
from hostwinds_fakes import KEY, URL, FakeHostwinds, ServedDouble

from mailfleet.hostwinds import HostwindsClient
from mailfleet.secrets import get_store
from testbed.doubles.hostwinds import DEFAULT_KEY as DOUBLE_KEY


@pytest.fixture
def fake_api() -> FakeHostwinds:
    return FakeHostwinds()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(fake_api: FakeHostwinds, sleeps: list[float]) -> HostwindsClient:
    session = requests.Session()
    session.mount("https://", fake_api)
    clock = {"t": 0.0}

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock["t"] += seconds

    return HostwindsClient(
        KEY, api_url=URL, session=session, sleep=sleep, monotonic=lambda: clock["t"], poll_interval=5.0
    )


@pytest.fixture
def double_state():
    from testbed.doubles.hostwinds import HostwindsState, ManualClock

    return HostwindsState(clock=ManualClock())


@pytest.fixture
def double(double_state):
    served = ServedDouble(double_state)
    yield served
    served.close()


@pytest.fixture
def double_client(double) -> HostwindsClient:
    """A real client (real HTTP, IPv4) against the double; its sleeps move the double's clock."""
    return HostwindsClient(
        DOUBLE_KEY,
        api_url=double.url,
        sleep=double.state.clock.advance,
        timeout=(2.0, 2.0),
        backoff=0.01,
        poll_interval=5.0,
    )


@pytest.fixture
def store_env(tmp_path) -> dict[str, str]:
    """A local secrets store holding the double's API key, as the playbooks' environment."""
    env = {
        "MAILFLEET_SECRETS_BACKEND": "local",
        "MAILFLEET_SECRETS_FILE": str(tmp_path / "s/store.enc"),
        "MAILFLEET_MASTER_KEY_FILE": str(tmp_path / "s/master.key"),
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts"),
    }
    get_store(env).put("global/hostwinds", {"api_key": DOUBLE_KEY})
    return env
