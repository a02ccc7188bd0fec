"""The tenant page's first steps: each ticks itself from the tenant's real servers, domains, DNS,
mailboxes and message counts, the next step is one link away, and another tenant's state never
counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import Domain, DomainStatus, Mailbox, MailCount, Server, ServerStatus
from webapp.testing import TEST_PASSWORD as PASSWORD
from webapp.testing import login

pytestmark = pytest.mark.unit

STEP = re.compile(r'id="step-([a-z-]+)" data-done="(yes|no)"')
NEXT = re.compile(r'<a class="next-step" href="([^"]*)">([^<]+)</a>')


def checklist(client, slug="acme") -> tuple[dict[str, bool], tuple[str, str] | None]:
    page = client.get(f"/tenants/{slug}").get_data(as_text=True)
    steps = {key: done == "yes" for key, done in STEP.findall(page)}
    found = NEXT.search(page)
    return steps, (found.group(1), found.group(2)) if found else None


def add_server(tenant, status=ServerStatus.ACTIVE, name="mf-acme-1") -> Server:
    server = Server(tenant_id=tenant.id, name=name, public_ipv4="198.18.13.10", status=status)
    db.session.add(server)
    db.session.commit()
    return server


def add_domain(tenant, server, status=DomainStatus.ACTIVE, dns_status=None, reason=None) -> Domain:
    domain = Domain(tenant_id=tenant.id, server_id=server.id, name=f"{tenant.slug}-mail.example",
                    status=status, dns_status=dns_status, status_reason=reason)
    db.session.add(domain)
    db.session.commit()
    return domain


def add_mailbox(tenant, domain) -> Mailbox:
    mailbox = Mailbox(tenant_id=tenant.id, domain_id=domain.id, local_part="alice",
                      email=f"alice@{domain.name}")
    db.session.add(mailbox)
    db.session.commit()
    return mailbox


def counted(server, days_ago=0, sent=0, received=0) -> None:
    """The server's message counts of a day, as the health sweep stores them from its mail log."""
    day = (utcnow() - timedelta(days=days_ago)).date()
    db.session.add(
        MailCount(server_id=server.id, day=day, sent=sent, received=received, collected_at=utcnow())
    )
    db.session.commit()


def test_a_new_tenant_starts_at_provisioning(as_admin, world):
    steps, nxt = checklist(as_admin)
    assert list(steps) == ["server", "domain", "dns", "mailboxes", "test-message"]
    assert not any(steps.values())
    assert nxt == ("#provision-form", "Provision a server")


def test_a_building_server_is_not_done_yet(as_admin, world):
    add_server(world.acme, ServerStatus.BUILDING)
    steps, nxt = checklist(as_admin)
    assert steps["server"] is False and nxt[1] == "Provision a server"
    assert "mf-acme-1 is being built" in as_admin.get("/tenants/acme").get_data(as_text=True)


def test_an_active_server_leads_to_adding_a_domain(as_admin, world):
    add_server(world.acme)
    steps, nxt = checklist(as_admin)
    assert steps["server"] and not steps["domain"]
    assert nxt == ("#domain-form", "Add a domain")


def test_a_failed_domain_shows_why_and_stays_open(as_admin, world):
    add_domain(world.acme, add_server(world.acme), DomainStatus.FAILED, reason="zone not updatable")
    steps, nxt = checklist(as_admin)
    assert not steps["domain"] and nxt[1] == "Add a domain"
    assert "failed: zone not updatable" in as_admin.get("/tenants/acme").get_data(as_text=True)


def test_dns_not_ready_links_to_the_domains_dns_doctor(as_admin, world):
    domain = add_domain(world.acme, add_server(world.acme), dns_status="failing")
    steps, nxt = checklist(as_admin)
    assert steps["domain"] and not steps["dns"]
    assert nxt == (f"/tenants/acme/domains/{domain.id}/dns", "Fix DNS until ready")


def test_an_admin_override_counts_as_ready(as_admin, world):
    domain = add_domain(world.acme, add_server(world.acme), dns_status="failing")
    domain.dns_override_at = utcnow()
    db.session.commit()
    steps, nxt = checklist(as_admin)
    assert steps["dns"] and nxt == ("#mailbox-form", "Create mailboxes")


def test_a_mailbox_leads_to_the_test_message_in_the_guide(as_admin, world):
    add_mailbox(world.acme, add_domain(world.acme, add_server(world.acme), dns_status="ready"))
    steps, nxt = checklist(as_admin)
    assert steps["mailboxes"] and not steps["test-message"]
    assert nxt == ("/help/getting-started/#step-test-message", "Send a test message")


def test_a_message_counted_on_the_mailboxes_server_completes_the_list(as_admin, world):
    server = add_server(world.acme)
    add_mailbox(world.acme, add_domain(world.acme, server, dns_status="ready"))
    counted(server, days_ago=3, sent=40)  # before the first mailbox: not its test message
    counted(server, received=0, sent=0)  # counted today, but nothing through it yet
    steps, _ = checklist(as_admin)
    assert not steps["test-message"]
    db.session.query(MailCount).filter_by(day=utcnow().date()).update({"received": 1})
    db.session.commit()
    steps, nxt = checklist(as_admin)
    assert steps == {} and nxt is None  # every step done: the list is gone
    assert 'id="first-steps"' not in as_admin.get("/tenants/acme").get_data(as_text=True)


def test_another_tenants_state_never_ticks_a_step(client, world):
    server = add_server(world.globex, name="mf-globex-1")
    add_mailbox(world.globex, add_domain(world.globex, server, dns_status="ready"))
    counted(server, sent=5, received=5)
    assert login(client, world.alice.email, PASSWORD).status_code == 302
    steps, nxt = checklist(client)
    assert not any(steps.values()) and nxt[1] == "Provision a server"
    assert client.get("/tenants/globex").status_code in (403, 404)
