"""Restore drills on a throwaway server: does a fresh machine come back from a server's backup?

The scratch drill (playbooks/backup_drill.yml) restores into a directory of the server itself: it
proves the repository. A drill on a throwaway server (MAILFLEET_BACKUP_DRILL_TARGET=host, or
:func:`start_drill`) goes the way a disaster recovery goes (webapp.services.recovery), with another
end: every step is a run of its own, submitted when the one before finished, from the hook that
follows every finished run (``lifecycle.note_run_finished``):

1. ``drill_provision`` (provision.yml): a throwaway server ``drill-<tenant>-<n>`` (never a
   ``mf-<tenant>-<n>`` name: no tenant group, index or limit takes it for a mail server) in the
   source server's location (or the provider's first when it no longer sells there), on the
   provider's cheapest plan, its PTR a ``.invalid`` name;
2. ``drill_restore`` (restore.yml): the source server's latest snapshot restored there;
3. ``drill_check`` (restore_check.yml): the throwaway server's data is that snapshot's (every file
   and size, a sample of checksums read back from the repository, Mailu's database whole);
4. ``drill_teardown`` (deprovision.yml): the throwaway server deleted at its provider, always: after
   the check, and after whichever step failed (a provisioning that failed may still have left a
   server behind), so no forgotten server bills the tenant.

DNS is never touched (no domain, no mail host record, no DNS switch) and the source server is only
read (a local repository over SFTP). The throwaway server counts in none of the tenant's limits, no
health check sweeps it, and only the drill's runs reach it (jobs.inventory: a run must name it).

A drill is read back from its runs (:func:`drills`): passed (the check succeeded), failed (a step
failed) or running; its recovery point (how old the restored snapshot was when the drill began) and
its time to a checked restore; whether the throwaway server is gone. The latest drill of a server
that ended, failed, or never finished within UNFINISHED_AFTER is its health check ``backup:drill``
(:func:`drill_results`) when it is newer than the server's own scratch drill, so a failed drill
alerts through the alert engine like any check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from mailfleet.clock import utcnow
from mailfleet.hostwinds import next_drill_name
from mailfleet.monitoring import CheckResult, Status
from webapp.errors import Conflict, InvalidInput, NotFound
from webapp.extensions import db
from webapp.models import Run, RunStatus, Server, ServerBackup, ServerStatus, Tenant
from webapp.services import backups, fleet, provider, recovery, runs
from webapp.services.actions import tenant_server
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

#: Every step's catalogue key, in order, with what it does.
STEPS = (
    ("drill_provision", "order of the throwaway server"),
    ("drill_restore", "restore of the latest snapshot"),
    ("drill_check", "check of the restored data"),
    ("drill_teardown", "deletion of the throwaway server"),
)
PROVISION, RESTORE, CHECK, TEARDOWN = (key for key, _ in STEPS)
STEP_KEYS = frozenset(key for key, _ in STEPS)
#: A drill not ended this long after it began failed: a step was lost on the way.
UNFINISHED_AFTER = timedelta(hours=12)
#: The health check a drill's outcome reaches (the scratch drill's, read from the server's facts).
CHECK_NAME = "backup:drill"
#: The top-level domain of a throwaway server's PTR: reserved, it resolves nowhere (RFC 2606).
_NOWHERE = "invalid"


# ---------------------------------------------------------------------------------- starting one
def start_drill(scope: Scope, tenant: Tenant, server_id: int) -> Run:
    """Order the throwaway server of a drill of the tenant's server `server_id`; the rest follows
    run by run. Refuses, with the reason and nothing changed: another tenant's server (by name; one
    the caller cannot see answers NotFound), a throwaway server itself, a server not active, one
    with no snapshot known, one whose drill is under way."""
    source = tenant_server(scope, tenant, server_id)
    if source.drill_of_id is not None:
        raise InvalidInput(
            f"{source.name} is a restore drill's throwaway server: drill the server it restores"
        )
    if source.status != ServerStatus.ACTIVE:
        raise Conflict(f"{source.name} is {source.status}: only an active server's backups are drilled")
    if backups.check_restore_point(source, None) is None:
        raise InvalidInput(f"{source.name} has no backup snapshot yet")
    if (under_way := _under_way(source)) is not None:
        raise Conflict(f"a restore drill of {source.name} is under way (run {under_way.id})")
    offers = provider.offers(source.provider)
    location = source.location if source.location in offers.locations else offers.locations[0]
    plan = min(offers.plans, key=lambda p: (p.monthly is None, p.monthly or 0))
    name = next_drill_name(tenant.slug, list(db.session.scalars(select(Server.name))))
    db.session.add(
        Server(
            tenant_id=tenant.id,
            name=name,
            provider=offers.provider,
            location=location,
            plan=plan.id,
            monthly_price=plan.monthly,
            status=ServerStatus.REQUESTED,
            drill_of_id=source.id,
        )
    )
    return runs.submit_run(
        scope,
        tenant,
        PROVISION,
        extravars={
            **fleet.server_vars(tenant, offers.provider, _index(name)),
            "server_location": location,
            "server_plan": plan.id,
            "server_name": name,
            "mail_hostname": f"{name}.{_NOWHERE}",
            "drill_of_host": source.name,
        },
    )


def _index(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def _under_way(source: Server) -> Run | None:
    """The first run of the source server's drill that has not ended (its server not deleted yet),
    unless that drill is past UNFINISHED_AFTER (its health check says so; a new drill may start)."""
    now = utcnow()
    for drill in drills_of(source.tenant, [source.name], since=now - UNFINISHED_AFTER):
        if drill.ended_at is None:
            return drill.first
    return None


# ----------------------------------------------------------------------------- one step after another
def note_run_finished(run: Run) -> None:
    """The next step of the drill this run belongs to (called through ``lifecycle.note_run_finished``):
    the next one after a success, the teardown after the check or any failure."""
    extravars = run.extravars or {}
    if run.catalogue_key == TEARDOWN:
        _note_teardown(run, str(extravars.get("server_name") or ""))
        return
    host = str(extravars.get("server_name") or "") if run.catalogue_key == PROVISION else str(run.limit or "")
    source = str(extravars.get("drill_of_host") or extravars.get("restore_from_host") or "")
    if run.status != RunStatus.SUCCESSFUL or run.catalogue_key == CHECK:
        if run.status != RunStatus.SUCCESSFUL:
            log.warning(
                "drill step %s (run %s) %s: %s is deleted", run.catalogue_key, run.id, run.status, host
            )
        _teardown(run, host)
    elif run.catalogue_key == PROVISION:
        _submit(run, RESTORE, host, {"restore_from_host": source})
    elif (snapshot := recovery.restored_snapshot(run)) is None:
        log.warning("drill run %s restored no snapshot it reported: %s is deleted", run.id, host)
        _teardown(run, host)
    else:
        _submit(run, CHECK, host, {"restore_snapshot_id": snapshot, "restore_from_host": source})


def _teardown(after: Run, host: str) -> None:
    server = _server(after.tenant, host)
    if server is None or server.drill_of_id is None:
        log.error("drill run %s names %r, not a drill's throwaway server: nothing deleted", after.id, host)
        return
    server.status = ServerStatus.DEPROVISIONING
    source = db.session.get(Server, server.drill_of_id)
    extravars = {
        **fleet.server_vars(after.tenant, server.provider, _index(server.name)),
        "server_name": server.name,
        "deprovision_dns_host": False,  # it has no records; no domain is named either
        # Its backup key, authorized on the source server to read the repository, goes with it.
        **({"deprovision_revoke_backup_key_on": source.name} if source is not None else {}),
    }
    _submit(after, TEARDOWN, None, extravars)


def _note_teardown(run: Run, host: str) -> None:
    server = _server(run.tenant, host)
    if server is None or server.drill_of_id is None:
        return
    if run.status == RunStatus.SUCCESSFUL:
        fleet.mark_gone(server, f"{server.name} was deleted after its restore drill (run {run.id})")
    else:
        server.status = ServerStatus.ERROR
        log.error("drill run %s did not delete %s: retry the run", run.id, server.name)


def _server(tenant: Tenant, name: str) -> Server | None:
    return db.session.scalar(select(Server).where(Server.tenant_id == tenant.id, Server.name == name))


def _submit(after: Run, key: str, limit: str | None, extravars: dict[str, Any]) -> None:
    run = runs.submit_run(Scope.system(), after.tenant, key, extravars=extravars, limit=limit, follows=after)
    log.info("drill: run %s (%s on %s) follows run %s", run.id, key, limit or "the provider", after.id)


# ------------------------------------------------------------------------------- a drill read back
@dataclass(frozen=True)
class Drill(backups.RecoveryFigures):
    """A drill as one chain of runs, from the run that ordered the throwaway server. Its recovery
    point (rpo) is how old the restored snapshot was when the drill began, its recovery time (rto)
    from the drill's start to the restored data checked on the throwaway server."""

    first: Run
    source: str
    host: str
    steps: tuple[recovery.Step, ...]
    snapshot_id: str | None
    snapshot_time: datetime | None

    def _run(self, key: str) -> Run | None:
        return next((step.run for step in self.steps if step.key == key), None)

    @property
    def failed_step(self) -> recovery.Step | None:
        """The step before the teardown that did not succeed (None: none did not)."""
        ended = [step for step in self.steps[:-1] if step.run is not None and step.run.status.finished]
        return next((step for step in ended if step.run and step.run.status != RunStatus.SUCCESSFUL), None)

    @property
    def status(self) -> str:
        """passed (the restored data checked out), failed (a step failed, or the drill ended without
        a check) or running."""
        check = self._run(CHECK)
        if check is not None and check.status == RunStatus.SUCCESSFUL:
            return "passed"
        if self.failed_step is not None or self._run(TEARDOWN) is not None:
            return "failed"
        return "running"

    @property
    def torn_down(self) -> bool:
        """The throwaway server was deleted."""
        teardown = self._run(TEARDOWN)
        return teardown is not None and teardown.status == RunStatus.SUCCESSFUL

    @property
    def ended_at(self) -> datetime | None:
        """When the teardown ended (the drill's end, whatever its outcome)."""
        teardown = self._run(TEARDOWN)
        return teardown.finished_at if teardown is not None and teardown.status.finished else None

    @property
    def checked_at(self) -> datetime | None:
        check = self._run(CHECK)
        return check.finished_at if check is not None and check.status == RunStatus.SUCCESSFUL else None

    @property
    def requested_at(self) -> datetime:
        return self.first.created_at

    @property
    def in_service_at(self) -> datetime | None:
        """The end of its recovery time: the restored data checked (the server never serves)."""
        return self.checked_at

    def unfinished(self, now: datetime) -> bool:
        """Not ended UNFINISHED_AFTER after it began: a step was lost, or the teardown never ran."""
        return self.ended_at is None and now - self.first.created_at > UNFINISHED_AFTER

    @property
    def problem(self) -> str | None:
        """What went wrong, in one line (None: nothing, so far)."""
        failed = self.failed_step
        if failed is not None and failed.run is not None:
            return f"the {failed.title} failed: {runs.failure_summary(failed.run)}"
        teardown = self._run(TEARDOWN)
        if self.status == "failed" and self._run(CHECK) is None and self._run(RESTORE) is not None:
            return "the restore reported no snapshot"
        if teardown is not None and teardown.status.finished and not self.torn_down:
            return (
                f"{self.host} was not deleted ({runs.failure_summary(teardown)}): retry run {teardown.id} "
                "or delete it at the provider"
            )
        return None


