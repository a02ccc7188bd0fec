"""Costs per tenant: the price history of servers, month to date, projection, history, budgets.

Every server not gone costs its plan's monthly price (the provider's price list, as recorded on
the server by provisioning and the inventory refresh), from the moment it was ordered. Each server
belongs to one tenant, so its whole cost is allocated to that tenant; a server no tenant owns shows
as "unassigned" to administrators. The price history (webapp.models.usage.CostPeriod) is kept by
:func:`sync_periods` (every 5 minutes, from the usage sampler): a change of tenant, plan or price
ends one period and starts the next, so a resize shows up in the month's cost from that moment.

Messages: each server's messages sent this month (mail_counts, webapp.services.mailstats) beside
its cost, and the cost per 1,000 messages sent of each server, tenant and the fleet.

Extras: what the provider bills beside the plans, at the admin's prices (settings
MAILFLEET_PRICE_BACKUP_GB, MAILFLEET_PRICE_BANDWIDTH_OVERAGE_GB; unset: not priced): the tenant's
backup repository (the largest its servers' backup facts report: they share one), a standing charge
on what it holds now; and each server's bandwidth over its plan's monthly allowance (the latest
sample this month), to date on what is over now, projected on the month's use at its pace so far
(mailfleet.costs); each new main address a server moved to this month (an IP switch, or a change
the inventory refresh saw: table ip_changes), charged once (MAILFLEET_PRICE_NEW_IP); and the public
IPv4 addresses each server holds beside its main one (the provider's count, servers.extra_ipv4: an
IP switch keeps the old address beside the new), a standing monthly charge each
(MAILFLEET_PRICE_EXTRA_IP). They count in the tenant's month, its projection and its budget like the
servers. The provider's API offers no call that buys an address: an extra IP is bought at the
provider's portal, and priced here once the inventory refresh sees it.

Guard: a run that changes what a tenant pays (a resize, by hand or by auto-scaling; an IP switch) is
checked first by :func:`check_change` against the tenant's spending limit (quotas.check_spend) and its
monthly budget, and refused with both figures when it would pass either.

Budgets: a tenant's monthly budget alerts at 50, 80 and 100 % of actual spend and at 100 % of the
projection, as the checks ``budget:<tenant>:<threshold>`` of the control plane, and so does the
fleet's (setting MAILFLEET_FLEET_BUDGET) as ``budget:(fleet):<threshold>`` (the health alert
engine: one notification per threshold crossed, resolved when a new month starts from zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask import current_app
from sqlalchemy import func, select

from mailfleet import costs
from mailfleet.costs import CENT
from mailfleet.monitoring import AlertPolicies, AlertPolicy, CheckResult, Status
from webapp.errors import Forbidden, InvalidInput
from webapp.extensions import db
from webapp.models import IpChange, Server, ServerStatus, Tenant
from webapp.models.backups import ServerBackup
from webapp.models.health import MONITORING_SERVER
from webapp.models.usage import FIVE_MINUTES, CostPeriod, UsageSample
from webapp.services import mailstats, quotas
from webapp.services.scope import Scope

MAX_BUDGET = Decimal("99999999.99")  # what the column holds
HISTORY_MONTHS = 6
FLEET = "(fleet)"  # in the fleet's budget checks where a tenant's slug would be (no slug has parentheses)
#: A threshold crossed (or a disk-full date) is one alert at once; back under it resolves it at once.
BUDGET_POLICY = AlertPolicies(AlertPolicy(fail_after=1, pass_after=1))


def _costs_money(server: Server) -> bool:
    return server.status != ServerStatus.GONE and server.monthly_price is not None


def sync_periods(now: datetime) -> int:
    """Bring the price history in line with the servers; returns how many periods changed."""
    open_rows = {
        p.server_id: p for p in db.session.scalars(select(CostPeriod).where(CostPeriod.ended_at.is_(None)))
    }
    changed = 0
    for server in db.session.scalars(select(Server)):
        current = open_rows.get(server.id)
        wanted = (server.tenant_id, server.plan, server.monthly_price) if _costs_money(server) else None
        if current is not None and wanted == (current.tenant_id, current.plan, current.monthly_price):
            continue
        if current is not None:
            current.ended_at = now
            changed += 1
        if wanted is not None:
            first = current is None and not db.session.scalar(
                select(CostPeriod.id).where(CostPeriod.server_id == server.id).limit(1)
            )
            db.session.add(
                CostPeriod(
                    server_id=server.id,
                    tenant_id=server.tenant_id,
                    plan=server.plan,
                    monthly_price=server.monthly_price,
                    started_at=server.created_at if first else now,
                )
            )
            changed += 1
    db.session.commit()
    return changed


@dataclass(frozen=True)
class ServerCost:
    name: str
    server_id: int | None
    plan: str | None
    monthly_price: Decimal | None  # what it costs a month now; None: no longer running
    month: costs.MonthCost
    sent: int  # messages sent this month
    per_thousand: Decimal | None  # month to date per 1,000 messages sent; None: none sent


@dataclass(frozen=True)
class ExtraCost:
    """One priced extra of a tenant's month: backup storage, or a server's bandwidth overage."""

    what: str  # "backup storage", "bandwidth over the allowance", "new IP addresses" or
    # "IP addresses beside the main one"
    server: str | None  # the server it is billed on; None: the tenant's (backup storage)
    quantity: Decimal  # GB held (backup), GB used over the allowance so far (bandwidth), addresses
    unit_price: Decimal  # dollars a GB a month (backup), a GB over (bandwidth), an address (once or a month)
    detail: str
    month: costs.MonthCost


@dataclass(frozen=True)
class TenantCost:
    tenant: Tenant | None  # None: servers no tenant owns
    servers: list[ServerCost]
    month: costs.MonthCost
    history: list[tuple[datetime, Decimal]]
    budget: Decimal | None
    used_pct: Decimal | None  # month to date as a percentage of the budget
    breach: datetime | None  # when the run rate reaches the budget this month
    sent: int
    per_thousand: Decimal | None
    extras: list[ExtraCost]

    @property
    def slug(self) -> str:
        return self.tenant.slug if self.tenant is not None else "unassigned"


@dataclass(frozen=True)
class FleetCost:
    """Every server's month, whoever owns it, against the fleet's budget (MAILFLEET_FLEET_BUDGET)."""

    month: costs.MonthCost
    budget: Decimal | None
    used_pct: Decimal | None
    breach: datetime | None
    sent: int
    per_thousand: Decimal | None


def _against(
    month: costs.MonthCost, budget: Decimal | None, now: datetime
) -> tuple[Decimal | None, datetime | None]:
    """(percentage of the budget spent, the day the run rate reaches it) or Nones without a budget."""
    if not budget:
        return None, None
    return (month.to_date * 100 / budget).quantize(Decimal("0.1")), costs.breach_date(month, budget, now)


def _month_sent(now: datetime) -> dict[int, int]:
    return mailstats.sent_by_server(costs.month_bounds(now)[0].date(), now.date())


def _periods(tenant_id: int | None, since: datetime) -> dict[int, list[costs.Period]]:
    """Per server id, the tenant's periods overlapping [since, now): the recorded ones, and for a
    server the sampler has not recorded yet, its current price since it was ordered."""
    rows = db.session.scalars(
        select(CostPeriod).where(
            CostPeriod.tenant_id.is_(tenant_id) if tenant_id is None else CostPeriod.tenant_id == tenant_id,
            (CostPeriod.ended_at.is_(None)) | (CostPeriod.ended_at > since),
        )
    ).all()
    out: dict[int, list[costs.Period]] = {}
    for row in rows:
        out.setdefault(row.server_id, []).append(
            costs.Period(row.monthly_price, row.started_at, row.ended_at)
        )
    open_ids = {r.server_id for r in rows if r.ended_at is None}
    stmt = select(Server).where(
        Server.tenant_id.is_(None) if tenant_id is None else Server.tenant_id == tenant_id
    )
    for server in db.session.scalars(stmt):
        price = server.monthly_price
        if _costs_money(server) and price is not None and server.id not in open_ids:
            out.setdefault(server.id, []).append(costs.Period(price, server.created_at, None))
    return out


GB = Decimal(1024**3)


def _price(name: str) -> Decimal | None:
    found = current_app.config.get(name)
    return Decimal(str(found)) if found is not None else None


def _backup_extra(tenant: Tenant, now: datetime) -> ExtraCost | None:
    price = _price("MAILFLEET_PRICE_BACKUP_GB")
    if price is None:
        return None
    rows = db.session.scalars(
        select(ServerBackup).join(Server, Server.id == ServerBackup.server_id).where(
            Server.tenant_id == tenant.id
        )
    )
    held = [
        int(found)
        for row in rows
        if isinstance(repository := (row.status or {}).get("repository"), dict)
        and isinstance(found := repository.get("repository_bytes"), int)
        and found >= 0
    ]
    if not held:
        return None
    gb = (Decimal(max(held)) / GB).quantize(CENT)
    detail = f"{gb} GB in the backup repository at ${price} a GB a month"
    return ExtraCost("backup storage", None, gb, price, detail, costs.standing_charge(gb * price, now))


def _bandwidth_extras(server_ids: list[int], names: dict[int, Server], now: datetime) -> list[ExtraCost]:
    price = _price("MAILFLEET_PRICE_BANDWIDTH_OVERAGE_GB")
    if price is None or not server_ids:
        return []
    since = int(costs.month_bounds(now)[0].timestamp())
    c = UsageSample.__table__.c
    latest = (
        select(c.server_id, func.max(c.ts).label("ts"))
        .where(
            c.step == FIVE_MINUTES,
            c.ts >= since,
            c.server_id.in_(server_ids),
            c.bw_used_gb.is_not(None),
            c.bw_total_gb.is_not(None),
        )
        .group_by(c.server_id)
        .subquery()
    )
    rows = db.session.execute(
        select(c.server_id, c.bw_used_gb, c.bw_total_gb).join(
            latest, (c.server_id == latest.c.server_id) & (c.ts == latest.c.ts) & (c.step == FIVE_MINUTES)
        )
    )
    out = []
    for server_id, used, allowance in rows:
        month = costs.overage_charge(Decimal(used), Decimal(allowance), price, now)
        if not month.projected:
            continue
        over = max(used - allowance, 0)
        detail = f"{used} of {allowance} GB used this month, at ${price} a GB over"
        out.append(
            ExtraCost(
                "bandwidth over the allowance", names[server_id].name, Decimal(over), price, detail, month
            )
        )
    return sorted(out, key=lambda e: e.server or "")


def _new_ip_extras(server_ids: list[int], names: dict[int, Server], now: datetime) -> list[ExtraCost]:
    """Each server's new main addresses this month, charged once each at MAILFLEET_PRICE_NEW_IP."""
    price = _price("MAILFLEET_PRICE_NEW_IP")
    if price is None or not server_ids:
        return []
    rows = db.session.scalars(
        select(IpChange)
        .where(
            IpChange.server_id.in_(server_ids),
            IpChange.changed_at >= costs.month_bounds(now)[0],
            IpChange.changed_at <= now,
        )
        .order_by(IpChange.changed_at, IpChange.id)
    )
    moved: dict[int, list[str]] = {}
    for row in rows:
        moved.setdefault(row.server_id, []).append(row.new_ip)
    out = []
    for server_id, addresses in moved.items():
        count = Decimal(len(addresses))
        detail = f"moved to {', '.join(addresses)} this month, at ${price} each"
        month = costs.one_off_charge(count * price)
        out.append(ExtraCost("new IP addresses", names[server_id].name, count, price, detail, month))
    return sorted(out, key=lambda e: e.server or "")


