"""Outside probes against loopback stand-ins: ports, SMTP + STARTTLS + certificate, IMAP probe
login, and a slow server that must not hold up the sweep. Needs only 127.0.0.0/8 (and root for
ports 25/993/443 on this instance's loopback addresses)."""

from __future__ import annotations

import pytest
from monitoring_fakes import FakeMailServer, LoopThread, TestCA

from mailfleet.monitoring import MonitoringConfig, ProbeCredentials, ServerTarget, Status, SweepEngine

pytestmark = pytest.mark.testbed

HOST = "mail.example.test"
BASE = "127.77.18."  # instance 18's loopback block; fakes use .100 and up


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path)


@pytest.fixture
def loop():
    lt = LoopThread()
    yield lt
    lt.close()


def serve(loop, server: FakeMailServer, **kw) -> FakeMailServer:
    loop.run(server.start(**kw))
    return server


def engine(ca, **over) -> SweepEngine:
    settings = {
        "resolver": BASE + "3",
        "ca_file": str(ca.ca_file),
        "checks": ["ports", "smtp", "imap"],
        "connect_timeout": 1.0,
        "tls_timeout": 2.0,
    }
    settings.update(over)
    return SweepEngine(MonitoringConfig.from_mapping(settings))


def target(addr: str, **kw) -> ServerTarget:
    return ServerTarget(
        kw.pop("name", addr), HOST, ipv4=(addr,), ports=kw.pop("ports", (25, 993, 443, 1)), **kw
    )


def test_healthy_server_probes_green(ca, loop):
    cert, key = ca.issue(HOST, days=60)
    fake = serve(loop, FakeMailServer(BASE + "101", cert, key))
    try:
        report = engine(ca).run(
            [target(BASE + "101", imap_probe=ProbeCredentials(fake.imap_user, fake.imap_password))]
        )
    finally:
        loop.run(fake.stop())
    got = report.for_server(BASE + "101")
    assert got[f"port:25@{BASE}101"].status is Status.OK
    assert got[f"port:443@{BASE}101"].status is Status.OK
    assert got[f"port:1@{BASE}101"].status is Status.ERROR and "refused" in got[f"port:1@{BASE}101"].detail
    assert got["smtp:banner"].status is Status.OK and "ESMTP" in got["smtp:banner"].detail
    assert got["smtp:starttls"].status is Status.OK
    assert got["tls:25"].status is Status.OK and got["tls:25"].value in (59, 60)
    assert got["tls:993"].status is Status.OK
    assert got["imap:login"].status is Status.OK
    assert fake.logins == [fake.imap_user]


def test_expiring_self_signed_and_missing_starttls(ca, loop):
    cert, key = ca.issue(HOST, days=10)
    soon = serve(loop, FakeMailServer(BASE + "102", cert, key))
    cert2, key2 = ca.issue(HOST, days=300, self_signed=True)
    selfsigned = serve(loop, FakeMailServer(BASE + "103", cert2, key2))
    cert3, key3 = ca.issue(HOST, days=300)
    plain = serve(loop, FakeMailServer(BASE + "104", cert3, key3, starttls=False), imap=False, https=False)
    try:
        report = engine(ca).run(
            [
                target(BASE + "102", ports=(25,)),
                target(
                    BASE + "103",
                    ports=(25,),
                    imap_probe=ProbeCredentials("probe@example.test", "s3cret-probe-pw"),
                ),
                target(BASE + "104", ports=(25,)),
            ]
        )
    finally:
        for fake in (soon, selfsigned, plain):
            loop.run(fake.stop())
    soon_r = report.for_server(BASE + "102")
    assert soon_r["tls:25"].status is Status.WARNING and soon_r["tls:25"].value == 10
    bad = report.for_server(BASE + "103")
    assert bad["tls:25"].status is Status.ERROR and "self-signed" in bad["tls:25"].detail
    assert bad["tls:25"].value in (299, 300)  # dates still read from the untrusted certificate
    assert bad["tls:993"].status is Status.ERROR
    # The password is never sent over a connection whose certificate failed verification.
    assert bad["imap:login"].status is Status.UNKNOWN and selfsigned.logins == []
    assert report.for_server(BASE + "104")["smtp:starttls"].status is Status.ERROR


def test_wrong_probe_password_is_red_and_never_reported(ca, loop):
    cert, key = ca.issue(HOST)
    fake = serve(loop, FakeMailServer(BASE + "105", cert, key), smtp=False, https=False)
    wrong = "Wrong-Pass-1234"
    try:
        report = engine(ca, checks=["imap"]).run(
            [target(BASE + "105", imap_probe=ProbeCredentials(fake.imap_user, wrong))]
        )
    finally:
        loop.run(fake.stop())
    login = report.for_server(BASE + "105")["imap:login"]
    assert login.status is Status.ERROR and "refused" in login.detail
    assert all(wrong not in str(r.to_dict()) for r in report.results)
    assert wrong not in repr(ProbeCredentials("u", wrong))


def test_slow_server_does_not_hold_up_the_sweep(ca, loop):
    cert, key = ca.issue(HOST)
    slow = serve(loop, FakeMailServer(BASE + "106", cert, key, silent_smtp=True), imap=False, https=False)
    fast = [serve(loop, FakeMailServer(BASE + str(110 + i), cert, key)) for i in range(5)]
    try:
        report = engine(ca, tls_timeout=2.0).run(
            [target(BASE + "106", ports=(25,))] + [target(f.address, ports=(25, 993)) for f in fast]
        )
    finally:
        for f in (slow, *fast):
            loop.run(f.stop())
    slow_r = report.for_server(BASE + "106")
    # The slow server comes first in the list, yet every other server was checked while it was
    # still being waited for: the sweep does not queue servers behind a slow one.
    gave_up_at = slow_r["smtp:banner"].checked_at
    assert all(report.for_server(f.address)["smtp:starttls"].checked_at < gave_up_at for f in fast)
    assert slow_r["smtp:banner"].status is Status.ERROR and "within 2 s" in slow_r["smtp:banner"].detail
    assert slow_r["smtp:starttls"].status is Status.UNKNOWN
    for f in fast:
        assert report.for_server(f.address)["smtp:starttls"].status is Status.OK
