"""Taking things away: deprovision a server, remove a domain, delete a mailbox, reset its password,
remove a member, revoke an API token, delete a tenant; and what a finished run means for the
domains and servers it touched.

Every action names what will be lost (:func:`losses`) and needs the object's own name typed back
as confirmation; a wrong or missing confirmation changes nothing. Work on a server is a run
(remove_domain.yml, deprovision.yml); mailboxes go through the tenant's Mailu API directly, as
they are created. Objects are found through the caller's :class:`Scope`, so another tenant's
objects answer NotFound exactly as missing ones do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from mailfleet.clock import utcnow
from mailfleet.dns import DnsError
from mailfleet.mailu import MailuError, MailuNotFoundError, generate_password
from mailfleet.secrets import SecretsError, tenant_prefix
from webapp.errors import Conflict, InvalidInput, NotFound, UpstreamError
from webapp.extensions import db
from webapp.integrations import dns_zone_check, mailu_client, secret_store
from webapp.models import (
    FINISHED_STATUSES,
    Domain,
    DomainStatus,
    Mailbox,
    Run,
    RunStatus,
    Server,
    ServerStatus,
    Tenant,
    User,
)
from webapp.services import dnsdoctor, fleet, runs, secondary_mx
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

#: A server in these states has nothing left to deprovision (or is being deprovisioned).
_NOT_DEPROVISIONABLE = (ServerStatus.GONE, ServerStatus.DEPROVISIONING)
MAX_REASON = 255


def confirm(given: str | None, expected: str, lost: list[str]) -> None:
    """The person typed the object's name: else InvalidInput that repeats what would be lost."""
    if (given or "").strip().lower() != expected.lower():
        raise InvalidInput(f"type {expected} to confirm; this cannot be undone: " + "; ".join(lost))


def main_mail_domain(server: Server) -> str | None:
    """The main DOMAIN of the server's Mailu (its admin account lives there): the mail host's
    parent, as inventory/group_vars/all/mailfleet.yml derives it."""
    return re.sub(r"^[^.]+\.", "", server.mail_hostname) if server.mail_hostname else None


def _writable(name: str) -> tuple[bool, str | None]:
    """Can the DNS provider update the zone holding ``name``? (yes/no, why not)"""
    try:
        dns_zone_check(name)
    except (DnsError, SecretsError, OSError) as exc:
        return False, str(exc)
    return True, None


# --- what is lost ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Losses:
    """What an action takes away, in words, and the name to type to confirm it."""

    name: str
    lost: list[str]


def domain_losses(domain: Domain) -> Losses:
    count = len(domain.mailboxes)
    lost = [
        f"{domain.name} is removed from the Mailu of {domain.server.name}, with its {count} "
        "mailbox(es), their mail and its aliases",
        f"its DNS records (MX, SPF, DKIM, DMARC, autoconfig, MTA-STS, TLS-RPT) are removed; mail to "
        f"{domain.name} bounces",
    ]
    return Losses(domain.name, lost)


def server_losses(server: Server) -> Losses:
    names = ", ".join(d.name for d in server.domains) or "none"
    lost = [
        f"the server {server.name} is deleted at {server.provider} and its disk destroyed (billing stops)",
        f"its mail domains ({names}), their mailboxes and mail are removed with it",
        f"the DNS records of {server.mail_hostname or server.name} and of its domains are removed",
        "its backups stay in the backup repository (restore them onto a new server)",
    ]
    return Losses(server.name, lost)


def mailbox_losses(mailbox: Mailbox) -> Losses:
    return Losses(mailbox.email, [f"the mailbox {mailbox.email} and all its mail are deleted from Mailu"])


def password_losses(mailbox: Mailbox) -> Losses:
    lost = [f"the current password of {mailbox.email} stops working; mail clients must use the new one"]
    return Losses(mailbox.email, lost)


def member_losses(user: User) -> Losses:
    lost = [f"{user.email} can no longer log in", "their API token stops working"]
    return Losses(user.email, lost)


def token_losses(user: User) -> Losses:
    hint = f"starting with {user.api_token_hint}… " if user.api_token_hint else ""
    return Losses(user.email, [f"the API token {hint}of {user.email} stops working at once"])


def tenant_losses(tenant: Tenant) -> Losses:
    lost = [
        f"the tenant {tenant.slug}, its members, domains, mailbox records and run history are deleted",
        "its secrets are destroyed: SSH key, Mailu token, ACME account and the backup repository "
        "password (its backups can no longer be read)",
    ]
    return Losses(tenant.slug, lost)


