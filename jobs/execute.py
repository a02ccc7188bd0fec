"""``execute_run(run_id)``: the job a worker runs for every playbook run.

The database is the source of truth: this claims the run (lock + RUNNING + lease), runs the
playbook through the bridge while its heartbeat (jobs.heartbeat) renews the lease, and writes the
outcome. A playbook that
fails is a *failed run*, not a failed job; an error in this code marks the run failed AND
re-raises, so RQ records the job as failed too.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from flask import current_app
from sqlalchemy import select, update

from jobs import hostkeys, locks
from jobs.app import worker_app
from jobs.bridge import RunSpec, run_playbook
from jobs.events import EventRecorder
from jobs.heartbeat import Heartbeat
from jobs.inventory import tenant_inventory
from jobs.servers import refresh_from
from jobs.sitevars import SiteVarsError, run_group_vars
from mailfleet.hostwinds import ordered_name
from mailfleet.logs import run_context
from mailfleet.providers import ProviderError
from mailfleet.redact import Redactor
from mailfleet.secrets import SecretNotFound, SecretsError, tenant_prefix
from mailfleet.secrets.scope import RUN_GLOBAL_PATHS
from webapp import playbooks
from webapp.extensions import db
from webapp.integrations import provider_client, secret_store, tenant_ssh_private_key
from webapp.models import Run, RunStatus, Server, ServerStatus
from webapp.services import lifecycle, rollouts, runstate

log = logging.getLogger(__name__)

RUNNER_STATUS = {
    "successful": RunStatus.SUCCESSFUL,
    "failed": RunStatus.FAILED,
    "timeout": RunStatus.FAILED,
    "canceled": RunStatus.CANCELED,
}


def execute_run(run_id: int) -> str:
    app = worker_app()
    with app.app_context():
        run = locks.claim(run_id)
        if run is None:
            current = db.session.get(Run, run_id)
            return f"not started: {current.status if current else 'no such run'}"
        with run_context(run.id, run.tenant.slug):
            try:
                with Heartbeat(app, run.id):
                    status, rc, reason = _execute(run)
            except BaseException as exc:
                db.session.rollback()
                _finish(run.id, RunStatus.FAILED, None, f"internal error: {type(exc).__name__}: {exc}"[:255])
                _ended(run)
                raise
            _finish(run.id, status, rc, reason)
            _ended(run)
            return str(status)


def _ended(run: Run) -> None:
    """What follows a run's end: its lock and holds to the next, the statuses it settles, the
    next step of the rollout it belongs to."""
    locks.release(run)
    lifecycle.note_run_finished(run.id)
    rollouts.note_run_finished(run.id)


def run_work_dir() -> Path:
    return Path(current_app.config["MAILFLEET_DATA_DIR"]) / "runs"


def run_facts_dir(tenant_slug: str) -> Path:
    """Where the tenant's runs cache their hosts' facts (on this worker machine)."""
    return Path(current_app.config["MAILFLEET_DATA_DIR"]) / "ansible-facts" / tenant_slug


def _tenant_secret_values(tenant_slug: str) -> list[str]:
    """Every secret value of the tenant and the global ones, for the redactor; never logged."""
    store = secret_store()
    values: list[str] = []
    for path in store.list(tenant_prefix(tenant_slug)):
        values.extend(store.get(path).values())
    for path in RUN_GLOBAL_PATHS:
        with contextlib.suppress(SecretNotFound):
            values.extend(store.get(path).values())
    return values


def _catalogue_tags(run: Run) -> tuple[str, ...]:
    """The tags its catalogue entry limits the playbook to (none for a run from before the
    catalogue key was recorded)."""
    playbook = playbooks.by_key(run.catalogue_key) if run.catalogue_key else None
    return playbook.tags if playbook is not None else ()


def _execute(run: Run) -> tuple[RunStatus, int | None, str | None]:
    config = current_app.config
    # The release the app directory links to now, not the link: an upgrade switches the link at once
    # (roles/controller), and a run begun reads its playbook, roles and modules from one release.
    repo_dir = Path(config["MAILFLEET_REPO_DIR"]).resolve()
    playbook_path = Path(config["MAILFLEET_PLAYBOOK_DIR"]).resolve() / run.playbook
    if not playbook_path.is_file():
        return RunStatus.FAILED, None, f"playbook {run.playbook} is not installed on the worker"
    tenant = run.tenant
    try:
        ssh_key = tenant_ssh_private_key(tenant.slug)
    except SecretNotFound:
        ssh_key = None  # controller-only playbooks work; host tasks will report unreachable
    try:
        group_vars = run_group_vars(repo_dir)
    except SiteVarsError as exc:
        return RunStatus.FAILED, None, str(exc)[:255]
    redactor = Redactor(_tenant_secret_values(tenant.slug))
    recorder = EventRecorder(run.id, redactor)
    spec = RunSpec(
        run_id=run.id,
        tenant=tenant.slug,
        store=secret_store(),
        playbook_path=playbook_path,
        project_dir=repo_dir,
        inventory=tenant_inventory(tenant, run.limit),
        extravars=run.extravars or {},
        limit=run.limit,
        ssh_key=ssh_key,
        timeout=config["MAILFLEET_RUN_TIMEOUT"],
        work_dir=run_work_dir(),
        facts_dir=run_facts_dir(tenant.slug),
        group_vars=group_vars,
        known_hosts=hostkeys.known_hosts(
            db.session.execute(select(Server).where(Server.tenant_id == tenant.id)).scalars()
        ),
        tags=_catalogue_tags(run),
    )
    state = {"cancel_checked": 0.0, "cancel": False}

    def on_child(pid: int) -> None:
        db.session.execute(update(Run).where(Run.id == run.id).values(child_pid=pid))
        db.session.commit()

    def should_cancel() -> bool:
        if not state["cancel"] and time.monotonic() - state["cancel_checked"] >= 1.0:
            state["cancel_checked"] = time.monotonic()
            state["cancel"] = bool(
                db.session.execute(select(Run.cancel_requested).where(Run.id == run.id)).scalar_one()
            )
            db.session.commit()  # end the read transaction so the next check sees new writes
        return bool(state["cancel"])

    result = run_playbook(spec, recorder, should_cancel=should_cancel, on_child=on_child)
    if recorder.recap is not None:
        db.session.execute(update(Run).where(Run.id == run.id).values(recap=recorder.recap))
        db.session.commit()
    status = RUNNER_STATUS.get(result.status, RunStatus.FAILED)
    reason = None
    if result.status == "timeout":
        reason = f"timed out after {spec.timeout} s"
    elif status == RunStatus.FAILED:
        reason = f"ansible-playbook exited with rc {result.rc}"
    elif status == RunStatus.CANCELED:
        reason = "canceled by a user"
    changed = hostkeys.changed_hosts(run.id, spec.known_hosts)
    if changed:
        status, reason = RunStatus.FAILED, hostkeys.failure_reason(changed)
        hostkeys.alert(current_app, changed)
    if run.playbook == "provision.yml":
        _note_provisioned(run, status, result.known_hosts)
    return status, result.rc, reason


def _note_provisioned(run: Run, status: RunStatus, run_known_hosts: str) -> None:
    """A failed provisioning leaves the server row in error; success waits for the inventory refresh."""
    if not (run.extravars or {}).get("server_index"):
        return
    name = ordered_name(run.tenant.slug, run.extravars or {})
    server = db.session.execute(
        select(Server).where(Server.name == name, Server.tenant_id == run.tenant_id)
    ).scalar_one_or_none()
    if server is not None and server.status == ServerStatus.REQUESTED:
        server.status = ServerStatus.BUILDING if status == RunStatus.SUCCESSFUL else ServerStatus.ERROR
        db.session.commit()
    if status == RunStatus.SUCCESSFUL:
        # Addresses, plan and price now, rather than at the next 10-minute refresh.
        try:
            refresh_from(provider_client(server.provider if server is not None else None))
        except (ProviderError, SecretsError) as exc:
            log.warning("run %s: server refresh after provisioning failed: %s", run.id, exc)
        if server is not None and hostkeys.pin_from_run(server, run_known_hosts):
            db.session.commit()


def _finish(run_id: int, status: RunStatus, rc: int | None, reason: str | None) -> None:
    if not runstate.advance(run_id, status, only_from=[RunStatus.RUNNING], rc=rc, failure_reason=reason):
        log.warning("run %s ended meanwhile (the reaper found it lost); not %s", run_id, status)
    db.session.commit()
