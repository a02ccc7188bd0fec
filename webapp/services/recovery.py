"""Disaster recovery: a lost server's mail brought back on a new server, and DNS moved there only once
the restored data checked out.

One confirmed request (:func:`start_recovery`) orders the new server; every step is a run of its
own, and the next one is submitted when the previous one succeeded, from the hook that follows every
finished run (``lifecycle.note_run_finished``, as for provisioning, IP switches and removals):

1. ``provision``: a new server in the chosen location, with the lost server's mail host name (its
   run's ``recover_from_host`` names the lost server);
2. ``recover`` (restore.yml): the lost server's latest snapshot, or the latest taken at or before the
   point in time asked for, restored onto the new one from the tenant's backup repository (SFTP to
   another host, or S3; a local repository is read over SFTP from the lost server, which then must
   still answer SSH: a move rather than a disaster);
3. ``restore_check`` (restore_check.yml): the new server's live data is that snapshot's;
4. the switch: the lost server's domains move to the new server, the lost server is set aside (in
   error, its alerts resolved: no run addresses it any more; its host is left as it is until an
   admin deprovisions it), and the ``domain`` run converges the new server and publishes its
   records, the mail host's A record now with the new address (MX, SPF and DKIM keep their names
   and keys).

A failed step ends the recovery there: DNS still points at the lost server, which nothing changed.
Each step's run records the run it follows (``Run.follows_id``; a retry of a step takes its place),
so a recovery is read back as one chain (:func:`recovery`, :func:`recoveries`) with its recovery
point (how old the restored data was at the click) and recovery time (from the click to the new
server serving the domains).

The replacement takes the lost server's place in the tenant's limits (``quotas.check_order``), so
a tenant at its server or spending limit can recover; the lost server counts again for any other
order until it is deprovisioned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from mailfleet.backupregions import BackupRegionsError
from mailfleet.hostwinds import build_srvrname
from webapp.errors import Conflict, InvalidInput, NotFound
from webapp.extensions import db
from webapp.models import Run, RunStatus, Server, ServerStatus, Tenant
from webapp.services import backupregions, backups, fleet, health, runs
from webapp.services.actions import checked_restore_time, tenant_server
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

#: The catalogue keys of the steps after provisioning, in order.
RESTORE_STEP, CHECK_STEP = "recover", "restore_check"
#: Every step's catalogue key, in order, with what it does.
STEPS = (
    ("provision", "new server ordered"),
    (RESTORE_STEP, "snapshot restored"),
    (CHECK_STEP, "restored data checked"),
    ("domain", "DNS switched, domains served"),
)
#: A server in these states cannot be recovered from (there is nothing left, or it is going).
_GONE = (ServerStatus.GONE, ServerStatus.DEPROVISIONING)


def start_recovery(
    scope: Scope,
    tenant: Tenant,
    lost_server_id: int | None,
    location: str | None,
    plan: str,
    submission_key: str | None = None,
    *,
    region: str | None = None,
    restore_before: str | None = None,
    from_copy: bool = False,
    confirmed: bool,
) -> Run:
    """Order the new server that replaces the lost one; the rest follows run by run. The restore
    takes the lost server's latest snapshot, or with `restore_before` (UTC, as the restore page
    takes it) the latest taken at or before that time. Refuses, with the reason and nothing changed:
    no lost server or no confirmation, another tenant's server, one without a mail host name or a
    snapshot (at or before the time asked for), a malformed or future time, a location or plan the
    provider does not offer, an order over the tenant's limits (the lost server's place excepted),
    a submission key another kind of request used, a restore from the copy for a server whose
    backups have no copy in another region. With `from_copy` the restore reads the lost server's
    copy (its second repository, in another region): the way back when its own region is lost.
    The web's recovery page and the API both come here."""
    if (earlier := runs.find_submission(tenant, submission_key, "provision", recovery=True)) is not None:
        return earlier
    if lost_server_id is None:
        raise InvalidInput("Pick the lost server.")
    if not confirmed:
        raise InvalidInput("Confirm that a new server is ordered and DNS moves to it.")
    lost = tenant_server(scope, tenant, lost_server_id)
    if lost.status in _GONE:
        raise Conflict(
            f"{lost.name} is {lost.status}: its backups can be restored onto a server with Restore"
        )
    if not lost.mail_hostname:
        raise InvalidInput(f"{lost.name} has no mail host name for the new server to take over")
    before = checked_restore_time(lost, restore_before)
    if from_copy:
        try:
            found = backupregions.placement(lost, backupregions.storages())
        except BackupRegionsError as exc:
            raise InvalidInput(f"backup storage configuration: {exc}") from None
        if found.storage is None:
            raise InvalidInput(f"{lost.name} has no backup copy in another region: {found.reason}")
    return fleet.provision_server(
        scope,
        tenant,
        location,
        plan,
        lost.mail_hostname,
        submission_key,
        region=region,
        replacing=lost,
        recover_before=before,
        recover_from_copy=from_copy,
    )


