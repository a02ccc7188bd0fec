"""Fleet rollouts: one catalogue playbook (``Playbook.rollout``) across the active servers of many
tenants, administrators only. Each server gets a run of its own (its tenant's, limited to it), so
every run goes through the same admission as any other (its server's lock, the tenant's and the
fleet's limits). At most ``in_flight`` of them are unfinished at a time; once more than
``failure_threshold`` percent of all its servers failed, the rollout stops: no new run starts and
its runs that have not started yet are canceled.

A step (``advance``) follows each of its runs' end (the worker calls ``note_run_finished``) and
every reaper pass (runs failed as lost, canceled, or left by a Redis outage).
"""

from __future__ import annotations

import logging
import math
import re

from sqlalchemy import select, update

from mailfleet.clock import utcnow
from webapp import playbooks
from webapp.errors import Conflict, InvalidInput, NotFound
from webapp.extensions import db, rows_changed
from webapp.models import (
    Rollout,
    RolloutStatus,
    RolloutTarget,
    Run,
    RunStatus,
    Server,
    ServerStatus,
    Tenant,
)
from webapp.services import runs
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 1000
_SHARE = re.compile(r"^\s*(\d{1,4})\s*(%?)\s*$")


def in_flight_for(share: str, servers: int) -> tuple[str, int]:
    """The share as stored ("25%", "3") and how many runs it allows at once: that share of the
    servers (at least one), or a count."""
    match = _SHARE.match(share or "")
    if match is None:
        raise InvalidInput(f"share in flight must be a percentage (25%) or a count (3), not {share!r}")
    value, percent = int(match[1]), bool(match[2])
    if percent and not 1 <= value <= 100:
        raise InvalidInput(f"share in flight must be from 1% to 100%, not {value}%")
    if not percent and not 1 <= value <= MAX_IN_FLIGHT:
        raise InvalidInput(f"share in flight must be from 1 to {MAX_IN_FLIGHT} runs, not {value}")
    if percent:
        return f"{value}%", max(1, math.ceil(servers * value / 100))
    return str(value), value


def check_threshold(threshold: int) -> int:
    if not 0 <= threshold <= 100:
        raise InvalidInput(
            "failure threshold must be from 0 % (stop at the first failure) to 100 % (never stop),"
            f" not {threshold} %"
        )
    return threshold


def offered() -> list[playbooks.Playbook]:
    return [p for p in playbooks.CATALOGUE.values() if p.rollout]


def start_rollout(
    scope: Scope,
    playbook_key: str,
    share: str,
    failure_threshold: int,
    tenant_slugs: list[str] | None = None,
) -> Rollout:
    """Every active server of the given tenants (all tenants when none are given), in order of
    tenant and name; the first runs are submitted at once."""
    scope.require_admin()
    playbook = playbooks.by_key(playbook_key)
    if playbook is None or not playbook.rollout:
        raise InvalidInput(
            f"{playbook_key!r} cannot be rolled out; one of: {', '.join(p.key for p in offered())}"
        )
    check_threshold(failure_threshold)
    stmt = (
        select(Server)
        .join(Tenant, Tenant.id == Server.tenant_id)
        .where(Server.status == ServerStatus.ACTIVE, Server.drill_of_id.is_(None))
        .order_by(Tenant.slug, Server.name)
    )
    if tenant_slugs:
        known = set(db.session.scalars(select(Tenant.slug).where(Tenant.slug.in_(tenant_slugs))))
        if unknown := sorted(set(tenant_slugs) - known):
            raise InvalidInput(f"no such tenant: {', '.join(unknown)}")
        stmt = stmt.where(Tenant.slug.in_(tenant_slugs))
    servers = list(db.session.scalars(stmt))
    if not servers:
        raise InvalidInput("no active server to roll out to")
    share, in_flight = in_flight_for(share, len(servers))
    rollout = Rollout(
        catalogue_key=playbook.key,
        share=share,
        in_flight=in_flight,
        failure_threshold=failure_threshold,
        created_by_id=scope.user.id,
        targets=[
            RolloutTarget(position=i, server_id=s.id, tenant_id=s.tenant_id) for i, s in enumerate(servers)
        ],
    )
    db.session.add(rollout)
    db.session.commit()
    advance(rollout.id)
    return rollout


