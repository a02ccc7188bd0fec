"""Operations a person starts on a tenant's servers: back up now, restore, rotate the keys.

Each is a run of its catalogue playbook, built here from validated choices only: the target is one
of the tenant's own servers (the run's limit), a restore's source is another of the tenant's
servers and its point in time a UTC timestamp; the rotations address every server of the tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from mailfleet.clock import utcnow
from webapp.errors import InvalidInput, NotFound
from webapp.extensions import db
from webapp.models import Run, Server, ServerStatus, Tenant
from webapp.services import backups, runs
from webapp.services.scope import Scope

#: How restore.yml reads a point in time (UTC).
RESTORE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# The inventory group of a run's servers (jobs.inventory): the rotation playbooks' host pattern.
SERVERS_GROUP = "mailfleet_servers"


@dataclass(frozen=True)
class Action:
    key: str  # also its playbook's catalogue key
    title: str
    what_happens: str  # the confirmation says this before anything starts
    per_server: bool


ACTIONS: dict[str, Action] = {
    a.key: a
    for a in (
        Action(
            "backup",
            "Back up now",
            "Runs the server's backup (a restic snapshot of Mailu's data, then retention) and waits for it.",
            per_server=True,
        ),
        Action(
            "restore",
            "Restore from backup",
            "Replaces Mailu's data on the server with a snapshot: the latest one, or the latest taken at "
            "or before the time you give, of this server or of another of the tenant's servers. "
            "Mailu is stopped during the swap; mail received since the snapshot is lost.",
            per_server=True,
        ),
        Action(
            "rotate_ssh_key",
            "Rotate the SSH key",
            "Makes a new SSH key, authorizes it on every server of the tenant, logs in with it, and only "
            "then removes the old one. A failure on any server stops before the old key is removed.",
            per_server=False,
        ),
        Action(
            "rotate_mailu_token",
            "Rotate the Mailu API token",
            "Makes a new Mailu API token, puts it on every server of the tenant and recreates Mailu's "
            "admin container (mail keeps flowing); the new token is kept once Mailu accepts it.",
            per_server=False,
        ),
    )
}


def action(key: str) -> Action:
    found = ACTIONS.get(key)
    if found is None:
        raise NotFound(f"no action {key!r}")
    return found


def tenant_server(scope: Scope, tenant: Tenant, server_id: int) -> Server:
    """One of this tenant's servers. One the caller cannot see answers NotFound, as one that does
    not exist (Scope.get); another tenant's that the caller sees (only an administrator sees two
    tenants) is refused by name: a tenant's backups never go onto another tenant's server, nor
    come from one."""
    server = scope.get(Server, server_id)
    if server.tenant_id != tenant.id:
        owner = server.tenant.slug if server.tenant else "no tenant"
        raise InvalidInput(
            f"{server.name} is a server of {owner}, not of {tenant.slug}: backups are restored, and "
            "servers recovered, only within one tenant"
        )
    return server


def restore_time(value: str | None) -> str:
    """'' (the latest snapshot) or a past UTC time as restore.yml reads it; also takes a browser's
    datetime-local value (2026-11-25T14:00)."""
    value = (value or "").strip()
    if not value:
        return ""
    for layout in (RESTORE_TIME_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"):
        try:
            moment = datetime.strptime(value, layout).replace(tzinfo=UTC)
            break
        except ValueError:
            continue
    else:
        raise InvalidInput("the restore time must be 'YYYY-MM-DD HH:MM:SS' (UTC) or empty for the latest")
    if moment > utcnow():
        raise InvalidInput("the restore time is in the future; leave it empty for the latest snapshot")
    return moment.strftime(RESTORE_TIME_FORMAT)


def checked_restore_time(source: Server, value: str | None) -> str:
    """:func:`restore_time` of `value`, once `source`'s known snapshots hold one at or before it
    (backups.check_restore_point; InvalidInput otherwise)."""
    before = restore_time(value)
    backups.check_restore_point(
        source, datetime.strptime(before, RESTORE_TIME_FORMAT).replace(tzinfo=UTC) if before else None
    )
    return before


def start_action(
    scope: Scope,
    tenant: Tenant,
    key: str,
    *,
    server_id: int | None = None,
    restore_before: str | None = None,
    source_server_id: int | None = None,
    submission_key: str | None = None,
) -> Run:
    """Check the choices, then submit the action's run. Bad input raises before anything is written."""
    chosen = action(key)
    if not scope.can_see_tenant(tenant.id):
        raise NotFound(f"tenant {tenant.slug!r} not found")
    if key != "restore" and (restore_before or source_server_id is not None):
        raise InvalidInput(f"{chosen.title} takes no restore time or source server")
    if (earlier := runs.find_submission(tenant, submission_key, key)) is not None:
        return earlier
    limit: str | None = None
    extravars: dict[str, str] = {}
    if chosen.per_server:
        if server_id is None:
            raise InvalidInput(f"{chosen.title}: pick one of the tenant's servers")
        target = tenant_server(scope, tenant, server_id)
        if target.status != ServerStatus.ACTIVE or not target.public_ipv4:
            raise InvalidInput(f"{target.name} is {target.status}; only an active server can be used")
        limit = target.name
        if key == "restore":
            source = target if source_server_id is None else tenant_server(scope, tenant, source_server_id)
            before = checked_restore_time(source, restore_before)
            # No restore_before for the latest: restore.yml's default (an empty extra var fails its
            # input check under ansible-core 2.19).
            extravars = {"restore_from_host": source.name, **({"restore_before": before} if before else {})}
    else:
        active = db.session.execute(
            select(Server.id).where(Server.tenant_id == tenant.id, Server.status == ServerStatus.ACTIVE)
        ).first()
        if active is None:
            raise InvalidInput(f"{chosen.title}: the tenant has no active server")
        # rotate_ssh_key_hosts / rotate_mailu_token_hosts: the playbooks' host pattern (their default,
        # a tenant_<slug> group, is an engineer inventory's; a run's inventory has SERVERS_GROUP).
        extravars = {"tenant": tenant.slug, f"{key}_hosts": SERVERS_GROUP}
    return runs.submit_run(
        scope, tenant, key, extravars=extravars, limit=limit, submission_key=submission_key
    )
