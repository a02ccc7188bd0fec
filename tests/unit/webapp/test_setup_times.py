"""How long setting a tenant up took: every mailbox asked of Mailu recorded with its time and result
(never a password), per day in the API, /metrics and the tenant page's charts, and each publication
of a domain's records timed to its DNS ready. A member sees only its own tenant's figures."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from mailfleet.clock import utcnow
from mailfleet.secrets import SecretsError
from webapp.extensions import db
from webapp.models import (
    AttemptResult,
    DnsPropagation,
    Domain,
    MailboxAttempt,
    Run,
    RunStatus,
    Server,
    ServerStatus,
)
from webapp.services import accounts, dnsdoctor, lifecycle, setup_times
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, csrf_token, login

pytestmark = pytest.mark.unit


def _bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}


def _attempts() -> dict[str, MailboxAttempt]:
    return {a.email: a for a in db.session.scalars(select(MailboxAttempt))}


def test_every_mailbox_asked_for_is_recorded_with_its_time_and_result(client, world, mailu):
    mail_server, domain = mailu
    mail_server.domains[domain.name]["max_users"] = 2
    body = {"domain": domain.name, "names": ["ann", "ben", "cid"]}
    answer = client.post("/api/v1/tenants/acme/mailboxes", headers=_bearer(world.alice), json=body)
    assert answer.status_code == 207
    passwords = [c["password"] for c in answer.get_json()["created"]]

    found = _attempts()
    assert {e: a.result for e, a in found.items()} == {
        "ann@acme-mail.example": AttemptResult.CREATED,
        "ben@acme-mail.example": AttemptResult.CREATED,
        "cid@acme-mail.example": AttemptResult.FAILED,
    }
    assert all(a.seconds is not None and 0 < a.seconds < 30 for a in found.values())
    assert "Too many users" in found["cid@acme-mail.example"].reason
    assert found["ann@acme-mail.example"].reason is None
    assert all(a.tenant_id == world.acme.id and a.domain_id == domain.id for a in found.values())
    stored = " ".join(f"{a.email} {a.reason}" for a in found.values())
    assert not any(p in stored for p in passwords)


def test_a_batch_stopped_by_mailu_records_the_one_sent_as_failed_and_the_rest_not_sent(client, world, mailu):
    mail_server, domain = mailu
    mail_server.api_token = "not-the-tenants-token"  # Mailu answers 403: the batch stops at once
    body = {"domain": domain.name, "names": ["ann", "ben"]}
    answer = client.post("/api/v1/tenants/acme/mailboxes", headers=_bearer(world.alice), json=body)
    assert answer.status_code == 207 and answer.get_json()["created"] == []

    found = _attempts()
    first, second = found["ann@acme-mail.example"], found["ben@acme-mail.example"]
    assert first.result == AttemptResult.FAILED and first.seconds is not None and "HTTP 403" in first.reason
    assert second.result == AttemptResult.NOT_SENT and second.seconds is None
    assert second.reason.startswith("not sent, the batch stopped: HTTP 403")


def test_mailu_out_of_reach_records_each_mailbox_as_not_sent(client, world, mailu, monkeypatch):
    def no_secret(*args, **kwargs):
        raise SecretsError("the tenant's Mailu token is missing from the secrets store")

    monkeypatch.setattr("webapp.services.mailboxes.mailu_client", no_secret)
    _server, domain = mailu
    body = {"domain": domain.name, "names": ["ann", "ben"]}
    answer = client.post("/api/v1/tenants/acme/mailboxes", headers=_bearer(world.alice), json=body)
    assert answer.status_code == 502 and "token is missing" in answer.get_json()["error"]
    found = _attempts()
    assert {a.result for a in found.values()} == {AttemptResult.NOT_SENT} and len(found) == 2
    assert all("cannot reach this tenant's Mailu" in a.reason for a in found.values())


def test_refused_input_records_no_attempt(client, world, mailu):
    _server, domain = mailu
    alice = _bearer(world.alice)
    body = {"domain": domain.name, "names": ["bad(name"]}
    assert client.post("/api/v1/tenants/acme/mailboxes", headers=alice, json=body).status_code == 400
    domain.dns_status = "failing"
    db.session.commit()
    body = {"domain": domain.name, "names": ["ann"]}
    assert client.post("/api/v1/tenants/acme/mailboxes", headers=alice, json=body).status_code == 400
    assert _attempts() == {}


def _attempt(tenant, domain, at: datetime, result: AttemptResult, seconds: float | None) -> None:
    db.session.add(MailboxAttempt(tenant_id=tenant.id, domain_id=domain.id if domain else None,
                                  email=f"u{seconds}-{at:%d%H%M%S}@x.example", result=result,
                                  seconds=seconds, attempted_at=at))


def _two_days(world, domain) -> datetime:
    """Yesterday: 4 asked, 3 created in 0.2, 0.4 and 2.0 s; today: 1 created in 0.5 s. globex: 1 failed."""
    now = utcnow().replace(hour=12)
    yesterday = now - timedelta(days=1)
    for seconds in (0.2, 0.4, 2.0):
        _attempt(world.acme, domain, yesterday, AttemptResult.CREATED, seconds)
    _attempt(world.acme, domain, yesterday, AttemptResult.FAILED, 0.1)
    _attempt(world.acme, domain, now, AttemptResult.CREATED, 0.5)
    _attempt(world.acme, domain, now - timedelta(days=40), AttemptResult.CREATED, 9.0)  # out of the chart
    _attempt(world.globex, None, now, AttemptResult.FAILED, 7.0)
    db.session.commit()
    return now


def test_days_count_attempts_success_and_percentiles_of_the_created(world, mailu):
    _server, domain = mailu
    now = _two_days(world, domain)
    days = setup_times.days(Scope(world.alice), world.acme, now.date())
    assert len(days) == 30 and days[-1].day == now.date()
    yesterday, today = days[-2], days[-1]
    assert (yesterday.attempts, yesterday.created, yesterday.success_rate) == (4, 3, 0.75)
    assert (yesterday.p50_seconds, yesterday.p95_seconds) == (0.4, 2.0)
    assert (today.attempts, today.created, today.p50_seconds, today.p95_seconds) == (1, 1, 0.5, 0.5)
    assert all(d.attempts == 0 and d.success_rate is None and d.p50_seconds is None for d in days[:-2])
    assert setup_times.percentile([], 0.5) is None
    assert setup_times.percentile([float(n) for n in range(1, 101)], 0.95) == 95.0


def test_api_shows_a_tenant_its_own_attempts_only(client, world, mailu):
    _server, domain = mailu
    _two_days(world, domain)
    mine = client.get("/api/v1/tenants/acme/mailboxes/attempts", headers=_bearer(world.alice))
    assert mine.status_code == 200
    document = mine.get_json()
    assert len(document["days"]) == 30
    assert document["days"][-2] | {"day": None} == {
        "day": None, "attempts": 4, "created": 3, "success_rate": 0.75, "p50_seconds": 0.4, "p95_seconds": 2.0
    }
    assert len(document["attempts"]) == 6
    assert {a["result"] for a in document["attempts"]} == {"created", "failed"}
    bob = _bearer(world.bob)
    assert client.get("/api/v1/tenants/acme/mailboxes/attempts", headers=bob).status_code == 404
    theirs = client.get("/api/v1/tenants/globex/mailboxes/attempts", headers=bob).get_json()
    assert [a["seconds"] for a in theirs["attempts"]] == [7.0]
    assert sum(d["attempts"] for d in theirs["days"]) == 1


def _scrape(client, world) -> dict:
    text = client.get("/metrics", headers=_bearer(world.admin)).get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_attempts_by_tenant_and_result_and_time_them(client, world, mailu):
    _server, domain = mailu
    _two_days(world, domain)
    _attempt(world.acme, domain, utcnow(), AttemptResult.NOT_SENT, None)
    db.session.commit()
    got = _scrape(client, world)
    counter = "mailfleet_mailbox_attempts_total"
    assert got[(counter, (("result", "created"), ("tenant", "acme")))] == 5
    assert got[(counter, (("result", "failed"), ("tenant", "acme")))] == 1
    assert got[(counter, (("result", "not_sent"), ("tenant", "acme")))] == 1
    assert got[(counter, (("result", "failed"), ("tenant", "globex")))] == 1
    seconds = "mailfleet_mailbox_provisioning_seconds"
    assert got[(f"{seconds}_bucket", (("le", "0.25"), ("result", "created")))] == 1
    assert got[(f"{seconds}_bucket", (("le", "0.5"), ("result", "created")))] == 3
    assert got[(f"{seconds}_bucket", (("le", "10.0"), ("result", "created")))] == 5
    assert got[(f"{seconds}_count", (("result", "created"),))] == 5  # not_sent has no time
    assert got[(f"{seconds}_sum", (("result", "failed"),))] == pytest.approx(7.1)
    # a mailbox's address is never a label
    assert not any("@" in value for _name, labels in got for _key, value in labels)


def test_tenant_page_charts_its_own_figures_only(client, world, mailu):
    _server, domain = mailu
    _two_days(world, domain)
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get("/tenants/acme").get_data(as_text=True)
    section = page[page.index('id="setup-times"'):]
    assert '<svg class="chart" id="chart-created"' in section
    assert "4 of 5 asked for" in section  # the one 40 days ago is not charted
    assert len(re.findall(r"<rect [^>]*><title>[^<]*created</title>", section)) == 2
    assert re.search(r'id="chart-success".*?<polyline points="[^"]+"', section, re.S)
    two_lines = r'id="chart-mailbox-time".*?<polyline points="[^"]+".*?<polyline points="[^"]+"'
    assert re.search(two_lines, section, re.S)
    assert "3 of 4" in section  # yesterday, below 100 %
    assert client.get("/tenants/globex").status_code == 404

    client.post("/logout", data={"csrf_token": csrf_token(client, "/tenants/acme")})
    assert login(client, world.bob.email, TEST_PASSWORD).status_code == 302
    theirs = client.get("/tenants/globex").get_data(as_text=True)
    assert "0 of 1 asked for" in theirs and "4 of 5" not in theirs


def _publish_run(world) -> Run:
    run = Run(tenant_id=world.acme.id, playbook="site.yml", status=RunStatus.SUCCESSFUL)
    db.session.add(run)
    db.session.commit()
    return run


def test_each_publication_is_timed_to_ready_and_charted_per_domain(client, world, mailu):
    _server, domain = mailu
    run = _publish_run(world)
    first = utcnow() - timedelta(days=2)
    dnsdoctor.note_published(domain, first, run)
    dnsdoctor.record_report(domain, {"status": "propagating"}, first + timedelta(seconds=60))
    dnsdoctor.record_report(domain, {"status": "ready"}, first + timedelta(seconds=300))
    dnsdoctor.record_report(domain, {"status": "ready"}, first + timedelta(seconds=900))  # still ready
    abandoned = first + timedelta(days=1)
    dnsdoctor.note_published(domain, abandoned)  # published again before it was ready
    db.session.commit()
    latest = abandoned + timedelta(hours=1)
    dnsdoctor.note_published(domain, latest)
    dnsdoctor.record_report(domain, {"status": "ready"}, latest + timedelta(seconds=120))

    rows = db.session.scalars(select(DnsPropagation).order_by(DnsPropagation.published_at)).all()
    assert [(r.run_id, r.seconds) for r in rows] == [(run.id, 300), (None, None), (None, 120)]
    assert rows[0].ready_at == first + timedelta(seconds=300)
    assert domain.dns_propagation_seconds == 120

    path = f"/api/v1/tenants/acme/domains/{domain.id}/dns/propagations"
    listed = client.get(path, headers=_bearer(world.alice))
    assert [(p["run_id"], p["seconds"], p["ready_at"] is None) for p in listed.get_json()] == [
        (run.id, 300, False), (None, None, True), (None, 120, False)
    ]
    assert client.get(path, headers=_bearer(world.bob)).status_code == 404

    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get("/tenants/acme").get_data(as_text=True)
    chart = re.search(r'id="chart-propagation".*?</svg>', page, re.S).group(0)
    assert len(re.findall(r"<circle ", chart)) == 2  # the two publications that became ready
    assert re.search(r'data-domain="acme-mail.example">.*?last 2 min 0 s', page)

    # the domain's DNS page lists its publications, newest first, with the run of each
    wizard = client.get(f"/tenants/acme/domains/{domain.id}/dns").get_data(as_text=True)
    table = re.search(r'id="dns-publications".*?</table>', wizard, re.S).group(0)
    rows = re.findall(r"<tr><td>.*?</tr>", table, re.S)
    assert [re.findall(r'class="publication-took">([^<]*)<', row)[0].strip() for row in rows] == [
        "2 min 0 s", "—", "5 min 0 s"
    ]
    assert "published again first" in rows[1] and f'href="/runs/{run.id}"' in rows[2]


def test_removing_a_domain_keeps_its_attempts_and_deleting_the_tenant_removes_all(world, mailu):
    _server, domain = mailu
    _two_days(world, domain)
    dnsdoctor.note_published(domain, datetime(2026, 1, 1, tzinfo=UTC))
    db.session.commit()
    db.session.delete(db.session.get(Domain, domain.id))
    db.session.commit()
    assert db.session.scalars(select(DnsPropagation)).all() == []
    kept = db.session.scalars(select(MailboxAttempt).where(MailboxAttempt.tenant_id == world.acme.id)).all()
    assert len(kept) == 6 and all(a.domain_id is None for a in kept)

    for server in db.session.scalars(select(Server).where(Server.tenant_id == world.acme.id)):
        server.status = ServerStatus.GONE
    db.session.commit()
    lifecycle.delete_tenant(Scope(world.admin), world.acme, "acme")
    assert db.session.scalars(select(MailboxAttempt.tenant_id)).all() == [world.globex.id]
