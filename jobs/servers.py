"""Refresh the server table from the Hostwinds inventory (every 10 minutes, from rq cron).

Instances are matched by provider id, else by srvrname (``mf-<tenant>-<n>``, the name a
provisioning run gave them). Unknown instances are recorded unassigned (admins see them);
servers no longer at the provider become "gone". Secrets never reach here: the client strips
``password`` and ``configkey`` at its boundary.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from jobs.app import worker_app
from mailfleet.hostwinds import addresses, find_plan, parse_srvrname
from webapp.extensions import db
from webapp.integrations import hostwinds_client
from webapp.models import Server, ServerStatus, Tenant
from webapp.models.types import utcnow
from webapp.services import health
from webapp.services.provider import monthly_price

log = logging.getLogger(__name__)

PROVIDER_STATUS = {
    "ACTIVE": ServerStatus.ACTIVE,
    "RESIZED": ServerStatus.ACTIVE,
    "BUILD": ServerStatus.BUILDING,
    "REBUILD": ServerStatus.BUILDING,
    "SHUTOFF": ServerStatus.STOPPED,
    "ERROR": ServerStatus.ERROR,
}


def refresh_servers() -> dict[str, int]:
    app = worker_app()
    with app.app_context():
        client = hostwinds_client()
        return apply_inventory(client.list_instances(), client.price_list(), _location_names(client))


def _location_names(client: Any) -> dict[str, str]:
    try:
        return {str(loc.get("id")): str(loc.get("name")) for loc in client.locations()}
    except Exception as exc:  # noqa: BLE001 - names are cosmetic; ids still shown
        log.warning("locations unavailable: %s", exc)
        return {}


def apply_inventory(
    instances: list[dict[str, Any]], plans: list[dict[str, Any]], locations: dict[str, str]
) -> dict[str, int]:
    tenants = {t.slug: t.id for t in db.session.execute(select(Tenant)).scalars()}
    known = list(db.session.execute(select(Server)).scalars())
    by_provider = {s.provider_id: s for s in known if s.provider_id is not None}
    by_name = {s.name: s for s in known}
    seen: set[int] = set()
    counts = {"updated": 0, "added": 0, "gone": 0}
    now = utcnow()
    for instance in instances:
        try:
            provider_id = int(instance["serviceid"])
        except (KeyError, TypeError, ValueError):
            continue
        name = str(instance.get("srvrname") or instance.get("hostname") or f"hostwinds-{provider_id}")[:253]
        server = by_provider.get(provider_id) or by_name.get(name)
        if server is None:
            parsed = parse_srvrname(name)
            server = Server(name=name, tenant_id=tenants.get(parsed.tenant) if parsed else None)
            db.session.add(server)
            counts["added"] += 1
        else:
            counts["updated"] += 1
        plan = find_plan(instance, plans)
        ips = addresses(instance)
        server.provider_id = provider_id
        server.hostname = instance.get("hostname") or None
        server.public_ipv4 = ips["public_ipv4"]
        server.public_ipv6 = ips["public_ipv6"]
        server.private_ipv4 = ips["private_ipv4"]
        location_id = instance.get("location_id")
        server.location = locations.get(
            str(location_id), server.location or (str(location_id) if location_id else None)
        )
        server.plan = (plan or {}).get("name") or instance.get("product_name") or server.plan
        server.monthly_price = monthly_price(plan)
        server.provider_status = str(instance.get("status") or "")[:32] or None
        status = PROVIDER_STATUS.get(str(instance.get("status", "")).upper(), ServerStatus.BUILDING)
        if server.status != ServerStatus.DEPROVISIONING:  # its deprovision run decides what it becomes
            server.status = status
        server.refreshed_at = now
        seen.add(provider_id)
    for server in known:
        if (
            server.provider_id is not None
            and server.provider_id not in seen
            and server.status != ServerStatus.GONE
        ):
            server.status = ServerStatus.GONE
            server.refreshed_at = now
            counts["gone"] += 1
            health.retire(server, f"{server.name} is no longer at the provider")
    db.session.commit()
    return counts
