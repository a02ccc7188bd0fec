"""A run's inventory: the tenant's own servers and the controller, nothing else.

Built from the database for one tenant only, so a run can never address another tenant's hosts:
the hosts are not in its inventory, and limits are checked against this same list. A restore
drill's throwaway server (Server.drill_of_id) is there only for a run whose limit names it (the
drill's own steps): a run of the tenant's servers never configures it as a mail server.
"""

from __future__ import annotations

import sys
from typing import Any

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Domain, DomainStatus, Server, ServerStatus, Tenant
from webapp.services import secondary_mx
from webapp.services.backupregions import copy_vars, storages
from webapp.services.warmup import cap_table

CONTROLLER = "localhost"
TARGET_STATUSES = (ServerStatus.ACTIVE, ServerStatus.BUILDING, ServerStatus.REQUESTED, ServerStatus.STOPPED)


def tenant_inventory(tenant: Tenant, limit: str | None = None) -> dict[str, Any]:
    named = (limit or "").split(",")
    servers = db.session.execute(
        select(Server)
        .where(
            Server.tenant_id == tenant.id,
            Server.status.in_(TARGET_STATUSES),
            Server.drill_of_id.is_(None) | Server.name.in_(named),
        )
        .order_by(Server.name)
    ).scalars()
    # A domain being removed is no longer configured, or a concurrent run would add it back.
    live = list(db.session.execute(
        select(Domain)
        .where(Domain.tenant_id == tenant.id, Domain.status != DomainStatus.REMOVING)
        .order_by(Domain.name)
    ).scalars())
    domains: dict[int, list[str]] = {}
    secondary: dict[int, dict[str, str]] = {}
    for domain in live:
        domains.setdefault(domain.server_id, []).append(domain.name)
        if (host := secondary_mx.secondary_host(domain)) is not None:
            secondary.setdefault(domain.server_id, {})[domain.name] = host
    hosts: dict[str, dict[str, Any]] = {}
    by_region = storages()  # the run's site file was checked before (jobs.sitevars)
    for server in servers:
        if server.public_ipv4 is None:
            continue  # not built yet: provision.yml adds it with add_host once it has an address
        hosts[server.name] = {
            "ansible_host": server.public_ipv4,
            "ansible_user": "root",
            "mailfleet_server_id": server.id,
            # Read by inventory/group_vars/all/mailfleet.yml (the mapping to the roles' variables).
            "mail_hostname": server.mail_hostname or server.name,
            "mailfleet_domains": domains.get(server.id, []),
            # Secondary MX of its domains (domain -> that server's mail host), and the relays it
            # holds as another server's secondary MX (webapp.services.secondary_mx).
            "mailfleet_secondary_mx": secondary.get(server.id, {}),
            "mailfleet_relays": secondary_mx.relays_for(server, live),
            # The day's sending caps (warm-up plan), enforced by the server's Postfix.
            "mailfleet_sendcaps": cap_table(server),
            # The backup copy in another region (the deployment's storage per region), if any.
            **copy_vars(server, by_region),
        }
    return {
        "all": {
            "vars": {"mailfleet_tenant": tenant.slug},
            "hosts": {
                # Controller tasks (API calls through the mailfleet package) run with this Python.
                CONTROLLER: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            },
            "children": {"mailfleet_servers": {"hosts": hosts}},
        }
    }