# --- runs on servers ------------------------------------------------------------------------------
def _admit_removal(
    scope: Scope, tenant: Tenant, found: Domain | Server, playbook_key: str, submission_key: str | None
) -> Run | None:
    """A removal run's admission: the tenant's object (another tenant's: NotFound) and a principal
    who may remove things; the run the same form's earlier post queued (None: none)."""
    if found.tenant_id != tenant.id:
        raise NotFound(f"{type(found).__name__.lower()} {found.id} not found")
    scope.require_may_remove()
    return runs.find_submission(tenant, submission_key, playbook_key)


def remove_domain(
    scope: Scope, tenant: Tenant, domain_id: int, confirmation: str | None, submission_key: str | None = None
) -> Run:
    """Queue remove_domain.yml: Mailu drops the domain, DNS drops its records; the row goes when
    the run succeeds. A zone the provider cannot update had nothing published: DNS is skipped."""
    domain = scope.get(Domain, domain_id)
    if (earlier := _admit_removal(scope, tenant, domain, "remove_domain", submission_key)) is not None:
        return earlier
    confirm(confirmation, domain.name, domain_losses(domain).lost)
    if domain.status == DomainStatus.REMOVING:
        raise Conflict(f"{domain.name} is already being removed")
    if domain.name == main_mail_domain(domain.server):
        raise Conflict(
            f"{domain.name} is the main domain of the Mailu on {domain.server.name} (its admin account "
            "lives there); deprovision the server to remove it"
        )
    publish, _ = _writable(domain.name)
    domain.status = DomainStatus.REMOVING
    domain.status_reason = None
    return runs.submit_run(
        scope,
        tenant,
        "remove_domain",
        limit=domain.server.name,
        submission_key=submission_key,
        extravars={"mailfleet_domains_absent": [domain.name], "remove_domain_dns": publish},
    )


def deprovision_server(
    scope: Scope, tenant: Tenant, server_id: int, confirmation: str | None, submission_key: str | None = None
) -> Run:
    """Queue deprovision.yml: DNS records of the server and its domains removed, then the
    server deleted at its provider; the server becomes gone when the run succeeds."""
    server = scope.get(Server, server_id)
    if (earlier := _admit_removal(scope, tenant, server, "deprovision", submission_key)) is not None:
        return earlier
    confirm(confirmation, server.name, server_losses(server).lost)
    if server.status in _NOT_DEPROVISIONABLE:
        raise Conflict(f"{server.name} is {server.status}: nothing to deprovision")
    index = fleet.ordered_index(server, tenant, "cancel it at its provider")
    # The main Mailu domain is published by site.yml whether or not it was added as a domain.
    main = main_mail_domain(server)
    names = sorted({d.name for d in server.domains} | ({main} if main else set()))
    dns_domains = [name for name in names if _writable(name)[0]]
    host = server.mail_hostname
    for domain in server.domains:
        domain.status = DomainStatus.REMOVING
    server.status = ServerStatus.DEPROVISIONING
    return runs.submit_run(
        scope,
        tenant,
        "deprovision",
        submission_key=submission_key,
        extravars={
            **fleet.server_vars(tenant, server.provider, index),
            "mail_hostname": host or "",
            "deprovision_dns_host": bool(host and _writable(host)[0]),
            "deprovision_dns_domains": dns_domains,
        },
    )


# --- Mailu, directly --------------------------------------------------------------------------------
def _mailbox(scope: Scope, tenant: Tenant, mailbox_id: int) -> Mailbox:
    mailbox = scope.get(Mailbox, mailbox_id)
    if mailbox.tenant_id != tenant.id:
        raise NotFound(f"mailbox {mailbox_id} not found")
    return mailbox


def _mailu(tenant: Tenant, mailbox: Mailbox):  # noqa: ANN202 - the integration's client type
    server = mailbox.domain.server
    return mailu_client(tenant.slug, server.mail_hostname or server.name)


def delete_mailbox(scope: Scope, tenant: Tenant, mailbox_id: int, confirmation: str | None) -> str:
    mailbox = _mailbox(scope, tenant, mailbox_id)
    confirm(confirmation, mailbox.email, mailbox_losses(mailbox).lost)
    try:
        with _mailu(tenant, mailbox) as client:
            client.delete_user(mailbox.email)
    except MailuNotFoundError:
        pass  # already gone from Mailu: forget it here too
    except (MailuError, SecretsError) as exc:
        raise UpstreamError(f"Mailu did not delete {mailbox.email}: {exc}") from None
    email = mailbox.email
    db.session.delete(mailbox)
    db.session.commit()
    return email