def drills(scope: Scope, tenant: Tenant, limit: int = backups.RESTORES_SHOWN) -> list[Drill]:
    """The tenant's latest drills on throwaway servers, newest first."""
    firsts = db.session.scalars(
        scope.select(Run)
        .where(Run.tenant_id == tenant.id, Run.catalogue_key == PROVISION, Run.retry_of_id.is_(None))
        .order_by(Run.id.desc())
        .limit(limit)
    )
    return [_read(first) for first in firsts]


def drill(scope: Scope, tenant: Tenant, run_id: int) -> Drill:
    """The drill that run `run_id` (its first run) began; NotFound for any other run."""
    first = scope.get(Run, run_id)
    if first.tenant_id != tenant.id or first.catalogue_key != PROVISION or first.retry_of_id is not None:
        raise NotFound(f"run {run_id} did not begin a restore drill of tenant {tenant.slug}")
    return _read(first)


def drills_of(tenant: Tenant | None, sources: Iterable[str], since: datetime | None) -> list[Drill]:
    """The drills of these servers (of `tenant`, else of any) begun since `since` (None: ever),
    newest first."""
    wanted = set(sources)
    return [_read(first) for first in _firsts(tenant, since) if _source_of(first) in wanted]


def _firsts(tenant: Tenant | None, since: datetime | None) -> list[Run]:
    """The first runs of the drills (of `tenant`, else of any) begun since `since`, newest first."""
    query = select(Run).where(Run.catalogue_key == PROVISION, Run.retry_of_id.is_(None))
    if tenant is not None:
        query = query.where(Run.tenant_id == tenant.id)
    if since is not None:
        query = query.where(Run.created_at >= since)
    return list(db.session.scalars(query.order_by(Run.id.desc())))


