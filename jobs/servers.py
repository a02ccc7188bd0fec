"""Refresh the server table from every provider's inventory (every 10 minutes, from rq cron).

Each provider answers through the provider interface (mailfleet.providers) with server records,
the same the inventory plugin builds. Servers are matched by provider and provider id, else by
name (``mf-<tenant>-<n>``, the label a provisioning run gave them). Unknown servers are recorded
unassigned (admins see them); servers no longer at their provider become "gone". A server whose
main IP changed goes through webapp.services.ipswitch.moved_to (recorded, warm-up restarted, DNS
republished). Secrets never reach here: each client strips them at its boundary. A provider that
does not answer leaves its own servers as they were and the others are still refreshed.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from jobs.app import worker_app
from mailfleet.clock import utcnow
from mailfleet.providers import Provider, ProviderError, ServerState
from mailfleet.secrets import SecretsError
from webapp.extensions import db
from webapp.integrations import provider_client, providers
from webapp.models import Server, ServerStatus, Tenant
from webapp.services import health, ipswitch
from webapp.services.provider import monthly_price

log = logging.getLogger(__name__)

STATUS = {
    ServerState.ACTIVE: ServerStatus.ACTIVE,
    ServerState.BUILDING: ServerStatus.BUILDING,
    ServerState.STOPPED: ServerStatus.STOPPED,
    ServerState.ERROR: ServerStatus.ERROR,
}


def refresh_servers() -> dict[str, int]:
    app = worker_app()
    with app.app_context():
        totals = {"updated": 0, "added": 0, "gone": 0}
        failures: list[Exception] = []
        for name in providers(app):
            try:
                counts = refresh_from(provider_client(name, app))
            except (ProviderError, SecretsError) as exc:
                log.warning("servers at %s not refreshed: %s", name, exc)
                failures.append(exc)
                continue
            for key, value in counts.items():
                totals[key] += value
        if len(failures) == len(providers(app)):
            raise failures[-1]  # nothing refreshed: the job fails with the provider's own words
        return totals


def refresh_from(client: Provider) -> dict[str, int]:
    """Apply one provider's servers."""
    return apply_inventory(client.servers(), client.name)


def apply_inventory(records: list[dict[str, Any]], provider: str) -> dict[str, int]:
    """Update the server table from one provider's server records (mailfleet.providers.RECORD_FIELDS)."""
    tenants = {t.slug: t.id for t in db.session.execute(select(Tenant)).scalars()}
    known = list(db.session.execute(select(Server)).scalars())
    by_provider = {s.provider_id: s for s in known if s.provider_id is not None and s.provider == provider}
    by_name = {s.name: s for s in known}
    seen: set[int] = set()
    moved: list[tuple[Server, str, str]] = []  # (server, old main IP, new)
    counts = {"updated": 0, "added": 0, "gone": 0}
    now = utcnow()
    for record in records:
        provider_id = int(record["provider_id"])
        name = str(record["name"])[:253]
        server = by_provider.get(provider_id) or by_name.get(name)
        if server is None:
            server = Server(name=name, tenant_id=tenants.get(record["tenant"]) if record["tenant"] else None)
            db.session.add(server)
            counts["added"] += 1
        else:
            counts["updated"] += 1
        server.provider = provider
        server.provider_id = provider_id
        server.hostname = record.get("hostname") or None
        if server.public_ipv4 and record["public_ipv4"] and record["public_ipv4"] != server.public_ipv4:
            moved.append((server, server.public_ipv4, record["public_ipv4"]))
        server.public_ipv4 = record["public_ipv4"]
        server.public_ipv6 = record["public_ipv6"]
        server.private_ipv4 = record["private_ipv4"]
        server.extra_ipv4 = int(record.get("extra_ipv4") or 0)
        server.location = record["location"] or server.location
        server.plan = record["plan"] or server.plan
        server.monthly_price = monthly_price({"monthly": record["monthly_price"]})
        server.provider_status = str(record.get("status") or "")[:32] or None
        if server.status != ServerStatus.DEPROVISIONING:  # its deprovision run decides what it becomes
            server.status = STATUS[ServerState(record["state"])]
        server.refreshed_at = now
        seen.add(provider_id)
    for server in known:
        if (
            server.provider == provider
            and server.provider_id is not None
            and server.provider_id not in seen
            and server.status != ServerStatus.GONE
        ):
            server.status = ServerStatus.GONE
            server.refreshed_at = now
            counts["gone"] += 1
            health.retire(server, f"{server.name} is no longer at the provider")
    db.session.commit()
    for server, old, new in moved:
        ipswitch.moved_to(server, old, new)
    return counts
