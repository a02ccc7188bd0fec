"""The first steps of a new tenant, each ticked from what is really there (queries, never flags):
a server, a domain, its DNS ready, mailboxes, and mail flowing on the server that holds them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Domain, DomainStatus, Mailbox, Server, ServerStatus
from webapp.models.health import HealthCheck
from webapp.services.dnsdoctor import READY

__all__ = ["MAIL_FLOW_CHECKS", "Step", "first_steps"]

# The sweep's checks that show a server takes mail in and lets a mailbox read it.
MAIL_FLOW_CHECKS = ("smtp:banner", "imap:login")


@dataclass(frozen=True)
class Step:
    key: str  # also the guide's section: getting-started/#step-<key>
    title: str
    done: bool
    detail: str
    # Where the next click goes: an endpoint of the app and its values, plus a fragment.
    endpoint: str = "tenants.detail"
    values: dict[str, object] = field(default_factory=dict)
    fragment: str = ""


def _mail_flowing(server_ids: set[int]) -> set[int]:
    """Servers whose latest result of every mail flow check is ok."""
    if not server_ids:
        return set()
    rows = db.session.execute(
        select(HealthCheck.server_id, HealthCheck.check, HealthCheck.last_status).where(
            HealthCheck.server_id.in_(server_ids), HealthCheck.check.in_(MAIL_FLOW_CHECKS))
    ).all()
    ok = {(sid, check) for sid, check, status in rows if status == "ok"}
    return {sid for sid in server_ids if all((sid, c) in ok for c in MAIL_FLOW_CHECKS)}


def first_steps(slug: str, servers: Sequence[Server], domains: Sequence[Domain],
                mailboxes: Sequence[Mailbox]) -> list[Step]:
    """The checklist of one tenant from its (already scoped) servers, domains and mailboxes."""
    active = [s for s in servers if s.status == ServerStatus.ACTIVE]
    building = [s for s in servers if s.status in (ServerStatus.REQUESTED, ServerStatus.BUILDING)]
    live = [d for d in domains if d.status == DomainStatus.ACTIVE]
    usable = [d for d in live if d.dns_status == READY or d.dns_override_at is not None]
    waiting = [d for d in live if d not in usable]
    failed = [d for d in domains if d.status == DomainStatus.FAILED]
    flowing = _mail_flowing({m.domain.server_id for m in mailboxes})
    steps = [
        Step("server", "Provision a server", bool(active),
             f"{active[0].name} is active" if active else
             f"{building[0].name} is being built" if building else "no server yet",
             fragment="provision-form"),
        Step("domain", "Add a domain", bool(live),
             f"{live[0].name} is active" if live else
             f"{failed[0].name} failed: {failed[0].status_reason or 'see its run'}" if failed else
             "no domain yet" if not domains else f"{domains[0].name} is being configured",
             fragment="domain-form"),
        Step("dns", "Fix DNS until ready", bool(usable),
             f"{usable[0].name} is ready" if usable else
             f"{waiting[0].name}: {waiting[0].dns_status or 'not checked yet'}" if waiting else
             "add a domain first",
             *(("dnsdoctor.wizard", {"slug": slug, "domain_id": waiting[0].id}) if waiting else ())),
        Step("mailboxes", "Create mailboxes", bool(mailboxes),
             f"{len(mailboxes)} mailbox{'es' if len(mailboxes) != 1 else ''}" if mailboxes else
             "no mailbox yet", fragment="mailbox-form"),
        Step("test-message", "Send a test message", bool(flowing),
             "the server takes mail in and mailboxes log in" if flowing else
             "log in to a mailbox and send a message; this ticks once the health sweep finds SMTP and "
             "IMAP answering on its server" if mailboxes else "create a mailbox first",
             "help.page", {"path": "getting-started/"}, "step-test-message"),
    ]
    return steps