def reset_mailbox_password(
    scope: Scope, tenant: Tenant, mailbox_id: int, confirmation: str | None
) -> tuple[str, str]:
    """(email, new password): the password goes to the one response that shows it, nowhere else."""
    mailbox = _mailbox(scope, tenant, mailbox_id)
    confirm(confirmation, mailbox.email, password_losses(mailbox).lost)
    password = generate_password()
    try:
        with _mailu(tenant, mailbox) as client:
            client.update_user(mailbox.email, raw_password=password)
    except (MailuError, SecretsError) as exc:
        raise UpstreamError(f"Mailu did not change the password of {mailbox.email}: {exc}") from None
    return mailbox.email, password


# --- people -------------------------------------------------------------------------------------------
def _member(scope: Scope, tenant: Tenant, user_id: int) -> User:
    user = scope.get(User, user_id)
    if user.tenant_id != tenant.id:  # admins belong to no tenant
        raise NotFound(f"user {user_id} not found")
    return user


def remove_member(scope: Scope, tenant: Tenant, user_id: int, confirmation: str | None) -> str:
    scope.require_admin()
    user = _member(scope, tenant, user_id)
    confirm(confirmation, user.email, member_losses(user).lost)
    email = user.email
    # What they created stays; it no longer names them.
    db.session.execute(update(Run).where(Run.created_by_id == user.id).values(created_by_id=None))
    db.session.execute(update(Mailbox).where(Mailbox.created_by_id == user.id).values(created_by_id=None))
    db.session.delete(user)
    db.session.commit()
    return email


def revoke_api_token(scope: Scope, user_id: int, confirmation: str | None) -> str:
    """A person revokes their own token; an admin anyone's. Members cannot reach others' tokens."""
    user = scope.user if user_id == scope.user.id else None
    if user is None and scope.is_admin:
        user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    if user.api_token_hash is None:
        raise Conflict(f"{user.email} has no API token")
    confirm(confirmation, user.email, token_losses(user).lost)
    user.api_token_hash = None
    user.api_token_hint = None
    db.session.commit()
    return user.email


def delete_tenant(scope: Scope, tenant: Tenant, confirmation: str | None) -> str:
    """Only once every server is deprovisioned and no run is active; the store's secrets go too."""
    scope.require_admin()
    confirm(confirmation, tenant.slug, tenant_losses(tenant).lost)
    left = (
        db.session.execute(
            select(Server.name).where(Server.tenant_id == tenant.id, Server.status != ServerStatus.GONE)
        )
        .scalars()
        .all()
    )
    if left:
        raise Conflict(f"{tenant.slug} still has servers ({', '.join(left)}): deprovision them first")
    active = db.session.execute(
        select(func.count()).where(Run.tenant_id == tenant.id, Run.status.not_in(FINISHED_STATUSES))
    ).scalar_one()
    if active:
        raise Conflict(f"{tenant.slug} has {active} run(s) queued or running: wait or cancel them")
    try:
        store = secret_store()
        for path in store.list(tenant_prefix(tenant.slug)):
            store.delete(path)
    except SecretsError as exc:
        raise UpstreamError(f"could not delete the tenant's secrets (nothing was deleted): {exc}") from None
    slug = tenant.slug
    _delete_rows_of(tenant)
    db.session.execute(delete(Tenant).where(Tenant.id == tenant.id))
    db.session.commit()
    return slug


def _delete_rows_of(tenant: Tenant) -> None:
    """Every row of the tenant, read from the tables' foreign keys so that a table added later is
    covered: the rows that point at the tenant or at one of its servers, runs, domains or mailboxes,
    children before their parents, where the database neither cascades nor nulls the reference
    itself (a gone server's warm-up, counts, backups and address history; a fleet's cost history
    keeps its rows, their tenant nulled). A row that is not the tenant's but names one of its users
    (who overrode a check) loses that name; one that cannot (who started a rollout) goes."""
    owned: dict[str, Any] = {
        "tenants": [tenant.id],
        "servers": select(Server.id).where(Server.tenant_id == tenant.id),
        "runs": select(Run.id).where(Run.tenant_id == tenant.id),
        "domains": select(Domain.id).where(Domain.tenant_id == tenant.id),
        "mailboxes": select(Mailbox.id).where(Mailbox.tenant_id == tenant.id),
        "users": select(User.id).where(User.tenant_id == tenant.id),
    }
    for table in reversed(db.metadata.sorted_tables):
        references = [
            fk for fk in table.foreign_keys if fk.column.table.name in owned and fk.ondelete is None
        ]
        for fk in references:
            if fk.column.table.name == "users" and fk.parent.nullable:
                db.session.execute(
                    update(table).where(fk.parent.in_(owned["users"])).values({fk.parent.name: None})
                )
        doomed = [
            fk.parent.in_(owned[fk.column.table.name])
            for fk in references
            if not (fk.column.table.name == "users" and fk.parent.nullable)
        ]
        if doomed:
            db.session.execute(delete(table).where(or_(*doomed)))


