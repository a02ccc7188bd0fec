"""Refresh the server table from the Hostwinds inventory (every 10 minutes, from rq cron).

Each instance is mapped to its record as the inventory plugin maps it
(mailfleet.hostwinds.instances.instance_records). Instances are matched by provider id, else by
srvrname (``mf-<tenant>-<n>``, the name a provisioning run gave them). Unknown instances are
recorded unassigned (admins see them); servers no longer at the provider become "gone". A server
whose main IP changed goes through webapp.services.ipswitch.moved_to (recorded, warm-up restarted,
DNS republished). Secrets never reach here: the client strips ``password`` and ``configkey`` at its boundary.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from jobs.app import worker_app
from mailfleet.clock import utcnow
from mailfleet.hostwinds import HostwindsClient
from mailfleet.hostwinds.instances import instance_records
from webapp.extensions import db
from webapp.integrations import hostwinds_client
from webapp.models import Server, ServerStatus, Tenant
from webapp.services import health, ipswitch
from webapp.services.provider import monthly_price

#: The instance fields the server table keeps (the record adds the derived ones).
RECORD_FIELDS = ("serviceid", "srvrname", "hostname", "status", "location_id")

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
        return refresh_from(hostwinds_client())


def refresh_from(client: HostwindsClient) -> dict[str, int]:
    """Apply the provider's instances, mapped as the inventory plugin maps them."""
    plans = client.price_list()
    return apply_inventory(instance_records(client, client.list_instances(), plans, RECORD_FIELDS))


def apply_inventory(records: list[dict[str, Any]]) -> dict[str, int]:
    """Update the server table from instance records (mailfleet.hostwinds.instance_records)."""
    tenants = {t.slug: t.id for t in db.session.execute(select(Tenant)).scalars()}
    known = list(db.session.execute(select(Server)).scalars())
    by_provider = {s.provider_id: s for s in known if s.provider_id is not None}
    by_name = {s.name: s for s in known}
    seen: set[int] = set()
    moved: list[tuple[Server, str]] = []
    counts = {"updated": 0, "added": 0, "gone": 0}
    now = utcnow()
    for record in records:
        try:
            provider_id = int(record["serviceid"])
        except (KeyError, TypeError, ValueError):
            continue
        name = str(record.get("srvrname") or record.get("hostname") or f"hostwinds-{provider_id}")[:253]
        server = by_provider.get(provider_id) or by_name.get(name)
        if server is None:
            server = Server(name=name, tenant_id=tenants.get(record["tenant"]) if record["tenant"] else None)
            db.session.add(server)
            counts["added"] += 1
        else:
            counts["updated"] += 1
        server.provider_id = provider_id
        server.hostname = record.get("hostname") or None
        if server.public_ipv4 and record["public_ipv4"] and record["public_ipv4"] != server.public_ipv4:
            moved.append((server, server.public_ipv4))
        server.public_ipv4 = record["public_ipv4"]
        server.public_ipv6 = record["public_ipv6"]
        server.private_ipv4 = record["private_ipv4"]
        location_id = record.get("location_id")
        server.location = record["location"] or server.location or (str(location_id) if location_id else None)
        server.plan = record["plan"] or server.plan
        server.monthly_price = monthly_price({"monthly": record["monthly_price"]})
        server.provider_status = str(record.get("status") or "")[:32] or None
        status = PROVIDER_STATUS.get(str(record.get("status", "")).upper(), ServerStatus.BUILDING)
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
    for server, old in moved:
        ipswitch.moved_to(server, old, server.public_ipv4)
    return counts
