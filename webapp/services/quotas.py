"""What a tenant's people may order: whether their role may spend, and the limits an administrator
set on the tenant (number of servers, monthly spend in the provider's plan prices). Checked before
a provisioning run is written or enqueued, so a refusal changes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from webapp.errors import Forbidden, InvalidInput
from webapp.extensions import db
from webapp.models import Server, ServerStatus, Tenant
from webapp.services import provider
from webapp.services.scope import Scope

MAX_SPEND = Decimal("99999999.99")  # what the column holds


def plan_price(plan: str, provider_name: str | None = None) -> Decimal | None:
    """The monthly price of a plan (id or name) in a provider's offers (the default provider's
    unless named); None if not listed."""
    found = provider.offers(provider_name).plan(plan)
    return found.monthly if found is not None else None


def require_spender(scope: Scope, what: str = "ordering servers") -> None:
    """Refuse a principal whose role may not spend (mailbox managers)."""
    if not scope.is_admin and not scope.user.role.may_spend:
        raise Forbidden(f"your role manages domains and mailboxes; {what} takes a member or admin")


def check_order(scope: Scope, tenant: Tenant, plan: str | None, *, replacing: Server | None = None,
                provider_name: str | None = None) -> None:
    """Refuse unless the principal may spend and the tenant stays within its limits with one more
    server of ``plan`` (None: re-running an order already counted). A replacement for a lost server
    (``replacing``) takes its place: the limits are checked as if the lost server were gone, so a
    tenant at its limit can recover; until it is deprovisioned, the lost server counts again for
    any other order. ``plan`` is priced at ``provider_name`` (the default provider unless named)."""
    require_spender(scope)
    live = (
        *_counted(tenant),
        *((Server.id != replacing.id,) if replacing is not None else ()),
    )
    adding = 1 if plan is not None else 0
    if tenant.max_servers is not None:
        count = db.session.execute(select(func.count()).where(*live)).scalar_one()
        if count + adding > tenant.max_servers:
            raise Forbidden(
                f"tenant {tenant.slug} may have at most {tenant.max_servers} server(s) and has {count}; "
                "an administrator can raise the limit"
            )
    if tenant.max_monthly_spend is None:
        return
    price = plan_price(plan, provider_name) if plan is not None else Decimal(0)
    if price is None:
        raise InvalidInput(f"plan {plan!r} is not in the provider's price list: no price to check the limit")
    check_spend(tenant, price, live)


def _counted(tenant: Tenant) -> tuple[Any, ...]:
    """The tenant's servers its limits count: not gone, and not a restore drill's throwaway server
    (ordered by the drill itself and deleted within the hour)."""
    return Server.tenant_id == tenant.id, Server.status != ServerStatus.GONE, Server.drill_of_id.is_(None)


def check_spend(tenant: Tenant, more: Decimal, live: tuple[Any, ...] | None = None) -> None:
    """Refuse `more` a month on top of the tenant's servers (`live`: which count; all but the
    gone ones by default), with the IPv4 addresses they hold beside their main one where those are
    priced (MAILFLEET_PRICE_EXTRA_IP), beyond its spending limit."""
    if tenant.max_monthly_spend is None or more <= 0:
        return
    live = live or _counted(tenant)
    plans, extra = db.session.execute(
        select(func.sum(Server.monthly_price), func.sum(Server.extra_ipv4)).where(*live)
    ).one()
    price = current_app.config.get("MAILFLEET_PRICE_EXTRA_IP")
    spent = Decimal(plans or 0) + (Decimal(str(price)) * (extra or 0) if price is not None else 0)
    if spent + more > tenant.max_monthly_spend:
        raise Forbidden(
            f"tenant {tenant.slug} may spend at most {tenant.max_monthly_spend} a month; its servers cost "
            f"{spent:.2f} and this change {more:.2f} more; an administrator can raise the limit"
        )


def set_limits(
    scope: Scope, tenant: Tenant, max_servers: int | None, max_monthly_spend: Decimal | None
) -> None:
    """Admins only; None removes a limit. Existing servers stay: the limits apply to new orders."""
    scope.require_admin()
    if max_servers is not None and not 0 <= max_servers <= 10_000:
        raise InvalidInput("the server limit must be between 0 and 10000 (or empty for none)")
    if max_monthly_spend is not None and not Decimal(0) <= max_monthly_spend <= MAX_SPEND:
        raise InvalidInput(f"the monthly spending limit must be 0 to {MAX_SPEND} (or empty for none)")
    tenant.max_servers = max_servers
    tenant.max_monthly_spend = max_monthly_spend
    db.session.commit()
