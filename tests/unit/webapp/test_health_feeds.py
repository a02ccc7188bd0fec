"""What the sweep is fed besides outside probes: each domain's DKIM key from the server's Mailu,
the inside facts documents, the webhook secret from the secrets store; and the one retry of a
failed notification."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from jobs import health as job
from mailfleet.clock import utcnow
from mailfleet.monitoring import (
    Alert,
    AlertState,
    Channel,
    FactsThresholds,
    MonitoringConfigError,
    Notification,
    NotificationError,
    NotificationKind,
    NotificationRouter,
    Severity,
    Status,
    deliver_with_retry,
    facts_results,
    monitoring_config,
    notification_router,
    record_results,
)
from mailfleet.monitoring.channels import WEBHOOK_SECRET_PATH
from webapp.extensions import db
from webapp.integrations import secret_store
from webapp.models import Domain, SqlHealthStore
from webapp.services import health
from webapp.services.scope import Scope

pytestmark = pytest.mark.unit

KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 300 + "IDAQAB"


def mailu_line(domain: str, selector: str = "dkim") -> str:
    txt = f"v=DKIM1; k=rsa; p={KEY}"
    chunks = " ".join(f'"{txt[p : p + 250]}"' for p in range(0, len(txt), 250))  # as Mailu splits it
    return f"{selector}._domainkey.{domain}. 600 IN TXT {chunks}"


class FakeMailu:
    calls: list[tuple[str, str]] = []

    def __init__(self, url: str, token: str) -> None:
        self.url = url

    def get_domain(self, name: str) -> dict:
        FakeMailu.calls.append((self.url, name))
        if "down" in self.url:
            raise ConnectionError("Mailu unreachable")
        return {"name": name, "dns_dkim": mailu_line(name, "mail2025") if name == "acme.test" else None}


def test_dkim_key_from_mailus_zone_line():
    assert job.dkim_key(mailu_line("acme.test")) == ("dkim", KEY)
    assert job.dkim_key(None) is None
    assert job.dkim_key('dkim._domainkey.acme.test. 600 IN TXT "v=DKIM1; k=rsa; p="') is None  # revoked


@pytest.fixture
def servers(app, world, add_server):
    app.config["MAILU_CLIENT_FACTORY"] = FakeMailu
    app.config["MAILFLEET_MAILU_URL"] = "http://127.0.0.1:9/{host}/api/v1"
    for slug in ("acme", "globex"):
        secret_store(app).put(f"tenants/{slug}/mailu", {"api_token": "token-for-tests"})
    # hostname is the provider's name: checked nowhere.
    up = add_server(
        world.acme, "mf-acme-1", "198.51.100.7",
        hostname="hwsrv-40001.hostwindsdns.com", mail_hostname="mail.acme.test",
    )
    down = add_server(
        world.globex, "mf-globex-down", "198.51.100.8",
        hostname="hwsrv-40002.hostwindsdns.com", mail_hostname="mail.globex.test",
    )
    db.session.add_all(
        [
            Domain(tenant_id=world.acme.id, server_id=up.id, name="acme.test"),
            Domain(tenant_id=world.acme.id, server_id=up.id, name="nokey.test"),
            Domain(tenant_id=world.globex.id, server_id=down.id, name="globex.test"),
        ]
    )
    db.session.commit()
    return up, down


def test_targets_carry_each_domains_dkim_key_and_an_unreachable_mailu_leaves_it_unknown(app, servers):
    FakeMailu.calls.clear()
    found = {t.name: t for t in job.targets(app=app)}
    acme = {d.name: d for d in found["mf-acme-1"].domains}
    assert (acme["acme.test"].dkim_selector, acme["acme.test"].dkim_public_key) == ("mail2025", KEY)
    assert acme["nokey.test"].dkim_public_key is None  # Mailu has no key for it
    assert found["mf-globex-down"].domains[0].dkim_public_key is None  # sweep goes on without it
    # Each server's Mailu is asked at the server's mail host name, one domain at a time.
    assert ("http://127.0.0.1:9/mail.acme.test/api/v1", "acme.test") in FakeMailu.calls
    assert ("http://127.0.0.1:9/mail.acme.test/api/v1", "nokey.test") in FakeMailu.calls
    # MX, PTR, A, TLS and MTA-STS are checked against the mail host name, not the provider's.
    assert found["mf-acme-1"].hostname == "mail.acme.test"


def _facts(**over) -> dict:
    doc = {
        "schema": 1,
        "host": "mf-acme-1",
        "collected_at": utcnow().isoformat(),
        "disk": [{"mount": "/", "size_bytes": 100, "free_bytes": 60}],
        "memory": {"total_mb": 2000, "available_mb": 1000},
        "load": {"load1": 0.1, "load5": 0.1, "load15": 0.1, "cpus": 2},
        "containers": [{"name": "mailu-smtp-1", "state": "running", "health": "healthy"}],
        "mail_queue": {"deferred": 0, "active": 0},
        "updates": {"pending": 0, "security": 0, "reboot_required": False},
        "fail2ban": {"running": True, "banned": 2, "jails": 2},
        "backup": {"last_success": (utcnow() - timedelta(minutes=20)).isoformat()},
        "firewall": {"active": True, "rules": 12},
        "sendcap": {"configured": True, "address": "127.0.0.1:10040", "answering": True, "error": None},
    }
    doc.update(over)
    return doc


def test_fresh_healthy_facts_show_all_green_on_the_board(app, world, servers, tmp_path):
    up, _ = servers
    (tmp_path / "mf-acme-1.json").write_text(json.dumps(_facts()))
    results = facts_results(["mf-acme-1"], tmp_path, FactsThresholds(), utcnow())
    record_results(
        SqlHealthStore(),
        results,
        monitoring_config({"MAILFLEET_MONITORING_RESOLVER": "127.0.0.1"}).alerts,
    )
    board = health.board(Scope(world.alice), up.id)
    assert board.overall == "ok" and set(board.counts) == {"ok"}
    system = dict(board.sections)["System"]
    assert {r.check.check for r in system} >= {
        "facts",
        "disk:/",
        "memory",
        "backup",
        "firewall",
        "fail2ban",
    }


def test_stale_missing_or_broken_facts_are_never_green(tmp_path):
    now = datetime.now(UTC)
    (tmp_path / "old.json").write_text(json.dumps(_facts()))
    past = time.time() - 3600
    os.utime(tmp_path / "old.json", (past, past))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "full.json").write_text(
        json.dumps(_facts(disk=[{"mount": "/", "size_bytes": 100, "free_bytes": 5}]))
    )
    got = {
        (r.server, r.check): r
        for r in facts_results(["old", "missing", "broken", "full"], tmp_path, FactsThresholds(), now)
    }
    assert (
        got[("old", "facts")].status is Status.WARNING
        and "min old: is the facts play running" in got[("old", "facts")].detail
    )
    assert ("old", "disk:/") not in got  # stale numbers are not shown as current
    assert got[("missing", "facts")].status is Status.UNKNOWN
    assert got[("broken", "facts")].status is Status.UNKNOWN and "not JSON" in got[("broken", "facts")].detail
    assert got[("full", "disk:/")].status is Status.ERROR


def _note() -> Notification:
    now = utcnow()
    alert = Alert("mf-acme-1", "tls:25", Severity.CRITICAL, AlertState.OPEN, now, "expired")
    return Notification(NotificationKind.OPENED, Channel.PRIMARY, alert, now)


class Flaky:
    def __init__(self, name: str, failures: int) -> None:
        self.name, self.failures, self.sent = name, failures, 0

    def send(self, notification: Notification) -> None:
        if self.failures:
            self.failures -= 1
            raise NotificationError(f"{self.name}: 503")
        self.sent += 1


def test_a_failed_notification_is_retried_once():
    once, always = Flaky("webhook", 1), Flaky("email", 5)
    deliveries = deliver_with_retry(NotificationRouter((once, always)), [_note()], delay=0)
    assert once.sent == 1 and always.failures == 3  # tried twice, not more
    assert sorted((d.notifier, d.ok) for d in deliveries) == [("email", False), ("webhook", True)]


def test_webhook_secret_from_the_secrets_store(app):
    env = {"MAILFLEET_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook"}
    with pytest.raises(MonitoringConfigError, match="webhook_secret"):
        notification_router(env, secrets=lambda: secret_store(app))
    secret_store(app).put(WEBHOOK_SECRET_PATH, {"webhook_secret": "s3cret-from-the-store-0123456789"})
    router = notification_router(env, secrets=lambda: secret_store(app))
    assert [n.name for n in router.primary] == ["webhook"]
    assert router.primary[0].secret == b"s3cret-from-the-store-0123456789"
