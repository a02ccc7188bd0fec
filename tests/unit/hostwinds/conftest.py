"""Unit fixtures for the Hostwinds client: the HTTP layer is replaced by FakeHostwinds."""

from __future__ import annotations

import pytest
import requests
from hostwinds_fakes import KEY, URL, FakeHostwinds

from mailfleet.hostwinds import HostwindsClient


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

    return HostwindsClient(KEY, api_url=URL, session=session, sleep=sleep,
                           monotonic=lambda: clock["t"], poll_interval=5.0)