def get_rollout(scope: Scope, rollout_id: int) -> Rollout:
    """Administrators' only: to anyone else no rollout exists."""
    rollout = db.session.get(Rollout, rollout_id) if scope.is_admin else None
    if rollout is None:
        raise NotFound(f"rollout {rollout_id} not found")
    return rollout


def list_rollouts(scope: Scope, limit: int = 100) -> list[Rollout]:
    if not scope.is_admin:
        return []
    return list(db.session.scalars(select(Rollout).order_by(Rollout.id.desc()).limit(limit)))


def stop_rollout(scope: Scope, rollout_id: int) -> Rollout:
    rollout = get_rollout(scope, rollout_id)
    if rollout.status.finished:
        raise Conflict(f"rollout {rollout.id} already {rollout.status}")
    if _take_turn(rollout.id):
        _stop(rollout, f"stopped by {scope.actor}")
    db.session.refresh(rollout)
    return rollout


def progress(rollout: Rollout) -> dict[str, int]:
    """Servers by where they are: waiting for their turn, in flight, and each finished status."""
    counts = {"pending": 0, "in_flight": 0, **{s.value: 0 for s in RunStatus if s.finished}}
    for target in rollout.targets:
        if target.run is None:
            counts["pending"] += 1
        elif target.run.status.finished:
            counts[target.run.status.value] += 1
        else:
            counts["in_flight"] += 1
    return counts


def note_run_finished(run_id: int) -> None:
    """The next step of the rollout this run belongs to, if any (called by the worker)."""
    rollout_id = db.session.scalar(select(RolloutTarget.rollout_id).where(RolloutTarget.run_id == run_id))
    if rollout_id is not None:
        advance(rollout_id)


def advance_all() -> int:
    """A step of every running rollout (the reaper's backstop); how many there were."""
    running = list(db.session.scalars(select(Rollout.id).where(Rollout.status == RolloutStatus.RUNNING)))
    for rollout_id in running:
        advance(rollout_id)
    return len(running)


def _take_turn(rollout_id: int) -> bool:
    """Bump the running rollout's revision: the row stays locked (the database, on SQLite) until
    the step commits, so two steps never count the same free places. False once it finished."""
    taken = rows_changed(
        update(Rollout)
        .where(Rollout.id == rollout_id, Rollout.status == RolloutStatus.RUNNING)
        .values(revision=Rollout.revision + 1)
    )
    if not taken:
        db.session.rollback()
    return bool(taken)


def advance(rollout_id: int) -> None:
    """Stop the rollout if its failures passed the threshold, complete it once every run ended,
    else submit runs for the next servers up to its share in flight."""
    if not _take_turn(rollout_id):
        return
    db.session.expire_all()  # count what other workers committed, not what this session saw
    rollout = db.session.get_one(Rollout, rollout_id)
    counts = progress(rollout)
    total = len(rollout.targets)
    if counts[RunStatus.FAILED] * 100 > rollout.failure_threshold * total:
        _stop(
            rollout,
            f"{counts[RunStatus.FAILED]} of {total} servers failed, over the threshold of "
            f"{rollout.failure_threshold} %",
        )
        return
    if counts["pending"] == 0 and counts["in_flight"] == 0:
        rollout.status, rollout.finished_at = RolloutStatus.COMPLETED, utcnow()
        db.session.commit()
        return
    free = rollout.in_flight - counts["in_flight"]
    scope = Scope(rollout.created_by)
    submitted: list[Run] = []
    for target in [t for t in rollout.targets if t.run is None][: max(0, free)]:
        target.run = runs.new_run(scope, target.tenant, rollout.catalogue_key, limit=target.server.name)
        submitted.append(target.run)
    db.session.commit()
    for run in submitted:
        runs.enqueue_or_leave_for_reconcile(run)


def _stop(rollout: Rollout, reason: str) -> None:
    """No new run; its runs that have not started yet are canceled (the running ones finish)."""
    rollout.status, rollout.stop_reason, rollout.finished_at = RolloutStatus.STOPPED, reason, utcnow()
    db.session.commit()
    for target in rollout.targets:
        if target.run is not None and target.run.status in (RunStatus.QUEUED, RunStatus.WAITING):
            runs.cancel_run(Scope.system(), target.run.id)
    log.info("rollout %s stopped: %s", rollout.id, reason)