def _source_of(first: Run) -> str:
    return str((first.extravars or {}).get("drill_of_host") or "")


def _read(first: Run) -> Drill:
    chain = {run.catalogue_key: run for run in recovery.chain_of(first, len(STEPS))}
    steps = tuple(recovery.Step(key, title, chain.get(key)) for key, title in STEPS)
    restore = chain.get(RESTORE)
    extravars = first.extravars or {}
    reported = {}
    if restore is not None:
        reported = backups.restore_reports([restore.id]).get(restore.id, {}).get(str(restore.limit), {})
    return Drill(
        first=first,
        source=_source_of(first),
        host=str(extravars.get("server_name") or ""),
        steps=steps,
        snapshot_id=reported.get("snapshot_id"),
        snapshot_time=backups.maybe_time(reported.get("snapshot_time")),
    )


# ------------------------------------------------------------------------------ the health check
def drill_results(
    results: Sequence[CheckResult], names: Sequence[str], max_age: timedelta, now: datetime
) -> list[CheckResult]:
    """The sweep's results with each server's ``backup:drill`` taken from its latest drill on a
    throwaway server that ended (or never did), when that drill began after the server's own last
    scratch drill: failed or unfinished is an error, passed is ok (a warning once older than
    `max_age`)."""
    latest: dict[str, Drill] = {}
    wanted = set(names)
    # Newest first, a server's drills are read only until one of them ended (or never will).
    for first in _firsts(None, since=now - 2 * max_age):
        if _source_of(first) not in wanted or _source_of(first) in latest:
            continue
        drill = _read(first)
        if drill.ended_at is not None or drill.unfinished(now):
            latest[drill.source] = drill
    if not latest:
        return list(results)
    scratch = _scratch_drill_times(latest)
    replaced = {}
    for name, drill in latest.items():
        scratch_at = scratch.get(name)
        if scratch_at is None or drill.first.created_at >= scratch_at:
            replaced[name] = _result(name, drill, max_age, now)
    kept = [r for r in results if not (r.check == CHECK_NAME and r.server in replaced)]
    return kept + list(replaced.values())