def _extra_ip_extras(servers: list[Server], now: datetime) -> list[ExtraCost]:
    """Each server's public IPv4 addresses beside its main one, at MAILFLEET_PRICE_EXTRA_IP a month."""
    price = _price("MAILFLEET_PRICE_EXTRA_IP")
    if price is None:
        return []
    out = []
    for server in sorted((s for s in servers if s.extra_ipv4 > 0), key=lambda s: s.name):
        count = Decimal(server.extra_ipv4)
        detail = f"{server.extra_ipv4} IPv4 address(es) beside the main one, at ${price} a month each"
        month = costs.standing_charge(count * price, now)
        out.append(ExtraCost("IP addresses beside the main one", server.name, count, price, detail, month))
    return out


def _plus(month: costs.MonthCost, extras: list[ExtraCost]) -> costs.MonthCost:
    return costs.MonthCost(
        month.to_date + sum((e.month.to_date for e in extras), Decimal(0)),
        month.projected + sum((e.month.projected for e in extras), Decimal(0)),
        month.run_rate + sum((e.month.run_rate for e in extras), Decimal(0)),
    )


def tenant_cost(tenant: Tenant | None, now: datetime) -> TenantCost:
    since = costs.month_bounds(now)[0]
    for _ in range(HISTORY_MONTHS - 1):
        since = costs.month_bounds(since - timedelta(seconds=1))[0]
    periods = _periods(tenant.id if tenant is not None else None, since)
    servers = db.session.scalars(select(Server).where(Server.id.in_(periods))).all()
    names = {s.id: s for s in servers}
    sent = _month_sent(now)
    lines = []
    every: list[costs.Period] = []
    for server_id, found in sorted(periods.items(), key=lambda item: names[item[0]].name):
        server = names[server_id]
        every += found
        running = next((p for p in found if p.end is None), None)
        month = costs.month_cost(found, now)
        if running is None and not month.projected:
            continue  # gone before this month: its cost is in the history only
        lines.append(
            ServerCost(
                server.name,
                server.id,
                server.plan,
                running.monthly_price if running is not None else None,
                month,
                sent.get(server_id, 0),
                costs.per_thousand(month.to_date, sent.get(server_id, 0)),
            )
        )
    billed = [line.server_id for line in lines if line.server_id]
    extras = _bandwidth_extras(billed, names, now) + _new_ip_extras(billed, names, now)
    extras += _extra_ip_extras([names[i] for i in billed if names[i].status != ServerStatus.GONE], now)
    backup = _backup_extra(tenant, now) if tenant is not None else None
    extras = [backup, *extras] if backup is not None else extras
    month = _plus(costs.month_cost(every, now), extras)
    history = costs.monthly_history(every, now, HISTORY_MONTHS)
    if history:  # this month's bar, to date, counts the extras too
        history[-1] = (history[-1][0], history[-1][1] + sum((e.month.to_date for e in extras), Decimal(0)))
    budget = tenant.monthly_budget if tenant is not None else None
    total_sent = sum(line.sent for line in lines)
    return TenantCost(
        tenant,
        lines,
        month,
        history,
        budget,
        *_against(month, budget, now),
        total_sent,
        costs.per_thousand(month.to_date, total_sent),
        extras,
    )