# --- what a finished run means ------------------------------------------------------------------------
def failure_of(run: Run, host: str | None = None) -> str:
    """The run's failure summary (on ``host`` if given), cut to what a status reason holds."""
    return runs.failure_summary(run, host)[:MAX_REASON]


def note_run_finished(run_id: int) -> None:
    """Bring domain and server statuses in line with a finished run (called by the worker)."""
    run = db.session.get(Run, run_id)
    if run is None or not run.status.finished:
        return
    if run.catalogue_key in ("site", "domain"):
        _note_site(run)
    elif run.catalogue_key == "remove_domain":
        _note_removal(run, (run.extravars or {}).get("mailfleet_domains_absent") or [])
    elif run.catalogue_key == "deprovision":
        _note_deprovision(run)
    elif run.catalogue_key == "resize":
        from webapp.services.capacity import note_resized  # capacity confirms through this module

        note_resized(run)
    elif run.catalogue_key == "switch_ip":
        from webapp.services.ipswitch import note_switched  # ipswitch confirms through this module

        note_switched(run)
    if run.catalogue_key in ("provision", "recover", "restore_check"):
        from webapp.services import recovery  # a recovery's next step follows through this module

        recovery.note_run_finished(run)
    from webapp.services import drills  # a drill's next step follows through this module

    if run.catalogue_key in drills.STEP_KEYS:
        drills.note_run_finished(run)
    db.session.commit()


def _run_servers(run: Run) -> list[Server]:
    stmt = select(Server).where(Server.tenant_id == run.tenant_id)
    if run.limit:
        stmt = stmt.where(Server.name.in_(run.limit.split(",")))
    return list(db.session.execute(stmt).scalars())


def _note_site(run: Run) -> None:
    """Pending and failed domains of the servers the run configured become active, or failed with
    the first failure on their server."""
    ok = run.status == RunStatus.SUCCESSFUL
    for server in _run_servers(run):
        stats = (run.recap or {}).get(server.name)
        host_ok = ok or (stats is not None and not stats.get("failed") and not stats.get("unreachable"))
        reason = None if host_ok else failure_of(run, server.name if stats else None)
        for domain in server.domains:
            if domain.status not in (DomainStatus.PENDING, DomainStatus.FAILED):
                continue
            domain.status = DomainStatus.ACTIVE if host_ok else DomainStatus.FAILED
            domain.status_reason = reason
            if host_ok:
                dnsdoctor.note_published(domain, run.finished_at or utcnow(), run)


def _note_removal(run: Run, names: list[str]) -> None:
    domains = (
        db.session.execute(select(Domain).where(Domain.tenant_id == run.tenant_id, Domain.name.in_(names)))
        .scalars()
        .all()
    )
    # Their secondary MX servers drop the relays (a domain run on each, once the rows are gone).
    secondaries = {d.secondary_server.name: d.secondary_server for d in domains
                   if d.secondary_server is not None and run.status == RunStatus.SUCCESSFUL}
    for domain in domains:
        if run.status == RunStatus.SUCCESSFUL:
            db.session.execute(delete(Mailbox).where(Mailbox.domain_id == domain.id))
            db.session.delete(domain)
        else:
            domain.status = DomainStatus.FAILED
            domain.status_reason = f"removal failed: {failure_of(run)}"[:MAX_REASON]
    _publish_again(run, secondaries.values())


def _publish_again(after: Run, servers: Iterable[Server]) -> None:
    """A domain run on each of ``servers`` (their domains and relays as the database has them now),
    following ``after``."""
    db.session.flush()
    for server in sorted(servers, key=lambda s: s.name):
        if server.status == ServerStatus.ACTIVE:
            fleet.publish_domains(Scope.system(), after.tenant, server, follows=after)


def _note_deprovision(run: Run) -> None:
    from mailfleet.hostwinds import ordered_name

    if not (run.extravars or {}).get("server_index"):
        return
    name = ordered_name(run.tenant.slug, run.extravars or {})
    server = db.session.execute(
        select(Server).where(Server.tenant_id == run.tenant_id, Server.name == name)
    ).scalar_one_or_none()
    if server is None:
        return
    _note_removal(run, [d.name for d in server.domains])
    if run.status == RunStatus.SUCCESSFUL:
        fleet.mark_gone(server, f"{server.name} was deprovisioned (run {run.id})")
        # Where it was a domain's secondary MX, the domain's server publishes its MX set without it.
        _publish_again(run, secondary_mx.forget(server))
    else:
        server.status = ServerStatus.ERROR
