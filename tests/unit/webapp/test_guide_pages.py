"""The pages the guide shows still have every element its text names (tests/guide_pages.py's
table, the one the browser journeys check before each screenshot), and link to the guide."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from guide_pages import GUIDE_PAGES

from mailfleet.monitoring import AlertPolicies, AlertPolicy, CheckResult, Status, record_results
from webapp.extensions import db
from webapp.models import Domain, DomainStatus, HealthAlert, Mailbox, Server, ServerStatus, SqlHealthStore

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
_SIMPLE = re.compile(r"^(?P<tag>[a-z0-9]*)(?:#(?P<id>[\w-]+))?(?:\.(?P<cls>[\w-]+))?$")


class _Elements(HTMLParser):
    """Every element with its ancestors' (tag, id, classes), enough for `a b`, `tag.class`, `#id`."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str, set[str]]] = []
        self.paths: list[list[tuple[str, str, set[str]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        node = (tag, a.get("id") or "", set((a.get("class") or "").split()))
        self.paths.append([*self.stack, node])
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break


def _matches(node: tuple[str, str, set[str]], simple: str) -> bool:
    m = _SIMPLE.match(simple)
    assert m, f"unsupported selector part {simple!r}"
    tag, ident, cls = node
    return ((not m["tag"] or m["tag"] == tag) and (not m["id"] or m["id"] == ident)
            and (not m["cls"] or m["cls"] in cls))


def has(html: str, selector: str) -> bool:
    parser = _Elements()
    parser.feed(html)
    *ancestors, last = selector.split()
    for path in parser.paths:
        if not _matches(path[-1], last):
            continue
        wanted = list(ancestors)
        for node in path[:-1]:
            if wanted and _matches(node, wanted[0]):
                wanted.pop(0)
        if not wanted:
            return True
    return False


@pytest.fixture
def pages(world) -> dict[str, str]:
    """Each guide page's URL, with what the guide's text talks about on it."""
    server = Server(tenant_id=world.acme.id, name="mf-acme-1", mail_hostname="mail.acme.test",
                    public_ipv4="198.51.100.7", status=ServerStatus.ACTIVE)
    db.session.add(server)
    db.session.flush()
    domain = Domain(tenant_id=world.acme.id, server_id=server.id, name="acme.test",
                    status=DomainStatus.ACTIVE, dns_status="ready")
    db.session.add(domain)
    db.session.flush()
    db.session.add(Mailbox(tenant_id=world.acme.id, domain_id=domain.id, local_part="alice",
                           email="alice@acme.test"))
    db.session.commit()
    policies = AlertPolicies(AlertPolicy(fail_after=1, pass_after=1))
    for i, status in enumerate((Status.ERROR, Status.OK)):  # opened, then resolved
        at = T0 + timedelta(minutes=5 * i)
        record_results(SqlHealthStore(), [
            CheckResult(server.name, "smtp:banner", status, None, "220 mail.acme.test", at),
            CheckResult(server.name, "dkim:acme.test", Status.OK, None, "DKIM matches", at),
        ], policies)
    alert = db.session.query(HealthAlert).filter_by(check="smtp:banner").one()
    return {
        "tenant": "/tenants/acme",
        "first-steps": "/tenants/acme",  # server, domain, DNS and a mailbox done; no message yet
        "health": f"/health/servers/{server.id}",
        "runs-user": "/runs?trigger=user",
        "alert-resolved": f"/health/alerts/{alert.id}",
    }


def test_every_page_the_guide_shows_has_the_elements_it_names(as_admin, pages):
    assert set(pages) == set(GUIDE_PAGES)
    html = {name: as_admin.get(url).get_data(as_text=True) for name, url in pages.items()}
    missing = {name: [sel for sel in GUIDE_PAGES[name] if not has(html[name], sel)] for name in pages}
    assert missing == {name: [] for name in pages}


def test_the_selector_check_notices_a_missing_element():
    html = ('<main><table><tr class="h-row"><td class="domain-dns"><a href="#">DNS</a></td></tr>'
            "</table></main>")
    assert has(html, "td.domain-dns a") and has(html, "tr.h-row") and has(html, "main a")
    assert not has(html, "#check-now-form") and not has(html, "td.domain-dns span") and not has(html, "a td")


def test_health_pages_link_each_check_to_its_guide_section(as_admin, pages):
    alert = as_admin.get(pages["alert-resolved"]).get_data(as_text=True)
    check = as_admin.get(pages["health"] + "/checks/dkim:acme.test").get_data(as_text=True)
    assert 'href="/help/tenant/health-checks/#check-smtp"' in alert
    assert 'href="/help/tenant/health-checks/#check-dkim"' in check


def test_dns_findings_and_failed_runs_link_to_their_guide_sections(as_admin, world, pages):
    from mailfleet.clock import utcnow
    from webapp.models import Run, RunStatus
    from webapp.services import dnsdoctor

    domain = db.session.query(Domain).one()
    dnsdoctor.record_report(domain, {
        "status": "failing", "zone": "acme.test", "reasons": ["No SPF record"], "propagation": [],
        "findings": [{"code": "spf.missing", "status": "error", "section": "authentication",
                      "title": "No SPF record", "explanation": "Receivers cannot tell.", "blocking": True,
                      "detail": "no v=spf1 record", "records": [], "guidance": []}]}, utcnow())
    run = Run(tenant_id=world.acme.id, playbook="site.yml", catalogue_key="domain", status=RunStatus.FAILED)
    db.session.add(run)
    db.session.commit()
    wizard = as_admin.get(f"/tenants/acme/domains/{domain.id}/dns").get_data(as_text=True)
    assert 'href="/help/tenant/dns-findings/#dns-spf-missing"' in wizard
    failed = as_admin.get(f"/runs/{run.id}").get_data(as_text=True)
    assert 'id="failure-help" class="guide-link" href="/help/admin/runs/#failed-domain"' in failed