def check_change(tenant: Tenant, monthly: Decimal, now: datetime, once: Decimal = Decimal(0)) -> None:
    """Refuse a run that adds `monthly` dollars a month (and `once` dollars this month) to what the
    tenant pays when that passes its spending limit (quotas.check_spend) or its monthly budget: the
    run rate after the change, or this month's projection with the one-off charge."""
    quotas.check_spend(tenant, monthly)
    budget = tenant.monthly_budget
    if budget is None or (monthly <= 0 and once <= 0):
        return
    month = tenant_cost(tenant, now).month
    if monthly > 0 and month.run_rate + monthly > budget:
        raise Forbidden(
            f"it would take {tenant.slug}'s run rate from ${month.run_rate:.2f} to "
            f"${month.run_rate + monthly:.2f} a month, past its ${budget} budget; an administrator can "
            "raise the budget"
        )
    if once > 0 and month.projected + once > budget:
        raise Forbidden(
            f"it would take {tenant.slug}'s month, projected at ${month.projected:.2f}, to "
            f"${month.projected + once:.2f}, past its ${budget} budget; an administrator can raise the budget"
        )


def costs_for(scope: Scope, now: datetime) -> list[TenantCost]:
    """Every tenant the principal sees; administrators also get the unassigned servers' line."""
    tenants = db.session.scalars(scope.select(Tenant).order_by(Tenant.slug)).all()
    out = [tenant_cost(t, now) for t in tenants]
    if scope.is_admin:
        unassigned = tenant_cost(None, now)
        if unassigned.servers:
            out.append(unassigned)
    return out


