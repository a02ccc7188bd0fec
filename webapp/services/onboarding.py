"""The first steps of a new tenant, each ticked from what is really there (queries, never flags):
a server, a domain, its DNS ready, mailboxes, and a message through the server that holds them
(its message counts, from the mail server's log)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from webapp.models import Domain, DomainStatus, Mailbox, Server, ServerStatus
from webapp.services import mailstats
from webapp.services.dnsdoctor import READY

__all__ = ["Step", "first_steps"]


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


def first_steps(slug: str, servers: Sequence[Server], domains: Sequence[Domain],
                mailboxes: Sequence[Mailbox]) -> list[Step]:
    """The checklist of one tenant from its (already scoped) servers, domains and mailboxes."""
    active = [s for s in servers if s.status == ServerStatus.ACTIVE]
    building = [s for s in servers if s.status in (ServerStatus.REQUESTED, ServerStatus.BUILDING)]
    live = [d for d in domains if d.status == DomainStatus.ACTIVE]
    usable = [d for d in live if d.dns_status == READY or d.dns_override_at is not None]
    waiting = [d for d in live if d not in usable]
    failed = [d for d in domains if d.status == DomainStatus.FAILED]
    since: dict[int, date] = {}
    for mailbox in mailboxes:
        day = mailbox.created_at.date()
        since[mailbox.domain.server_id] = min(day, since.get(mailbox.domain.server_id, day))
    messages = sum(mailstats.messages_since(since).values())
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
        Step("test-message", "Send a test message", messages > 0,
             f"{messages} message{'s' if messages != 1 else ''} through the server since the first mailbox"
             if messages else
             "log in to a mailbox and send a message; this ticks once the health sweep has counted it in "
             "the mail server's log" if mailboxes else "create a mailbox first",
             "help.page", {"path": "getting-started/"}, "step-test-message"),
    ]
    return steps