def _scratch_drill_times(latest: dict[str, Drill]) -> dict[str, datetime | None]:
    """When each server's own scratch drill last ran, as its host reported (None: never)."""
    rows = db.session.execute(
        select(Server.name, ServerBackup.status)
        .join(ServerBackup, ServerBackup.server_id == Server.id)
        .where(Server.name.in_(list(latest)))
    ).tuples()
    return {name: backups.maybe_time(((status or {}).get("drill") or {}).get("at")) for name, status in rows}


def _result(name: str, drill: Drill, max_age: timedelta, now: datetime) -> CheckResult:
    began = f"{drill.first.created_at:%Y-%m-%d %H:%M} UTC"
    if drill.unfinished(now):
        hours = int(UNFINISHED_AFTER.total_seconds() // 3600)
        detail = (
            f"the restore drill on {drill.host} begun {began} (run {drill.first.id}) has not ended in "
            f"{hours} h; check that {drill.host} is deleted"
        )
        return CheckResult(name, CHECK_NAME, Status.ERROR, None, detail, now)
    if drill.status != "passed" or not drill.torn_down:
        detail = (
            f"the restore drill on {drill.host} begun {began} (run {drill.first.id}) failed: {drill.problem}"
        )
        return CheckResult(name, CHECK_NAME, Status.ERROR, None, detail, now)
    assert drill.checked_at is not None and drill.rto is not None  # a passed drill's
    days = round((now - drill.checked_at).total_seconds() / 86400, 1)
    rpo = f", snapshot {int(drill.rpo.total_seconds() // 60)} min old" if drill.rpo is not None else ""
    detail = (
        f"restore drill on a throwaway server passed {days} d ago: restored and checked in "
        f"{int(drill.rto.total_seconds())} s{rpo}"
    )
    status = Status.WARNING if now - drill.checked_at > max_age else Status.OK
    return CheckResult(name, CHECK_NAME, status, days, detail, now)