def note_run_finished(run: Run) -> None:
    """The next step of the recovery this run belongs to, once it succeeded (called through
    ``lifecycle.note_run_finished``)."""
    extravars = run.extravars or {}
    if run.status != RunStatus.SUCCESSFUL:
        if run.catalogue_key in (RESTORE_STEP, CHECK_STEP) or extravars.get("recover_from_host"):
            log.warning(
                "recovery step %s (run %s) %s: DNS stays with the lost server",
                run.catalogue_key,
                run.id,
                run.status,
            )
        return
    lost = str(extravars.get("recover_from_host") or extravars.get("restore_from_host") or "")
    if run.catalogue_key == "provision" and extravars.get("recover_from_host"):
        new = _server(run.tenant, build_srvrname(run.tenant.slug, int(extravars["server_index"])))
        if new is not None:
            before = extravars.get("recover_before")
            # No restore_before for the latest: restore.yml's default (an empty one fails its check).
            _submit(
                run,
                RESTORE_STEP,
                new.name,
                {
                    "restore_from_host": lost,
                    **({"restore_before": before} if before else {}),
                    **({"restore_from_copy": True} if extravars.get("recover_from_copy") else {}),
                },
            )
    elif run.catalogue_key == RESTORE_STEP:
        restored = restored_snapshot(run)
        if restored is None:
            log.warning("run %s restored no snapshot it reported: no check, no DNS switch", run.id)
            return
        _submit(
            run,
            CHECK_STEP,
            run.limit,
            {"restore_snapshot_id": restored, "restore_from_host": lost},
        )
    elif run.catalogue_key == CHECK_STEP:
        switch_to(run.tenant, lost, str(run.limit or ""), run)


def restored_snapshot(run: Run) -> str | None:
    """The id of the snapshot a restore run reported (restore.yml's set_stats) for its host."""
    snapshot = _reported(run).get("snapshot_id")
    return str(snapshot) if snapshot else None


def _reported(run: Run) -> dict[str, Any]:
    return backups.restore_reports([run.id]).get(run.id, {}).get(str(run.limit), {})


def switch_to(tenant: Tenant, lost_name: str, new_name: str, run: Run | None = None) -> Run | None:
    """The new server takes over: the lost server's domains, then the run that publishes their
    records from the new server. None when either server is not the tenant's any more."""
    lost, new = _server(tenant, lost_name), _server(tenant, new_name)
    if lost is None or new is None or lost.id == new.id:
        log.warning("recovery of %s onto %s: a server is missing; DNS not switched", lost_name, new_name)
        return None
    for domain in list(lost.domains):
        domain.server_id = new.id
    lost.status = ServerStatus.ERROR
    db.session.commit()
    why = f"replaced by {new.name} after its backup was restored there and checked"
    health.retire(lost, f"{why} (run {run.id})" if run else why)
    db.session.refresh(new)
    return fleet.publish_domains(Scope.system(), tenant, new, follows=run)


def _server(tenant: Tenant, name: str) -> Server | None:
    return db.session.scalar(select(Server).where(Server.tenant_id == tenant.id, Server.name == name))


def _submit(after: Run, key: str, limit: str | None, extravars: dict[str, Any]) -> None:
    run = runs.submit_run(Scope.system(), after.tenant, key, extravars=extravars, limit=limit, follows=after)
    log.info("recovery: run %s (%s on %s) follows run %s", run.id, key, limit, after.id)


# ------------------------------------------------------------------------- a recovery read back
@dataclass(frozen=True)
class Step:
    key: str
    title: str
    run: Run | None  # None: not submitted (yet, or ever: a step before it failed)