#: The columns of the costs' CSV download: one row per server of each tenant's month.
COLUMNS = ("tenant", "server", "plan", "monthly_price", "month_to_date", "projected", "sent", "per_thousand")


def server_records(rows: list[TenantCost]) -> list[dict[str, object]]:
    found: list[dict[str, object]] = [
        {
            "tenant": row.slug,
            "server": line.name,
            "plan": line.plan,
            "monthly_price": line.monthly_price,
            "month_to_date": line.month.to_date,
            "projected": line.month.projected,
            "sent": line.sent,
            "per_thousand": line.per_thousand,
        }
        for row in rows
        for line in row.servers
    ]
    found += [
        {
            "tenant": row.slug,
            "server": extra.server,
            "plan": f"extra: {extra.what}",
            "monthly_price": extra.month.run_rate,
            "month_to_date": extra.month.to_date,
            "projected": extra.month.projected,
            "sent": None,
            "per_thousand": None,
        }
        for row in rows
        for extra in row.extras
    ]
    return found


def parse_amount(raw: object, what: str) -> Decimal | None:
    """A monthly amount as typed (`what` names it in the messages: "the budget"): empty for none,
    else a positive amount of dollars and cents."""
    raw = str(raw if raw is not None else "").strip().lstrip("$").replace(",", "")
    if not raw:
        return None
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise InvalidInput(f"{what} must be an amount in dollars, like 120 or 99.50, not {raw!r}") from None
    if not amount.is_finite() or amount <= 0 or amount > MAX_BUDGET:
        raise InvalidInput(f"{what} must be more than 0 and at most {MAX_BUDGET} (or empty for none)")
    if amount != amount.quantize(costs.CENT):
        raise InvalidInput(f"{what} is in dollars and cents (at most two decimals)")
    return amount.quantize(costs.CENT)


