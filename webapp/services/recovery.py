"""Disaster recovery: a lost server's mail brought back on a new server, and DNS moved there only once
the restored data checked out.

One confirmed request (:func:`start_recovery`) orders the new server; every step is a run of its
own, and the next one is submitted when the previous one succeeded, from the hook that follows every
finished run (``lifecycle.note_run_finished``, as for provisioning, IP switches and removals):

1. ``provision``: a new server in the chosen location, with the lost server's mail host name (its
   run's ``recover_from_host`` names the lost server);
2. ``recover`` (restore.yml): the lost server's latest snapshot restored onto the new one from the
   tenant's backup repository, which must not live on the lost server (SFTP to another host, or S3);
3. ``restore_check`` (restore_check.yml): the new server's live data is that snapshot's;
4. the switch: the lost server's domains move to the new server, the lost server is set aside (in
   error, its alerts resolved: no run addresses it any more; its host is left as it is until an
   admin deprovisions it), and the ``domain`` run converges the new server and publishes its
   records, the mail host's A record now with the new address (MX, SPF and DKIM keep their names
   and keys).

A failed step ends the recovery there: DNS still points at the lost server, which nothing changed.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from mailfleet.hostwinds import build_srvrname
from webapp.errors import Conflict, InvalidInput
from webapp.extensions import db
from webapp.models import Run, RunEvent, RunStatus, Server, ServerStatus, Tenant
from webapp.services import backups, fleet, health, runs
from webapp.services.actions import tenant_server
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

#: The catalogue keys of the steps after provisioning, in order.
RESTORE_STEP, CHECK_STEP = "recover", "restore_check"
#: A server in these states cannot be recovered from (there is nothing left, or it is going).
_GONE = (ServerStatus.GONE, ServerStatus.DEPROVISIONING)


def start_recovery(
    scope: Scope,
    tenant: Tenant,
    lost_server_id: int,
    location: str | None,
    plan: str,
    submission_key: str | None = None,
    *,
    region: str | None = None,
) -> Run:
    """Order the new server that replaces the lost one; the rest follows run by run. Refuses, with
    the reason and nothing changed: another tenant's server, one without a mail host name or a
    snapshot, a location or plan Hostwinds does not offer, an order over the tenant's limits."""
    if submission_key and (earlier := runs.find_submission(tenant, submission_key)) is not None:
        return earlier
    lost = tenant_server(scope, tenant, lost_server_id)
    if lost.status in _GONE:
        raise Conflict(
            f"{lost.name} is {lost.status}: its backups can be restored onto a server with Restore"
        )
    if not lost.mail_hostname:
        raise InvalidInput(f"{lost.name} has no mail host name for the new server to take over")
    backups.check_restore_point(lost, None)
    return fleet.provision_server(
        scope,
        tenant,
        location,
        plan,
        lost.mail_hostname,
        submission_key,
        region=region,
        recover_from_host=lost.name,
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
        new = _server(run.tenant, build_srvrname(run.tenant.slug, int(extravars["hostwinds_index"])))
        if new is not None:
            _submit(
                run,
                RESTORE_STEP,
                new.name,
                {"restore_from_host": lost},  # the latest snapshot: restore.yml's default
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
    data = db.session.scalar(
        select(RunEvent.event_data).where(RunEvent.run_id == run.id, RunEvent.event == "playbook_on_stats")
    )
    restored: Any = ((data or {}).get("artifact_data") or {}).get(backups.RESTORE_STATS_KEY) or {}
    found = restored.get(run.limit) if isinstance(restored, dict) else None
    snapshot = found.get("snapshot_id") if isinstance(found, dict) else None
    return str(snapshot) if snapshot else None


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
    return fleet.publish_domains(Scope.system(), tenant, new)


def _server(tenant: Tenant, name: str) -> Server | None:
    return db.session.scalar(select(Server).where(Server.tenant_id == tenant.id, Server.name == name))


def _submit(after: Run, key: str, limit: str | None, extravars: dict[str, Any]) -> None:
    run = runs.submit_run(Scope.system(), after.tenant, key, extravars=extravars, limit=limit)
    log.info("recovery: run %s (%s on %s) follows run %s", run.id, key, limit, after.id)
