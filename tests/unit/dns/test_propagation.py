from __future__ import annotations

import pytest

from mailfleet.dns import PropagationTimeout, Record, expectations, propagation, wait_for_propagation
from mailfleet.dns.errors import DnsQueryError
from mailfleet.dns.query import Answer

pytestmark = pytest.mark.unit

NEW = Record.make("example.test", "MX", "10 mail.example.test")
OLD = Record.make("example.test", "MX", "10 old.example.test")


class Servers:
    """Per server: the MX values it serves, switched to the new ones after `lag` rounds."""

    def __init__(self, lags):
        self.lags = dict(lags)
        self.asked = []

    def query(self, server, name, rtype, *, port=53, timeout=3.0):
        self.asked.append(server)
        if self.lags[server] is None:
            raise DnsQueryError(f"{server}: REFUSED for {name} {rtype}")
        rounds = self.asked.count(server)
        values = (NEW.value,) if rounds > self.lags[server] else (OLD.value,)
        return Answer(server, name, rtype, values, 600, True)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_waits_until_every_server_has_the_new_values(monkeypatch):
    servers = Servers({"127.0.0.1": 0, "127.0.0.2": 2})
    monkeypatch.setattr(propagation, "query_rrset", servers.query)
    clock = Clock()
    report = wait_for_propagation(
        expectations([NEW], [OLD]),
        ["127.0.0.1", "127.0.0.2"],
        timeout=30,
        interval=1,
        clock=clock,
        sleep=clock.sleep,
    )
    assert report.ok and report.rounds == 3
    assert servers.asked.count("127.0.0.1") == 1  # in sync servers are not asked again
    assert "2 of 2" in report.summary()


def test_timeout_names_the_lagging_server_and_what_it_serves(monkeypatch):
    servers = Servers({"127.0.0.1": 0, "127.0.0.2": 99, "127.0.0.3": None})
    monkeypatch.setattr(propagation, "query_rrset", servers.query)
    clock = Clock()
    with pytest.raises(PropagationTimeout) as info:
        wait_for_propagation(
            expectations([NEW], [OLD]),
            ["127.0.0.1", "127.0.0.2", "127.0.0.3"],
            timeout=5,
            interval=1,
            clock=clock,
            sleep=clock.sleep,
        )
    report = info.value.report
    assert report.lagging == ["127.0.0.2", "127.0.0.3"]
    message = str(info.value)
    assert (
        "1 of 3" in message
        and "127.0.0.2 lags" in message
        and "still has" in message
        and "REFUSED" in message
    )
    assert clock.now <= 5


def test_expectations_group_by_name_and_type():
    got = expectations([NEW], [OLD, Record.make("_dmarc.example.test", "TXT", "v=DMARC1; p=none")])
    assert [(e.name, e.rtype) for e in got] == [("_dmarc.example.test", "TXT"), ("example.test", "MX")]
    assert got[1].present == {NEW.value} and got[1].absent == {OLD.value}
