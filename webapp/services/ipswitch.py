"""Moving a server to a new main IP, and its address history.

The switch is a run (playbooks/switch_ip.yml, catalogue key ``switch_ip``): Hostwinds gives the
server a new main IP, the new address gets the mail host name as its PTR, and the server answers SSH
there. Only an active server of the tenant, known to the provider (it has a provider id), with a
main IPv4 and a mail host name, and provisioned by mailfleet for that tenant, can be switched; the
person types the server's name to confirm; one switch per tenant at a time; and not within the
cooldown (setting MAILFLEET_IP_SWITCH_COOLDOWN_HOURS) after the server's last address change:
receivers judge an address by its history, a server hopping between addresses looks like a sender
evading blocks, and Hostwinds itself ignores changes that come too fast. An administrator may
override the cooldown; the override is kept with the run (extravar switch_ip_cooldown_override,
the end of the cooldown overridden) and logged. The confirmation states what the switch costs: the
new address once (MAILFLEET_PRICE_NEW_IP) and, since Hostwinds keeps the old address on the server
beside the new one, that address every month (MAILFLEET_PRICE_EXTRA_IP); the run records both
(extravars switch_ip_price, switch_ip_monthly_change), and a switch that would take the tenant past
its spending limit or its monthly budget is refused (webapp.services.costs.check_change). A refusal
changes nothing.

When the run succeeds (:func:`note_switched`), the server takes the provider's new address and
:func:`moved_to` records the change (table ip_changes), retires the health checks of the old address
(their open alerts, a listing of the old address among them, resolve; their results stay as its
history), starts the warm-up plan again at day 1, and queues the ``domain`` run
(:func:`webapp.services.fleet.publish_domains`), which reconverges the server on its new address
(the policy service's sending IP) and republishes its A and SPF records.
A change the inventory refresh sees (jobs.servers) goes through :func:`moved_to` too, whichever
comes first: it is recorded and acted on once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from mailfleet.clock import utcnow
from mailfleet.hostwinds import build_srvrname
from mailfleet.providers import FIXED_MAIN_IP, ProviderError
from mailfleet.secrets import SecretsError
from webapp.errors import Conflict, Forbidden, InvalidInput
from webapp.extensions import db
from webapp.integrations import provider_client
from webapp.models import FINISHED_STATUSES, IpChange, Run, RunStatus, Server, ServerStatus, Tenant
from webapp.services import costs, fleet, health, runs, warmup
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

PLAYBOOK = "switch_ip"
OVERRIDE = "switch_ip_cooldown_override"


@dataclass(frozen=True)
class SwitchPlan:
    """What switching would do (the confirmation page lists it)."""

    server: Server
    index: int  # its mf-<tenant>-<index> number
    last_change: IpChange | None = None
    cooldown_until: datetime | None = None  # None: no cooldown holds now
    price: Decimal | None = None  # what the new address costs, once (MAILFLEET_PRICE_NEW_IP; None: unpriced)
    # What the old address, kept beside the new one, costs a month (MAILFLEET_PRICE_EXTRA_IP; None: unpriced).
    monthly: Decimal | None = None

    @property
    def cooldown(self) -> str | None:
        """Why a switch now is refused (None: it is not), naming when the next one is allowed."""
        if self.cooldown_until is None or self.last_change is None:
            return None
        return (
            f"{self.server.name} moved to {self.last_change.new_ip} at "
            f"{self.last_change.changed_at:%Y-%m-%d %H:%M} UTC; its next IP switch is allowed after "
            f"{self.cooldown_until:%Y-%m-%d %H:%M} UTC (receivers distrust a server that keeps changing "
            "address, and Hostwinds ignores changes that come too fast)"
        )

    @property
    def lost(self) -> list[str]:
        name, ip = self.server.name, self.server.public_ipv4
        cost = [] if self.price is None else [
            f"the new address costs ${self.price} once, counted in this month's costs and budget"
        ]
        if self.monthly is not None:
            cost.append(
                f"Hostwinds keeps {ip} on the server beside the new address: +${self.monthly} a month "
                "while the server holds it, counted in the costs, the budget and the spending limit"
            )
        return [
            f"{name} leaves {ip} for a new address from Hostwinds (about a minute; right after earlier "
            "changes Hostwinds may refuse silently, and the run then fails with the address kept)",
            "the new address starts the warm-up plan again at day 1: today's caps drop to day 1's",
            f"the A and SPF records of {self.server.mail_hostname} are republished for the new address; "
            "receivers that cached the old one use it until their cache lets go",
            *cost,
        ]


def switch_plan(scope: Scope, tenant: Tenant, server_id: int) -> SwitchPlan:
    """Refuses, with the reason, a server that cannot be switched; changes nothing."""
    server = fleet.server_of(scope, tenant, server_id)
    if server.provider_id is None:
        raise InvalidInput(
            f"{server.name} has no provider id: it is not a Hostwinds instance mailfleet knows, so it "
            "cannot get a new IP here"
        )
    if server.provider in FIXED_MAIN_IP:
        raise InvalidInput(f"{server.name} cannot get a new IP here: {FIXED_MAIN_IP[server.provider]}")
    if server.status != ServerStatus.ACTIVE:
        raise Conflict(f"{server.name} is {server.status}: only an active server can switch its IP")
    if not server.public_ipv4:
        raise Conflict(f"{server.name} has no main IPv4 yet")
    if not server.mail_hostname:
        raise Conflict(f"{server.name} has no mail host name to give the new address as its PTR")
    index = fleet.ordered_index(server, tenant, "change its IP at its provider")
    last = last_change(server)
    price, monthly = (current_app.config.get(f"MAILFLEET_PRICE_{n}_IP") for n in ("NEW", "EXTRA"))
    return SwitchPlan(
        server,
        index,
        last,
        cooldown_until(last),
        None if price is None else Decimal(str(price)),
        None if monthly is None else Decimal(str(monthly)),
    )


def last_change(server: Server) -> IpChange | None:
    stmt = select(IpChange).where(IpChange.server_id == server.id).order_by(IpChange.id.desc()).limit(1)
    return db.session.execute(stmt).scalar_one_or_none()


def cooldown_until(last: IpChange | None, now: datetime | None = None) -> datetime | None:
    """The end of the cooldown after the address change `last`, or None when none holds at `now`."""
    hours = current_app.config["MAILFLEET_IP_SWITCH_COOLDOWN_HOURS"]
    if last is None or not hours:
        return None
    until = last.changed_at + timedelta(hours=hours)
    return until if until > (now or utcnow()) else None


def switch_ip(
    scope: Scope,
    tenant: Tenant,
    server_id: int,
    confirmation: str | None,
    submission_key: str | None = None,
    *,
    override_cooldown: bool = False,
) -> Run:
    """Queue playbooks/switch_ip.yml after the checks of :func:`switch_plan`, the cooldown (which
    only an administrator may override, on the record) and the typed name."""
    from webapp.services.lifecycle import confirm  # lifecycle notes finished switches through here

    if (earlier := runs.find_submission(tenant, submission_key, PLAYBOOK)) is not None:
        return earlier
    found = switch_plan(scope, tenant, server_id)
    if found.cooldown is not None:
        if not override_cooldown:
            administrators = " An administrator may override it." if not scope.is_admin else (
                " As an administrator you may override it (recorded with the run)."
            )
            raise Conflict(found.cooldown + "." + administrators)
        if not scope.is_admin:
            raise Forbidden("only administrators may override the cooldown between IP switches")
    confirm(confirmation, found.server.name, found.lost)
    busy = db.session.scalar(
        select(Run.id).where(
            Run.tenant_id == tenant.id, Run.catalogue_key == PLAYBOOK, Run.status.not_in(FINISHED_STATUSES)
        )
    )
    if busy is not None:
        raise Conflict(f"run {busy} is already switching an IP of {tenant.slug}: wait for it to finish")
    costs.check_change(tenant, found.monthly or Decimal(0), utcnow(), once=found.price or Decimal(0))
    extravars = {
        **fleet.server_vars(tenant, found.server.provider, found.index),
        "switch_ip_from": found.server.public_ipv4,
        "mail_hostname": found.server.mail_hostname,
    }
    if found.cooldown_until is not None:
        extravars[OVERRIDE] = found.cooldown_until.strftime("%Y-%m-%dT%H:%M:%SZ")
    if found.price is not None:  # the run records what the confirmation said
        extravars["switch_ip_price"] = str(found.price)
    if found.monthly is not None:
        extravars["switch_ip_monthly_change"] = str(found.monthly)
    run = runs.submit_run(scope, tenant, PLAYBOOK, submission_key=submission_key, extravars=extravars)
    if found.cooldown_until is not None:
        log.warning(
            "run %s: user %s overrode the IP switch cooldown of %s (until %s)",
            run.id, scope.user.id, found.server.name, extravars[OVERRIDE],
        )
    return run


def history(server: Server) -> list[IpChange]:
    stmt = select(IpChange).where(IpChange.server_id == server.id).order_by(IpChange.changed_at, IpChange.id)
    return list(db.session.execute(stmt).scalars())


def moved_to(server: Server, old: str, new: str, run: Run | None = None) -> bool:
    """The server's main IP is now `new`: record the change once, retire the old address's health
    checks, restart its warm-up plan on the cold address (which pushes the caps) and queue the
    `domain` run that reconverges it there and republishes its A and SPF records. False when this
    change was recorded already."""
    server.public_ipv4 = new
    last = last_change(server)
    if last is not None and (last.old_ip, last.new_ip) == (old, new):
        if run is not None and last.run_id is None:
            last.run_id = run.id
        db.session.commit()
        return False
    db.session.add(IpChange(server_id=server.id, old_ip=old, new_ip=new, run_id=run.id if run else None))
    db.session.commit()
    health.retire_address(server, old, f"{server.name} left {old} for {new}")
    warmup.restart_for_new_ip(server)
    if server.tenant is not None and server.status == ServerStatus.ACTIVE:
        fleet.publish_domains(Scope.system(), server.tenant, server)
    return True


def note_switched(run: Run) -> None:
    """After a successful switch: the provider's new address, through :func:`moved_to`."""
    extravars = run.extravars or {}
    if run.status != RunStatus.SUCCESSFUL or not extravars.get("server_index"):
        return
    name = build_srvrname(run.tenant.slug, int(extravars["server_index"]))
    server = db.session.scalar(select(Server).where(Server.tenant_id == run.tenant_id, Server.name == name))
    if server is None or server.provider_id is None:
        return
    try:
        record = provider_client(server.provider).server(server.provider_id)
    except (ProviderError, SecretsError) as exc:
        # The inventory refresh sees the new address within minutes and does the same.
        log.warning("run %s: the new address of %s not read: %s", run.id, name, exc)
        return
    new, old = record["public_ipv4"], str(extravars.get("switch_ip_from") or "")
    server.extra_ipv4 = int(record.get("extra_ipv4") or 0)  # the old address, kept beside the new
    db.session.commit()
    if new and new != old:
        moved_to(server, old, str(new), run)
