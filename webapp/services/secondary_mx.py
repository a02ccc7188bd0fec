"""A mail domain's secondary (backup) MX: another server of the same tenant, in another region,
that accepts the domain's mail while the domain's own server is down and delivers it when it is
back.

On the secondary the domain is a Mailu relay domain whose target is the primary's mail host name,
named explicitly (Mailu renders it ``smtp:[host]``: no MX lookup, which would find the secondary
itself); Postfix there accepts the domain's mail and keeps it queued while the primary does not
answer. The domain's MX set gets the secondary at a higher preference number than the primary's
(mailfleet.dns), and its MTA-STS policy names both hosts.

A domain gets one when it is added and the tenant has an active server in a region other than the
domain's server's; an admin sets or clears it later. Each change is the domain's run (site.yml) on
the servers concerned: the primary publishes the MX set, the secondary (and a former one) brings its
relays in line with the database (jobs.inventory gives each server its relays).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from webapp.errors import Conflict, InvalidInput, NotFound
from webapp.extensions import db
from webapp.models import Domain, DomainStatus, HealthCheck, Run, Server, ServerStatus, Tenant
from webapp.services.scope import Scope

#: The health check of a secondary MX, per domain (mailfleet.monitoring: it accepts the domain's mail).
RELAY_CHECK = "relay:"


def refusal(domain: Domain, server: Server) -> str | None:
    """Why ``server`` cannot be the secondary MX of ``domain`` (None: it can)."""
    primary = domain.server
    if server.tenant_id != domain.tenant_id:
        return f"{server.name} belongs to another tenant"
    if server.id == primary.id:
        return f"{server.name} is the domain's own server; choose a server in another region"
    if server.drill_of_id is not None:
        return f"{server.name} is a restore drill's throwaway server"
    if server.status != ServerStatus.ACTIVE or not server.mail_hostname:
        return f"{server.name} is {server.status}, not an active mail server"
    if server.region is None:
        return f"{server.name} is in no known region ({server.location or 'no location'})"
    if server.region is primary.region:
        return (f"{server.name} is in the same region as {primary.name} ({server.region.label}); "
                "a secondary MX must be in another region")
    return None


def candidates(domain: Domain) -> list[Server]:
    """The tenant's servers that may be the domain's secondary MX, by name."""
    servers = db.session.execute(
        select(Server).where(Server.tenant_id == domain.tenant_id).order_by(Server.name)
    ).scalars()
    return [s for s in servers if refusal(domain, s) is None]


def choose(domain: Domain) -> Server | None:
    """The secondary a new domain gets: the first candidate, when its server's region is known."""
    if domain.server.region is None:
        return None
    found = candidates(domain)
    return found[0] if found else None


def set_secondary(
    scope: Scope, tenant: Tenant, domain_id: int, server_id: int | None, submission_key: str | None = None
) -> Run:
    """An admin makes ``server_id`` the domain's secondary MX (None: no secondary MX), then the
    domain's run configures the servers concerned. Bad input changes nothing."""
    from webapp.services import fleet  # fleet's add_domain chooses through this module

    scope.require_admin()
    domain = scope.get(Domain, domain_id)
    if domain.tenant_id != tenant.id:
        raise NotFound(f"domain {domain_id} not found")
    if domain.status == DomainStatus.REMOVING:
        raise Conflict(f"{domain.name} is being removed")
    server: Server | None = None
    if server_id is not None:
        server = db.session.get(Server, server_id)
        if server is None:
            raise InvalidInput(f"server {server_id} does not exist")
        if (why := refusal(domain, server)) is not None:
            raise InvalidInput(f"{server.name} cannot be the secondary MX of {domain.name}: {why}")
    former = domain.secondary_server
    domain.secondary_server_id = server.id if server else None
    return fleet.publish_domains(scope, tenant, domain.server, submission_key,
                                 also=[s for s in (former, server) if s is not None])


#: A secondary in one of these is published (in a run's inventory too); one in error, being
#: deprovisioned or gone is not.
_PUBLISHED = (ServerStatus.ACTIVE, ServerStatus.BUILDING, ServerStatus.REQUESTED, ServerStatus.STOPPED)


def secondary_host(domain: Domain) -> str | None:
    """The mail host the domain's MX set names after its own server's (None: no secondary MX)."""
    backup = domain.secondary_server
    if backup is None or backup.status not in _PUBLISHED:
        return None
    return backup.mail_hostname or backup.name


def secondaries_of(server: Server) -> list[Server]:
    """The servers holding a relay for one of ``server``'s domains."""
    found = {d.secondary_server for d in server.domains if d.secondary_server is not None}
    return sorted(found, key=lambda s: s.name)


def forget(gone: Server) -> list[Server]:
    """``gone`` is no longer anyone's secondary MX: the primaries whose MX sets must be published
    again (the caller submits their runs)."""
    domains = db.session.execute(select(Domain).where(Domain.secondary_server_id == gone.id)).scalars()
    primaries: dict[int, Server] = {}
    for domain in domains:
        domain.secondary_server_id = None
        primaries[domain.server_id] = domain.server
    return sorted(primaries.values(), key=lambda s: s.name)


def relay_checks(domains: Iterable[Domain]) -> dict[str, str]:
    """Domain name -> the status of its secondary's ``relay:<domain>`` health check (does it accept
    the domain's mail?), for the domains that have a secondary MX and a result."""
    wanted = {(d.secondary_server_id, f"{RELAY_CHECK}{d.name}"): d.name
              for d in domains if d.secondary_server_id}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(HealthCheck.server_id, HealthCheck.check, HealthCheck.last_status).where(
            HealthCheck.server_id.in_({server_id for server_id, _ in wanted}),
            HealthCheck.check.in_({check for _, check in wanted}),
        )
    )
    return {wanted[(sid, check)]: status for sid, check, status in rows if (sid, check) in wanted and status}


def relays_for(server: Server, domains: Iterable[Domain]) -> list[dict[str, str]]:
    """The Mailu relays ``server`` holds: each domain it is the secondary MX of, to its primary."""
    return [
        {"name": d.name, "smtp": d.server.mail_hostname or d.server.name}
        for d in domains
        if d.secondary_server_id == server.id and d.server.status != ServerStatus.GONE
    ]