def parse_budget(raw: str | None) -> Decimal | None:
    """A budget as typed: empty for none, else a positive amount of dollars and cents."""
    return parse_amount(raw, "the budget")


def set_budget(scope: Scope, tenant: Tenant, raw: str | None) -> Decimal | None:
    """Administrators set (or clear) a tenant's monthly budget."""
    scope.require_admin()
    tenant.monthly_budget = parse_budget(raw)
    db.session.commit()
    return tenant.monthly_budget


def _fleet_budget() -> Decimal | None:
    found = current_app.config["MAILFLEET_FLEET_BUDGET"]
    return Decimal(str(found)).quantize(costs.CENT) if found is not None else None


def fleet_cost(rows: list[TenantCost], now: datetime) -> FleetCost:
    """The fleet's line from every tenant's (and the unassigned servers') rows of :func:`costs_for`
    as the system or an administrator sees them."""
    month = costs.MonthCost(
        sum((r.month.to_date for r in rows), Decimal(0)),
        sum((r.month.projected for r in rows), Decimal(0)),
        sum((r.month.run_rate for r in rows), Decimal(0)),
    )
    budget = _fleet_budget()
    sent = sum(r.sent for r in rows)
    return FleetCost(
        month, budget, *_against(month, budget, now), sent, costs.per_thousand(month.to_date, sent)
    )


def _budget_checks(name: str, month: costs.MonthCost, budget: Decimal, now: datetime) -> list[CheckResult]:
    """One result per threshold of `name`'s budget (a tenant's slug, or FLEET)."""
    reached = {key for key, _, _ in costs.crossed(month, budget)}
    breach = costs.breach_date(month, budget, now)
    out = []
    for key, pct, forecast in costs.THRESHOLDS:
        figure = month.projected if forecast else month.to_date
        what = "projected to month end" if forecast else "spent this month"
        line = f"${budget * pct / 100:.2f}, {pct} % of the ${budget} budget"
        detail = f"{name}: ${figure} {what}; the threshold is {line}"
        if key in reached:
            status = Status.ERROR if (pct >= 100 and not forecast) else Status.WARNING
            if forecast and breach is not None:
                detail += f"; at the current rate the budget is reached on {breach:%Y-%m-%d}"
        else:
            status = Status.OK
        out.append(CheckResult(MONITORING_SERVER, f"budget:{name}:{key}", status, float(figure), detail, now))
    return out


def budget_results(now: datetime) -> list[CheckResult]:
    """One result per budget threshold of every tenant with a budget, and of the fleet's budget
    (MAILFLEET_FLEET_BUDGET) when one is set (for the alert engine)."""
    out = []
    for tenant in db.session.scalars(select(Tenant).where(Tenant.monthly_budget.is_not(None))):
        if (budget := tenant.monthly_budget) is not None:
            out += _budget_checks(tenant.slug, tenant_cost(tenant, now).month, budget, now)
    fleet = fleet_cost(costs_for(Scope.system(), now), now)
    if fleet.budget is not None:
        out += _budget_checks(FLEET, fleet.month, fleet.budget, now)
    return out
