"""Domain DNS readiness in the control plane: mailboxes are refused on a domain the DNS doctor has
not found ready (with the reason, in the UI and the API) unless an admin overrides, which is
recorded; the wizard page walks the findings in fixing order with records and steps, to its
tenant only; "Check again" queues a job instead of checking in the request; the first ready after
a change records the propagation time; the scheduler picks the domains that are due."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import Domain, DomainStatus, Mailbox
from webapp.queue import get_system_queue
from webapp.services import accounts, dnsdoctor
from webapp.testing import TEST_PASSWORD as PASSWORD
from webapp.testing import csrf_token, login

pytestmark = pytest.mark.unit

FAILING = {
    "status": "failing",
    "zone": "acme-mail.example",
    "dns_host": {"key": "cloudflare", "name": "Cloudflare", "managed": False},
    "reasons": ["No SPF record: SPF acme-mail.example: no v=spf1 record"],
    "findings": [
        {"code": "spf.missing", "status": "error", "section": "authentication", "title": "No SPF record",
         "explanation": "Receivers cannot tell which servers may send as the domain.", "blocking": True,
         "detail": "SPF acme-mail.example: no v=spf1 record",
         "records": [{"name": "acme-mail.example", "type": "TXT", "value": "v=spf1 mx ~all", "ttl": 600}],
         "guidance": ["Cloudflare dashboard > acme-mail.example > DNS > Records > Add record: Type TXT"]},
        {"code": "delegation.lagging", "status": "error", "section": "delegation",
         "title": "A name server still serves an older copy of the zone", "explanation": "It lags.",
         "blocking": True, "detail": "ns2.acme-mail.example/192.0.2.2 lag behind serial 7", "records": [],
         "guidance": ["Nothing to publish"]},
    ],
    "propagation": [
        {"name": "acme-mail.example", "type": "MX", "expected": ["10 mail.acme-mail.example."], "agreeing": 1,
         "total": 2, "complete": False, "settles_in": None, "answers": [
             {"server": "ns1.acme-mail.example", "address": "192.0.2.1", "role": "authoritative",
              "values": ["10 mail.acme-mail.example."], "ttl": 600, "error": None, "agrees": True,
              "expected": True},
             {"server": "ns2.acme-mail.example", "address": "192.0.2.2", "role": "authoritative",
              "values": [], "ttl": None, "error": None, "agrees": False, "expected": False}]},
    ],
}


def post_mailboxes(client, domain, **extra):
    token = csrf_token(client, "/tenants/acme")
    return client.post("/tenants/acme/mailboxes", follow_redirects=True,
                       data={"csrf_token": token, "domain_id": domain.id, "local_parts": "alice", **extra})


def set_status(domain_id: int, report: dict | None) -> Domain:
    db.session.expire_all()
    domain = db.session.get(Domain, domain_id)
    if report is None:
        domain.dns_status = None
    else:
        dnsdoctor.record_report(domain, report, utcnow())
    db.session.commit()
    return domain


def test_mailboxes_wait_for_ready_dns_unless_an_admin_overrides(as_admin, mailu, world):
    mail_server, domain = mailu
    set_status(domain.id, None)
    page = post_mailboxes(as_admin, domain).get_data(as_text=True)
    assert "has not been checked yet" in page and 'class="flash error"' in page
    set_status(domain.id, FAILING)
    page = post_mailboxes(as_admin, domain).get_data(as_text=True)
    assert "is not ready (failing): No SPF record" in page
    assert db.session.execute(select(Mailbox.id)).first() is None
    assert "alice@acme-mail.example" not in mail_server.users
    # the admin's explicit override creates them and is recorded on the domain
    page = post_mailboxes(as_admin, domain, dns_override="y").get_data(as_text=True)
    assert "alice@acme-mail.example" in mail_server.users
    db.session.expire_all()
    domain = db.session.get(Domain, domain.id)
    assert domain.dns_override_by_id == world.admin.id and domain.dns_override_at is not None


def test_a_member_cannot_override_and_the_api_refuses_with_the_reason(client, mailu, world):
    mail_server, domain = mailu
    set_status(domain.id, FAILING)
    assert login(client, world.alice.email, PASSWORD).status_code == 302
    page = post_mailboxes(client, domain, dns_override="y").get_data(as_text=True)
    assert 'class="flash error"' in page and not mail_server.users.keys() - {"admin@acme-mail.example"}
    db.session.expire_all()
    assert db.session.get(Domain, domain.id).dns_override_at is None


def test_api_refuses_until_ready_then_creates(app, mailu, world):
    mail_server, domain = mailu
    token = accounts.issue_api_token(world.admin)
    set_status(domain.id, FAILING)
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"domain": "acme-mail.example", "names": ["bob"]}
    refused = api.post("/api/v1/tenants/acme/mailboxes", json=body, headers=headers)
    assert refused.status_code == 400 and "not ready" in refused.get_data(as_text=True)
    report = api.get(f"/api/v1/tenants/acme/domains/{domain.id}/dns", headers=headers).get_json()
    assert report["dns_status"] == "failing" and "No SPF record" in report["mailboxes_refused"]
    assert report["report"]["findings"][0]["code"] == "spf.missing"
    queued = api.post(f"/api/v1/tenants/acme/domains/{domain.id}/dns/check", headers=headers)
    assert queued.status_code == 202 and [j.func_name for j in get_system_queue(app).get_jobs()] == [
        "jobs.dnsdoctor.check_domain"]
    set_status(domain.id, {**FAILING, "status": "ready", "reasons": [], "findings": []})
    created = api.post("/api/v1/tenants/acme/mailboxes", json=body, headers=headers)
    assert created.status_code == 201 and "bob@acme-mail.example" in mail_server.users


def test_wizard_walks_findings_in_order_for_its_tenant_only(as_admin, client, mailu, world):
    _, domain = mailu
    set_status(domain.id, FAILING)
    page = as_admin.get(f"/tenants/acme/domains/{domain.id}/dns").get_data(as_text=True)
    assert page.index('id="dns-delegation"') < page.index('id="dns-authentication"')
    assert 'data-code="spf.missing"' in page and "v=spf1 mx ~all" in page
    assert "Cloudflare dashboard &gt; acme-mail.example" in page
    assert 'data-agrees="no"' in page and "1 of 2" in page
    assert 'id="dns-override-form"' in page  # admins may override a domain that is not ready
    as_admin.get("/logout")
    assert login(client, world.bob.email, PASSWORD).status_code == 302
    assert client.get(f"/tenants/acme/domains/{domain.id}/dns").status_code in (403, 404)


@pytest.mark.parametrize("button", ["check", "fix", "override"])
def test_another_tenants_member_cannot_press_the_wizards_buttons(app, client, mailu, world, button):
    _, domain = mailu
    set_status(domain.id, FAILING)
    assert login(client, world.bob.email, PASSWORD).status_code == 302
    token = csrf_token(client, "/tenants/globex")  # a valid form token, from bob's own tenant
    response = client.post(f"/tenants/acme/domains/{domain.id}/dns/{button}", data={"csrf_token": token})
    assert response.status_code == 404  # as a tenant that does not exist: acme is not named
    assert get_system_queue(app).get_jobs() == []
    db.session.expire_all()
    assert db.session.get(Domain, domain.id).dns_override_at is None


def test_check_again_queues_a_job_and_the_page_waits_for_it(as_admin, app, mailu):
    _, domain = mailu
    token = csrf_token(as_admin, f"/tenants/acme/domains/{domain.id}/dns")
    response = as_admin.post(f"/tenants/acme/domains/{domain.id}/dns/check", data={"csrf_token": token})
    assert response.status_code == 302 and "since=" in response.headers["Location"]
    (job,) = get_system_queue(app).get_jobs()
    assert job.func_name == "jobs.dnsdoctor.check_domain" and list(job.args) == [domain.id]
    page = as_admin.get(response.headers["Location"]).get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and 'id="dns-waiting"' in page
    set_status(domain.id, FAILING)  # the job's report arrives
    assert 'id="dns-waiting"' not in as_admin.get(response.headers["Location"]).get_data(as_text=True)


def test_first_ready_after_a_change_records_the_propagation_time(app, mailu):
    _, domain = mailu
    domain = db.session.get(Domain, domain.id)
    published = utcnow() - timedelta(seconds=95)
    dnsdoctor.note_published(domain, published)
    dnsdoctor.record_report(domain, FAILING, published + timedelta(seconds=30))
    assert domain.dns_propagation_seconds is None
    dnsdoctor.record_report(domain, {**FAILING, "status": "ready"}, published + timedelta(seconds=95))
    dnsdoctor.record_report(domain, {**FAILING, "status": "ready"}, published + timedelta(seconds=400))
    assert domain.dns_propagation_seconds == 95


def test_the_page_charts_each_servers_time_to_serve_the_new_records(as_admin, app, mailu):
    _, domain = mailu
    domain = db.session.get(Domain, domain.id)
    published = utcnow() - timedelta(seconds=700)
    dnsdoctor.note_published(domain, published)
    # first check: ns1 serves the new MX, ns2 does not yet; then ns2 too, five minutes later
    dnsdoctor.record_report(domain, FAILING, published + timedelta(seconds=40))
    caught_up = {**FAILING, "propagation": [{**FAILING["propagation"][0], "answers": [
        {**a, "expected": True} for a in FAILING["propagation"][0]["answers"]]}]}
    dnsdoctor.record_report(domain, caught_up, published + timedelta(seconds=340))
    dnsdoctor.record_report(domain, caught_up, published + timedelta(seconds=640))
    db.session.commit()
    page = as_admin.get(f"/tenants/acme/domains/{domain.id}/dns").get_data(as_text=True)
    assert 'id="dns-propagation-chart"' in page
    assert 'data-server="ns1.acme-mail.example" data-seconds="40"' in page
    assert 'data-server="ns2.acme-mail.example" data-seconds="340"' in page
    assert page.index('data-seconds="40"') < page.index('data-seconds="340"')  # quickest first
    # a new publication starts the times over: nobody has been seen serving it yet
    dnsdoctor.note_published(domain, published + timedelta(seconds=650))
    dnsdoctor.record_report(domain, FAILING, published + timedelta(seconds=660))
    db.session.commit()
    bars = {b["server"]: b["seconds"] for b in dnsdoctor.propagation_times(domain)}
    assert bars == {"ns1.acme-mail.example": 10, "ns2.acme-mail.example": None}
    page = as_admin.get(f"/tenants/acme/domains/{domain.id}/dns").get_data(as_text=True)
    assert 'data-server="ns2.acme-mail.example" data-seconds=""' in page and "not yet" in page


def test_due_domains_every_five_minutes_after_a_change_then_daily(app, mailu):
    _, domain = mailu
    domain = db.session.get(Domain, domain.id)
    domain.status = DomainStatus.ACTIVE
    now = utcnow()
    domain.dns_checked_at = None
    assert dnsdoctor.due_domains(now) == [domain]
    domain.dns_changed_at, domain.dns_checked_at = now - timedelta(minutes=30), now - timedelta(minutes=5)
    assert dnsdoctor.due_domains(now) == [domain]
    domain.dns_checked_at = now - timedelta(minutes=1)
    assert dnsdoctor.due_domains(now) == []
    domain.dns_changed_at, domain.dns_checked_at = now - timedelta(hours=3), now - timedelta(hours=5)
    assert dnsdoctor.due_domains(now) == []
    domain.dns_checked_at = now - timedelta(days=1, minutes=1)
    assert dnsdoctor.due_domains(now) == [domain]
    domain.status = DomainStatus.PENDING
    assert dnsdoctor.due_domains(now) == []


def test_rq_cron_checks_due_domains_every_five_minutes(app):
    from rq.cron import CronScheduler

    cron = CronScheduler(connection=get_system_queue(app).connection)
    cron.load_config_from_file("jobs.cron")
    job = {job.func_name: job for job in cron.get_jobs()}["jobs.dnsdoctor.check_due_domains"]
    assert (job.interval, job.queue_name) == (300, "mailfleet-system")


MANAGED = {**FAILING, "dns_host": {"key": "rfc2136", "name": "your DNS server (RFC 2136 updates)",
                                   "managed": True}}


def test_fix_publishes_the_records_again_through_the_domain_run_where_mailfleet_writes_the_zone(
        as_admin, app, mailu):
    from webapp.models import Run
    from webapp.queue import get_queue

    _, domain = mailu
    url = f"/tenants/acme/domains/{domain.id}/dns"

    def fix() -> str:
        token = csrf_token(as_admin, url)
        response = as_admin.post(f"{url}/fix", data={"csrf_token": token}, follow_redirects=True)
        return response.get_data(as_text=True)

    domain = set_status(domain.id, FAILING)
    domain.status = DomainStatus.ACTIVE
    db.session.commit()
    # a zone at Cloudflare that mailfleet does not write to: the records are set by hand
    assert 'id="dns-fix-form"' not in as_admin.get(url).get_data(as_text=True)
    assert "nothing for mailfleet to fix" in fix()
    set_status(domain.id, MANAGED)
    assert 'id="dns-fix-form"' in as_admin.get(url).get_data(as_text=True)

    def refused(name: str) -> str:
        from mailfleet.dns.zonecheck import ZoneNotWritable

        raise ZoneNotWritable(f"the DNS server 192.0.2.53 serves no zone that holds {name} (REFUSED)")

    app.config["DNS_ZONE_CHECKER"] = refused
    assert "mailfleet cannot write to the zone of acme-mail.example" in fix()
    assert db.session.execute(select(Run.id)).first() is None and get_queue(app).count == 0

    app.config["DNS_ZONE_CHECKER"] = lambda name: "acme-mail.example"
    assert "Publishing the records again" in fix()
    (run,) = db.session.scalars(select(Run)).all()
    assert (run.catalogue_key, run.limit, run.extravars) == (
        "dns", "mf-acme-1", {"dns_take_over": True})
    assert get_queue(app).count == 1
    db.session.expire_all()
    domain = db.session.get(Domain, domain.id)
    assert domain.dns_changed_at is not None and domain.dns_ready_at is None  # re-checked from now on


def test_the_api_fixes_as_the_wizard_does_and_refuses_with_the_reason(app, mailu, world):
    from webapp.models import Run

    _, domain = mailu
    api, url = app.test_client(), f"/api/v1/tenants/acme/domains/{domain.id}/dns/fix"
    headers = {"Authorization": f"Bearer {accounts.issue_api_token(world.admin)}"}
    domain = set_status(domain.id, FAILING)
    domain.status = DomainStatus.ACTIVE
    db.session.commit()
    refused = api.post(url, headers=headers)
    assert refused.status_code == 400 and "nothing for mailfleet to fix" in refused.get_data(as_text=True)
    assert db.session.execute(select(Run.id)).first() is None
    set_status(domain.id, MANAGED)
    app.config["DNS_ZONE_CHECKER"] = lambda name: "acme-mail.example"
    queued = api.post(url, headers=headers)
    assert queued.status_code == 202, queued.get_json()
    run = db.session.get(Run, queued.get_json()["id"])
    assert (run.catalogue_key, run.playbook) == ("dns", "site.yml")
    assert run.extravars == {"dns_take_over": True}


DS = "6720 13 2 0b1d6e4f8c2a9e3b7d5f1a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b"


def ds_missing_report() -> dict:
    from mailfleet.dns.rdata import Record
    from mailfleet.dnsdoctor.findings import Finding
    from mailfleet.dnsdoctor.guidance import DnsHost, steps_for
    from mailfleet.monitoring.results import Status

    host = DnsHost("rfc2136", "your DNS server (RFC 2136 updates)", True)
    records = (Record("acme-mail.example", "DS", DS),)
    finding = Finding("dnssec.ds-missing", Status.WARNING, "DNSKEY acme-mail.example: the zone is signed, "
                      "but its parent has no DS record", records,
                      tuple(steps_for("dnssec.ds-missing", host, records, "acme-mail.example", "")))
    return {**MANAGED, "status": "ready", "reasons": [], "propagation": [], "findings": [finding.to_dict()]}


def test_a_signed_zone_shows_the_ds_record_and_the_registrars_steps_not_a_fix(as_admin, app, mailu, world):
    _, domain = mailu
    domain = set_status(domain.id, ds_missing_report())
    domain.status = DomainStatus.ACTIVE
    db.session.commit()
    page = as_admin.get(f"/tenants/acme/domains/{domain.id}/dns").get_data(as_text=True)
    assert 'data-code="dnssec.ds-missing"' in page and DS in page
    assert "At the registrar where acme-mail.example is registered" in page
    assert "Key tag 6720, Algorithm 13, Digest type 2 (SHA-256)" in page
    # a DS record lives in the parent zone: re-publishing the zone cannot set it
    assert 'id="dns-fix-form"' not in page and not dnsdoctor.fixable(domain)
    token = accounts.issue_api_token(world.admin)
    report = app.test_client().get(f"/api/v1/tenants/acme/domains/{domain.id}/dns",
                                   headers={"Authorization": f"Bearer {token}"}).get_json()
    (finding,) = report["report"]["findings"]
    assert finding["records"] == [{"name": "acme-mail.example", "type": "DS", "value": DS, "ttl": 600}]
    assert finding["guidance"][0].startswith("At the registrar")
