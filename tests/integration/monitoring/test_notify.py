"""Notifications end to end on loopback: a flapping port swept again and again through the state
machine, delivered to a local webhook receiver (HMAC checked) and a local SMTP sink."""

from __future__ import annotations

import json
import socket
import time
from email import message_from_bytes

import pytest
from monitoring_fakes import FakeMailServer, LoopThread, TestCA, WebhookReceiver

from mailfleet.monitoring import (
    AlertPolicies,
    AlertPolicy,
    EmailNotifier,
    InMemoryHealthStore,
    MonitoringConfig,
    NotificationRouter,
    ServerTarget,
    SweepEngine,
    WebhookNotifier,
    record_results,
    verify_signature,
)
from mailfleet.monitoring.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER

pytestmark = pytest.mark.testbed

SECRET = b"webhook-secret-0123456789abcdef"
RELAY = "127.77.18.120"
PROBED = "127.77.18.121"


@pytest.fixture
def loop():
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture
def receiver():
    r = WebhookReceiver("127.77.18.122")
    yield r
    r.close()


@pytest.fixture
def sink(loop, tmp_path):
    ca = TestCA(tmp_path)
    cert, key = ca.issue("relay.example.test")
    relay = FakeMailServer(RELAY, cert, key, smtp_port=2525)
    loop.run(relay.start(imap=False, https=False))
    yield relay
    loop.run(relay.stop())


def test_flapping_check_notifies_once_per_real_change(receiver, sink):
    """Port 25 flaps up and down between sweeps; with fail_after=2/pass_after=2 only the real outage
    (two failures in a row) opens an alert and only two passes in a row resolve it."""
    cfg = MonitoringConfig.from_mapping(
        {"resolver": "127.77.18.3", "checks": ["ports"], "connect_timeout": 1}
    )
    engine = SweepEngine(cfg)
    router = NotificationRouter(
        primary=[
            WebhookNotifier(receiver.url, SECRET),
            EmailNotifier(RELAY, "monitor@example.test", ("ops@example.test",), port=2525),
        ]
    )
    policies = AlertPolicies(AlertPolicy(fail_after=2, pass_after=2))
    store = InMemoryHealthStore()
    target = ServerTarget("mail1", "mail.example.test", ipv4=(PROBED,), ports=(25,))

    deliveries = []
    # up, down, up, down, down (opens), up, down, up, up (resolves), down, up
    for up in (True, False, True, False, False, True, False, True, True, False, True):
        # The kernel completes the handshake on a listening socket: enough for a port check.
        listener = socket.create_server((PROBED, 25)) if up else None
        try:
            notes = record_results(store, engine.run([target]).results, policies)
        finally:
            if listener is not None:
                listener.close()
        deliveries += router.deliver(notes)

    assert all(d.ok for d in deliveries), [d.error for d in deliveries]
    assert [json.loads(body)["event"] for _, body in receiver.requests] == ["opened", "resolved"]
    assert len(sink.messages) == 2
    assert len(store.history) == 1
    assert [e.kind.value for e in store.history[0].events] == ["opened", "resolved"]


def test_webhook_signature_verifies_and_resists_replay_and_tampering(receiver):
    from datetime import UTC, datetime

    from mailfleet.monitoring import CheckResult, Status, evaluate

    t = evaluate(
        None,
        CheckResult("mail1", "dkim:example.test", Status.ERROR, None, "no record", datetime.now(UTC)),
        AlertPolicy(fail_after=1),
    )
    WebhookNotifier(receiver.url, SECRET).send(t.notifications[0])
    ((headers, body),) = receiver.requests
    payload = json.loads(body)
    assert payload["event"] == "opened" and payload["alert"]["check"] == "dkim:example.test"
    ts, sig = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert verify_signature(SECRET, ts, body, sig)
    assert not verify_signature(SECRET, ts, body.replace(b"mail1", b"mail2"), sig)
    assert not verify_signature(b"another-secret-0123456789", ts, body, sig)
    assert not verify_signature(SECRET, ts, body, sig, now=time.time() + 3600)  # replayed an hour later
    assert SECRET.decode() not in repr(WebhookNotifier(receiver.url, SECRET))


def test_email_reaches_the_sink_with_subject_and_timeline(sink):
    from datetime import UTC, datetime

    from mailfleet.monitoring import CheckResult, Status, evaluate

    t = evaluate(
        None,
        CheckResult(
            "mail1",
            "dnsbl:bl.example.test:192.0.2.1",
            Status.ERROR,
            "127.0.0.2",
            "listed on Test BL",
            datetime.now(UTC),
            "https://bl.example.test/remove",
        ),
        AlertPolicy(fail_after=1),
    )
    EmailNotifier(RELAY, "monitor@example.test", ("ops@example.test",), port=2525).send(t.notifications[0])
    (raw,) = sink.messages
    msg = message_from_bytes(raw)
    assert msg["Subject"] == "[mailfleet] OPEN critical: mail1 dnsbl:bl.example.test:192.0.2.1"
    text = msg.get_payload()
    assert "https://bl.example.test/remove" in text and "opened" in text


def test_failed_channel_is_reported_not_raised(receiver):
    from datetime import UTC, datetime

    from mailfleet.monitoring import CheckResult, Status, evaluate

    t = evaluate(
        None,
        CheckResult("mail1", "port:25@192.0.2.1", Status.ERROR, None, "refused", datetime.now(UTC)),
        AlertPolicy(fail_after=1),
    )
    router = NotificationRouter(
        primary=[
            EmailNotifier("127.77.18.123", "m@example.test", ("ops@example.test",), port=2599, timeout=1),
            WebhookNotifier(receiver.url, SECRET),
        ]
    )
    deliveries = router.deliver(list(t.notifications))
    assert [d.ok for d in deliveries] == [False, True]
    assert "2599" in deliveries[0].error and len(receiver.requests) == 1
