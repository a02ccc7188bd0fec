"""Servers and domains: what a tenant owns, and the runs that create them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from mailfleet.dns import DnsError
from mailfleet.hostwinds import next_server_name, parse_srvrname
from mailfleet.regions import Region, UnknownRegion, parse_region
from mailfleet.secrets import SecretsError
from mailfleet.validation import normalize_domain, normalize_hostname
from webapp.errors import Conflict, InvalidInput, NotFound, valid
from webapp.extensions import db
from webapp.integrations import dns_zone_check
from webapp.models import Domain, DomainStatus, Run, Server, ServerStatus, Tenant
from webapp.services import health, provider, quotas, runs, secondary_mx
from webapp.services.scope import Scope

# Hostwinds location names ("Seattle") and plan ids or names ("1", "Unmetered 2GB").
_PROVIDER_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def _provider_word(what: str, value: str) -> str:
    value = (value or "").strip()
    if not _PROVIDER_WORD.match(value):
        raise InvalidInput(f"{what} must be 1-64 letters, digits, spaces, '.', '_' or '-'")
    return value


def list_servers(scope: Scope, tenant: Tenant | None = None) -> list[Server]:
    stmt = scope.select(Server).order_by(Server.name)
    if tenant is not None:
        # A tenant's page lists what it has; deprovisioned servers stay in the fleet list only.
        stmt = stmt.where(Server.tenant_id == tenant.id, Server.status != ServerStatus.GONE)
    return list(db.session.execute(stmt).scalars())


def servers_by_status(scope: Scope) -> dict[str, int]:
    stmt = scope.restrict(select(Server.status, func.count()).group_by(Server.status), Server)
    return {str(status): count for status, count in db.session.execute(stmt)}


def server_of(scope: Scope, tenant: Tenant, server_id: int) -> Server:
    """One of this tenant's servers; another tenant's answers NotFound, as one that does not exist.
    (A restore's servers are refused by name instead: actions.tenant_server.)"""
    server = scope.get(Server, server_id)
    if server.tenant_id != tenant.id:
        raise NotFound(f"server {server_id} not found")
    return server


def ordered_index(server: Server, tenant: Tenant, elsewhere: str) -> int:
    """The index in the name mailfleet gave the server when it ordered it for the tenant
    (mf-<tenant>-<n>), by which the playbooks find the instance. A server mailfleet did not order
    for the tenant is refused (Conflict), saying what to do instead (`elsewhere`)."""
    parsed = parse_srvrname(server.name)
    if parsed is None or parsed.tenant != tenant.slug:
        raise Conflict(f"{server.name} was not provisioned by mailfleet for {tenant.slug}; {elsewhere}")
    return parsed.index


def server_vars(tenant: Tenant, provider_name: str, index: int) -> dict[str, Any]:
    """The run variables by which a playbook finds the tenant's server mf-<tenant>-<index> at its
    provider (provision, resize, switch_ip and deprovision read them)."""
    return {"mailfleet_tenant": tenant.slug, "mailfleet_provider": provider_name, "server_index": index}


def provision_server(
    scope: Scope,
    tenant: Tenant,
    location: str | None,
    plan: str,
    mail_hostname: str,
    submission_key: str | None = None,
    *,
    region: str | None = None,
    replacing: Server | None = None,
    recover_before: str | None = None,
    recover_from_copy: bool = False,
    provider_name: str | None = None,
) -> Run:
    """Record the server (status requested) and enqueue provision.yml for it. The order names a
    location, or a region (else the tenant's home region) where the server is placed, at one of
    the deployment's providers (`provider_name`, else the lost server's, else the default one).
    `replacing`: the lost server it replaces (webapp.services.recovery follows the run with the
    restore, of the snapshot at or before `recover_before` if given, from the lost server's copy in
    another region with `recover_from_copy`); the tenant's limits are checked as if that server
    were gone."""
    location = _provider_word("location", location) if location else None
    wanted_region = _region(region) if region else None
    plan = _provider_word("plan", plan)
    mail_hostname = valid(normalize_hostname, mail_hostname)
    recovery = replacing is not None
    if (earlier := runs.find_submission(tenant, submission_key, "provision", recovery=recovery)) is not None:
        return earlier
    # Who may order and within which limits first: a refusal never needs the provider.
    ordered_at = provider_name or (replacing.provider if replacing else None)
    quotas.check_order(scope, tenant, plan, replacing=replacing, provider_name=ordered_at)
    offers = provider.offers(ordered_at)
    location = location or _placed(offers, tenant, wanted_region or tenant.home_region)
    offer = offers.check(location, plan)
    if wanted_region is not None and offers.region_of(location) is not wanted_region:
        raise InvalidInput(f"{location} is not in {wanted_region.label}")
    taken = list(db.session.execute(select(Server.name)).scalars())
    new_name = next_server_name(tenant.slug, taken)
    server = Server(
        tenant_id=tenant.id,
        name=str(new_name),
        provider=offers.provider,
        location=location,
        plan=plan,
        monthly_price=offer.monthly,
        status=ServerStatus.REQUESTED,
        mail_hostname=mail_hostname,
    )
    db.session.add(server)
    return runs.submit_run(
        scope,
        tenant,
        "provision",
        submission_key=submission_key,
        extravars={
            **server_vars(tenant, offers.provider, new_name.index),
            "server_location": location,
            "server_plan": plan,
            "mail_hostname": mail_hostname,
            **({"recover_from_host": replacing.name} if replacing else {}),
            **({"recover_before": recover_before} if replacing and recover_before else {}),
            **({"recover_from_copy": True} if replacing and recover_from_copy else {}),
        },
    )


def _region(value: str) -> Region:
    try:
        return parse_region(value)
    except UnknownRegion as exc:
        raise InvalidInput(str(exc)) from None


def _placed(offers: provider.Offers, tenant: Tenant, region: Region | None) -> str:
    if region is None:
        raise InvalidInput("choose a location or a region (the tenant has no home region)")
    counts = db.session.execute(
        select(Server.location, func.count())
        .where(Server.tenant_id == tenant.id, Server.status != ServerStatus.GONE)
        .group_by(Server.location)
    )
    return offers.place(region, {str(name): n for name, n in counts if name})


def set_home_region(scope: Scope, tenant: Tenant, region: str | None) -> Region | None:
    """An admin sets (or, with None or "", clears) where the tenant's servers go by default."""
    scope.require_admin()
    tenant.home_region = _region(region) if region else None
    db.session.commit()
    return tenant.home_region


def list_domains(scope: Scope, tenant: Tenant | None = None) -> list[Domain]:
    return scope.listing(Domain, Domain.name, tenant)


def add_domain(
    scope: Scope, tenant: Tenant, server_id: int, name: str, submission_key: str | None = None
) -> Run:
    """Record the domain (pending) and enqueue the run that configures it on the server (Mailu +
    DNS), once the DNS provider confirmed it can update the domain's zone."""
    name = valid(normalize_domain, name)
    server = scope.get(Server, server_id)
    if server.tenant_id != tenant.id:
        raise InvalidInput("that server belongs to another tenant")
    if (earlier := runs.find_submission(tenant, submission_key, "domain")) is not None:
        return earlier
    if db.session.execute(select(Domain.id).where(Domain.name == name)).first():
        raise Conflict(f"the domain {name} is already in use")
    try:
        dns_zone_check(name)
    except (DnsError, SecretsError, OSError) as exc:
        raise InvalidInput(f"{name} cannot be published: {exc}") from None
    domain = Domain(tenant_id=tenant.id, server_id=server.id, name=name, status=DomainStatus.PENDING)
    db.session.add(domain)
    db.session.flush()
    secondary = secondary_mx.choose(domain)
    domain.secondary_server_id = secondary.id if secondary else None
    return publish_domains(scope, tenant, server, submission_key)


def publish_domains(
    scope: Scope,
    tenant: Tenant,
    server: Server,
    submission_key: str | None = None,
    *,
    follows: Run | None = None,
    dns_only: bool = False,
    also: Sequence[Server] = (),
) -> Run:
    """Enqueue the run that configures the server's mail domains (Mailu, then the dns role, which
    publishes every record mailfleet owns for them again), and the relays of the servers that are
    their secondary MX (and of the servers in `also`: a former secondary drops its relay). Each
    server's domains and relays come from the run's inventory (jobs.inventory), read from the
    database when the run starts. `follows`: as for runs.submit_run.
    `dns_only`: only the part that publishes DNS (the "dns" catalogue entry), for a zone whose
    records went wrong while the server itself is fine (the DNS doctor's Fix): records someone else
    set that contradict mailfleet's are deleted (the dns role's take-over), as the doctor showed."""
    servers = {server.name} if dns_only else {
        s.name for s in (server, *secondary_mx.secondaries_of(server), *also)
        if s.status == ServerStatus.ACTIVE
    }
    return runs.submit_run(
        scope,
        tenant,
        "dns" if dns_only else "domain",
        limit=",".join(sorted(servers | {server.name})),
        submission_key=submission_key,
        extravars={"dns_take_over": True} if dns_only else None,
        follows=follows,
    )


def mark_gone(server: Server, reason: str) -> None:
    """The server was deleted at its provider: gone, with no address left to it, and its active
    alerts resolved with ``reason`` (the caller commits)."""
    server.status = ServerStatus.GONE
    server.public_ipv4 = server.public_ipv6 = server.private_ipv4 = None
    health.retire(server, reason)