@dataclass(frozen=True)
class Recovery(backups.RecoveryFigures):
    """A recovery as one chain of runs, from the provisioning run the person started."""

    first: Run
    lost_server: str
    new_server: str
    steps: tuple[Step, ...]
    snapshot_id: str | None
    snapshot_time: datetime | None

    @property
    def last_run(self) -> Run:
        """The run of the latest step submitted."""
        return next(step.run for step in reversed(self.steps) if step.run is not None)

    @property
    def status(self) -> str:
        """running, failed (a step did not succeed: DNS stays with the lost server) or successful."""
        last = self.last_run
        if last.status.finished and last.status != RunStatus.SUCCESSFUL:
            return "failed"
        return "successful" if self.in_service_at is not None else "running"

    @property
    def in_service_at(self) -> datetime | None:
        """When the new server served the domains: the end of the successful last step."""
        last = self.steps[-1].run
        return last.finished_at if last is not None and last.status == RunStatus.SUCCESSFUL else None

    @property
    def requested_at(self) -> datetime:
        return self.first.created_at

    def as_restore(self) -> backups.RestoreRecord:
        """This recovery as a row among the tenant's restores."""
        return backups.RestoreRecord(
            run=self.first,
            target=self.new_server,
            source=self.lost_server,
            snapshot_id=self.snapshot_id,
            snapshot_time=self.snapshot_time,
            status=self.status,
            finished_at=self.last_run.finished_at,
            in_service_at=self.in_service_at,
            kind="recovery",
        )


def recovery(scope: Scope, tenant: Tenant, run_id: int) -> Recovery:
    """The recovery that run `run_id` (its provisioning run) started; NotFound for any other run."""
    first = scope.get(Run, run_id)
    if first.tenant_id != tenant.id or not runs.is_recovery_order(first):
        raise NotFound(f"run {run_id} did not start a recovery of tenant {tenant.slug}")
    return _read(first)


def recoveries(scope: Scope, tenant: Tenant, limit: int = backups.RESTORES_SHOWN) -> list[Recovery]:
    """The tenant's latest recoveries, newest first."""
    provisions = db.session.scalars(
        scope.select(Run)
        .where(Run.tenant_id == tenant.id, Run.catalogue_key == "provision", Run.retry_of_id.is_(None))
        .order_by(Run.id.desc())
    )
    return [_read(run) for run in provisions if runs.is_recovery_order(run)][:limit]


def restores_and_recoveries(
    scope: Scope, tenant: Tenant, limit: int = backups.RESTORES_SHOWN
) -> list[backups.RestoreRecord]:
    """The tenant's restores and recoveries together, newest first."""
    found = backups.restores(scope, tenant, limit)
    found += [found_recovery.as_restore() for found_recovery in recoveries(scope, tenant, limit)]
    return sorted(found, key=lambda record: record.run.id, reverse=True)[:limit]


def chain_of(first: Run, longest: int) -> list[Run]:
    """The runs of a chain from `first`, each step's latest attempt, at most `longest` of them."""
    chain: list[Run] = [_latest_attempt(first)]
    while len(chain) < longest and (following := _following(chain[-1])) is not None:
        chain.append(following)
    return chain


def _read(first: Run) -> Recovery:
    chain = chain_of(first, len(STEPS))
    steps = tuple(
        Step(key, title, chain[i] if i < len(chain) else None) for i, (key, title) in enumerate(STEPS)
    )
    restore = steps[1].run
    what = _reported(restore) if restore is not None else {}
    extravars = first.extravars or {}
    return Recovery(
        first=first,
        lost_server=str(extravars["recover_from_host"]),
        new_server=build_srvrname(first.tenant.slug, int(extravars["server_index"])),
        steps=steps,
        snapshot_id=what.get("snapshot_id"),
        snapshot_time=backups.maybe_time(what.get("snapshot_time")),
    )


def _latest_attempt(run: Run) -> Run:
    """The run, or its latest retry (a retry of a retry included)."""
    while (retry := _last(select(Run).where(Run.retry_of_id == run.id))) is not None:
        run = retry
    return run


def _following(run: Run) -> Run | None:
    """The latest attempt at the step after `run` (a retry of a step follows the same run)."""
    return _last(select(Run).where(Run.follows_id == run.id))


def _last(query: Any) -> Run | None:
    return db.session.scalar(query.order_by(Run.id.desc()).limit(1))
