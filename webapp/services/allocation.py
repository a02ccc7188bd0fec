"""What the fleet's shared servers cost each tenant: allocation by a driver, with idle capacity.

A tenant's servers are its own: a server has one tenant, and a mail domain can only be added to a
server of its own tenant, so no tenant's server is shared and its whole cost is that tenant's
(webapp.services.costs). What the tenants share are the servers no tenant owns, the costs page's
``unassigned`` line: the control plane's own servers, a monitoring host, spares bought at the
provider's portal. Their month (to date, projected, run rate) is split over the tenants by the
driver the administrator chose (setting MAILFLEET_COST_ALLOCATION_DRIVER):

- ``disk``: the disk in use on each tenant's servers (the latest 5-minute usage totals), against
  the disk all of them have: the share of the disk left free is idle capacity;
- ``mailboxes``: each tenant's mailboxes;
- ``messages``: the messages each tenant's servers sent this month.

Idle capacity (the part no tenant's use accounts for: the free disk, or the whole cost when no
tenant uses anything) is shown as its own line, ``(idle)``, or shared over the tenants by the
driver (MAILFLEET_COST_IDLE: ``line`` or ``shared``; shared with nothing used at all: in equal
parts). Each figure is split to the cent by mailfleet.costs.split, so the lines add up to the
shared servers' cost exactly. The shares are shown beside the tenants' own costs (showback); they
do not count in a tenant's month, budget or spending limit, which are what its own servers cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from mailfleet import costs as money
from webapp.extensions import db
from webapp.models import Mailbox, Tenant
from webapp.models.usage import FIVE_MINUTES, UsageTotal
from webapp.services import costs
from webapp.services.scope import Scope

IDLE = "(idle)"  # the idle line where a tenant's slug would be (no slug has parentheses)
#: Each driver's figure, as the page and the API name it.
DISK_WINDOW = 86400  # seconds: how old the latest disk figures may be
UNITS = {"disk": "MB of disk in use", "mailboxes": "mailboxes", "messages": "messages sent this month"}


@dataclass(frozen=True)
class Share:
    tenant: str  # its slug, or IDLE
    quantity: Decimal  # the driver's figure (idle: the disk left free; the whole cost: 0)
    month: money.MonthCost


@dataclass(frozen=True)
class Allocation:
    driver: str  # disk, mailboxes or messages
    idle: str  # line or shared
    servers: list[costs.ServerCost]  # the shared servers
    month: money.MonthCost  # what the shared servers cost
    shares: list[Share]  # by tenant slug; the idle line last

    @property
    def unit(self) -> str:
        return UNITS[self.driver]


def _disk(now: datetime) -> tuple[dict[int, Decimal], Decimal]:
    """({tenant id: MB in use on its servers}, MB free on them) from each tenant's latest 5-minute
    totals of the last day (a tenant whose servers stopped reporting before counts none)."""
    c = UsageTotal.__table__.c
    latest = (
        select(c.tenant_id, func.max(c.ts).label("ts"))
        .where(c.step == FIVE_MINUTES, c.tenant_id != 0, c.ts >= int(now.timestamp()) - DISK_WINDOW)
        .group_by(c.tenant_id)
        .subquery()
    )
    rows = db.session.execute(
        select(c.tenant_id, c.disk_used_mb, c.disk_total_mb).join(
            latest, (c.tenant_id == latest.c.tenant_id) & (c.ts == latest.c.ts) & (c.step == FIVE_MINUTES)
        )
    )
    used, total = {}, Decimal(0)
    for tenant_id, in_use, size in rows:
        used[tenant_id] = Decimal(in_use or 0)
        total += Decimal(size or 0)
    return used, max(total - sum(used.values(), Decimal(0)), Decimal(0))


def _mailboxes() -> dict[int, Decimal]:
    rows = db.session.execute(select(Mailbox.tenant_id, func.count()).group_by(Mailbox.tenant_id))
    return {tenant_id: Decimal(count) for tenant_id, count in rows}


def _figures(driver: str, rows: list[costs.TenantCost], now: datetime) -> tuple[dict[str, Decimal], Decimal]:
    """({tenant slug: the driver's figure}, the idle figure) over the tenants of `rows`."""
    tenants = [r.tenant for r in rows if r.tenant is not None]
    if driver == "messages":
        return {r.slug: Decimal(r.sent) for r in rows if r.tenant is not None}, Decimal(0)
    found, idle = _disk(now) if driver == "disk" else (_mailboxes(), Decimal(0))
    return {t.slug: found.get(t.id, Decimal(0)) for t in tenants}, idle


def _weights(figures: dict[str, Decimal], idle: Decimal, shared: bool) -> dict[str, Decimal]:
    """What the cost is split by: the tenants' figures and the idle line's; shared, the tenants'
    alone (in equal parts when none used anything); no tenant at all: the idle line alone."""
    if not figures:
        return {IDLE: Decimal(1)}
    used = any(figures.values())
    if shared:
        return dict(figures) if used else dict.fromkeys(figures, Decimal(1))
    return {**figures, IDLE: idle if used else Decimal(1)}


def allocate(rows: list[costs.TenantCost], now: datetime) -> Allocation | None:
    """The shared servers' month split over the tenants of `rows` (costs.costs_for as an
    administrator or the system sees them); None when no server is shared."""
    pool = next((r for r in rows if r.tenant is None), None)
    if pool is None or not pool.servers:
        return None
    driver = current_app.config["MAILFLEET_COST_ALLOCATION_DRIVER"]
    shared = current_app.config["MAILFLEET_COST_IDLE"] == "shared"
    figures, idle = _figures(driver, rows, now)
    weights = {name: w for name, w in _weights(figures, idle, shared).items() if w > 0 or name != IDLE}
    parts = money.split_month(pool.month, weights)
    shares = [Share(slug, figures[slug] if slug != IDLE else idle, parts[slug]) for slug in weights]
    return Allocation(driver, "shared" if shared else "line", pool.servers, pool.month, shares)


def share_of(allocation: Allocation | None, tenant: Tenant) -> Share | None:
    if allocation is None:
        return None
    return next((s for s in allocation.shares if s.tenant == tenant.slug), None)


def fleet(now: datetime) -> Allocation | None:
    """The allocation over every tenant (None, at once, when no server is shared)."""
    if not costs.tenant_cost(None, now).servers:
        return None
    return allocate(costs.costs_for(Scope.system(), now), now)


def document(scope: Scope, now: datetime) -> dict[str, Any]:
    """The allocation as `scope` may see it: administrators all of it; a tenant's people their
    own tenant's line alone (the shared servers are the administrators'). With no shared server:
    the settings and no lines."""
    found = fleet(now)
    config = current_app.config
    out: dict[str, Any] = {
        "driver": found.driver if found else config["MAILFLEET_COST_ALLOCATION_DRIVER"],
        "idle": found.idle if found else config["MAILFLEET_COST_IDLE"],
        "servers": found.servers if found and scope.is_admin else [],
        "month": found.month if found and scope.is_admin else None,
        "shares": [] if found is None else found.shares if scope.is_admin else [
            s for s in found.shares if s.tenant == scope.own_tenant.slug
        ],
    }
    out["unit"] = UNITS[out["driver"]]
    return out
