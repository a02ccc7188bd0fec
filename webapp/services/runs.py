"""Submitting, cancelling, retrying and reading playbook runs."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from webapp import playbooks
from webapp.errors import Conflict, InvalidInput, NotFound
from webapp.extensions import db
from webapp.models import (
    Rollout,
    RolloutStatus,
    RolloutTarget,
    Run,
    RunEvent,
    RunStatus,
    RunTrigger,
    Server,
    Tenant,
)
from webapp.queue import enqueue_run
from webapp.services import quotas, runstate
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

_SUBMISSION_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
TEMPLATE_MARKERS = ("{{", "{%", "{#")
MAX_EXTRAVAR_LENGTH = 1024


#: How much of a failed task's message the run page shows at the top.
MAX_FAILURE_MESSAGE = 2000


@dataclass(frozen=True)
class Failure:
    """What a failed run's page shows first: where it failed, why, and the log line to jump to."""

    host: str | None
    task: str | None
    message: str
    counter: int


@dataclass(frozen=True)
class RunFilters:
    tenant_slug: str | None = None
    status: RunStatus | None = None
    playbook: str | None = None
    host: str | None = None
    trigger: RunTrigger | None = None


def _check_extravars(playbook: playbooks.Playbook, extravars: dict[str, Any]) -> dict[str, Any]:
    """Defence in depth: callers build extravars from validated fields; refuse anything else."""
    unknown = set(extravars) - playbook.variables
    if unknown:
        raise InvalidInput(f"{playbook.title}: unexpected variables {sorted(unknown)}")

    def check(value: Any) -> None:
        if isinstance(value, str):
            if len(value) > MAX_EXTRAVAR_LENGTH or any(m in value for m in TEMPLATE_MARKERS):
                raise InvalidInput("a variable holds template syntax or is too long")
        elif isinstance(value, list):
            for item in value:
                check(item)
        elif not isinstance(value, int | float | bool) and value is not None:
            raise InvalidInput("variables must be strings, numbers, booleans or lists of them")

    for value in extravars.values():
        check(value)
    return extravars


def _check_limit(tenant: Tenant, limit: str | None) -> str | None:
    """A limit names the tenant's own servers, comma-separated; patterns are not accepted."""
    if not limit:
        return None
    names = [part.strip() for part in limit.split(",") if part.strip()]
    own = set(db.session.execute(select(Server.name).where(Server.tenant_id == tenant.id)).scalars())
    stray = [name for name in names if name not in own]
    if stray or not names:
        raise InvalidInput(f"limit must list this tenant's servers; unknown: {', '.join(stray) or limit!r}")
    return ",".join(names)


def find_submission(
    tenant: Tenant,
    submission_key: str | None,
    playbook_key: str,
    *,
    retry_of: Run | None = None,
    recovery: bool = False,
) -> Run | None:
    """The run an earlier submission with this key created (a double click, a resent API call), if
    that submission was this kind of request: the same playbook, a retry of the same run, a
    recovery's order or a plain one. A key another tenant used, or this tenant used for another kind
    of request, is refused (Conflict): answering with that run would say this request had been made.
    No key (None or empty): None."""
    if not submission_key:
        return None
    if not _SUBMISSION_KEY.match(submission_key):
        raise InvalidInput("submission key must be 8-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    earlier = db.session.execute(select(Run).where(Run.submission_key == submission_key)).scalar_one_or_none()
    if earlier is None:
        return None
    if earlier.tenant_id != tenant.id:
        raise Conflict("this submission key was already used")
    kind = (playbook_key, retry_of.id if retry_of is not None else None, recovery)
    if (earlier.catalogue_key, earlier.retry_of_id, is_recovery_order(earlier)) != kind:
        made = playbooks.by_key(earlier.catalogue_key or "")
        raise Conflict(
            f"this submission key was already used for run {earlier.id}"
            f" ({made.title if made else earlier.playbook}), another kind of request;"
            " send this one with a new key"
        )
    return earlier


def is_recovery_order(run: Run) -> bool:
    """The provisioning that starts a recovery: it names the lost server its new server replaces."""
    return run.catalogue_key == "provision" and bool((run.extravars or {}).get("recover_from_host"))


def submit_run(
    scope: Scope,
    tenant: Tenant,
    playbook_key: str,
    *,
    extravars: dict[str, Any] | None = None,
    limit: str | None = None,
    submission_key: str | None = None,
    retry_of: Run | None = None,
    follows: Run | None = None,
) -> Run:
    """Write the Run row, then enqueue its job. Returns the existing run for a repeated submission.
    `follows`: the run of a chain whose success submitted this one."""
    _playbook_for(scope, tenant, playbook_key)  # before a repeated submission's run is answered
    recovery = bool((extravars or {}).get("recover_from_host"))

    def earlier_submission() -> Run | None:
        return find_submission(tenant, submission_key, playbook_key, retry_of=retry_of, recovery=recovery)

    if (earlier := earlier_submission()) is not None:
        return earlier
    run = new_run(
        scope, tenant, playbook_key, extravars=extravars, limit=limit, retry_of=retry_of, follows=follows
    )
    run.submission_key = submission_key or None
    try:
        db.session.commit()
    except IntegrityError:  # the same submission key, committed by a concurrent request
        db.session.rollback()
        if (earlier := earlier_submission()) is None:
            raise
        return earlier
    enqueue_or_leave_for_reconcile(run)
    return run


def _playbook_for(scope: Scope, tenant: Tenant, playbook_key: str) -> playbooks.Playbook:
    if not scope.can_see_tenant(tenant.id):
        raise NotFound(f"tenant {tenant.slug!r} not found")
    playbook = playbooks.by_key(playbook_key)
    if playbook is None:
        raise InvalidInput(f"unknown playbook {playbook_key!r}")
    return playbook


def new_run(
    scope: Scope,
    tenant: Tenant,
    playbook_key: str,
    *,
    extravars: dict[str, Any] | None = None,
    limit: str | None = None,
    retry_of: Run | None = None,
    follows: Run | None = None,
) -> Run:
    """The checked Run row, added to the session: the caller commits, then enqueues it. A retry
    takes the place of the run it retries in its chain."""
    playbook = _playbook_for(scope, tenant, playbook_key)
    run = Run(
        tenant_id=tenant.id,
        playbook=playbook.filename,
        catalogue_key=playbook.key,
        trigger=RunTrigger.SCHEDULE if scope.is_system else RunTrigger.USER,
        extravars=_check_extravars(playbook, dict(extravars or {})),
        limit=_check_limit(tenant, limit),
        retry_of_id=retry_of.id if retry_of else None,
        follows_id=follows.id if follows else (retry_of.follows_id if retry_of else None),
        created_by_id=scope.user.id,
    )
    db.session.add(run)
    if retry_of is not None:
        _follow_in_rollout(retry_of, run)
    return run


def _follow_in_rollout(retried: Run, retry: Run) -> None:
    """The step of a running rollout that ran ``retried`` now runs its retry, in the same commit:
    the rollout waits for the retry and counts its outcome, not the failure it retries (the
    retry's ``retry_of`` keeps the first run on record)."""
    db.session.flush()  # the retry's id
    running = select(Rollout.id).where(Rollout.status == RolloutStatus.RUNNING)
    db.session.execute(
        update(RolloutTarget)
        .where(RolloutTarget.run_id == retried.id, RolloutTarget.rollout_id.in_(running))
        .values(run_id=retry.id)
        .execution_options(synchronize_session=False)
    )


def enqueue_or_leave_for_reconcile(run: Run) -> None:
    """The row is the truth: if Redis is down, the reaper's reconcile enqueues the run later."""
    try:
        enqueue_run(run.id)
    except RedisError as exc:
        log.warning("run %s: queue unreachable (%s); it will be enqueued when Redis is back", run.id, exc)


def get_run(scope: Scope, run_id: int) -> Run:
    return scope.get(Run, run_id)


def cancel_run(scope: Scope, run_id: int) -> Run:
    """A queued or waiting run is cancelled at once; a running one is asked to stop (cancel_callback)."""
    run = scope.get(Run, run_id)
    if run.status.finished:
        raise Conflict(f"run {run.id} already finished ({run.status})")
    not_started = runstate.advance(
        run.id,
        RunStatus.CANCELED,
        only_from=[RunStatus.QUEUED, RunStatus.WAITING],
        failure_reason="canceled before it started",
    )
    if not not_started:
        db.session.execute(update(Run).where(Run.id == run.id).values(cancel_requested=True))
    db.session.commit()
    db.session.refresh(run)
    return run


def _retriable(scope: Scope, run_id: int) -> tuple[Run, playbooks.Playbook]:
    run = scope.get(Run, run_id)
    if not run.status.finished:
        raise Conflict(f"run {run.id} is still {run.status}")
    playbook = playbooks.by_key(run.catalogue_key) if run.catalogue_key else None
    if playbook is None:
        raise Conflict(f"run {run.id} used a playbook that is no longer offered")
    if playbook.spends:
        quotas.check_order(scope, run.tenant, None)
    return run, playbook


def new_retry(scope: Scope, run_id: int) -> Run:
    """The retry's row, added to the session (as ``new_run``): the caller commits, then enqueues
    it. The reaper commits a lost run's failure and its retry at once, so a rollout never counts
    the failure of a step that is being retried."""
    run, playbook = _retriable(scope, run_id)
    return new_run(scope, run.tenant, playbook.key, extravars=run.extravars, limit=run.limit, retry_of=run)


def retry_run(scope: Scope, run_id: int, submission_key: str | None = None) -> Run:
    run, playbook = _retriable(scope, run_id)
    return submit_run(
        scope,
        run.tenant,
        playbook.key,
        extravars=run.extravars,
        limit=run.limit,
        submission_key=submission_key,
        retry_of=run,
    )


def list_runs(scope: Scope, filters: RunFilters, *, limit: int = 100) -> list[Run]:
    # Each row shows its tenant: loaded with the runs, not one query per tenant on the page.
    stmt = scope.select(Run).options(joinedload(Run.tenant)).order_by(Run.id.desc()).limit(limit)
    if filters.tenant_slug:
        stmt = stmt.join(Tenant, Tenant.id == Run.tenant_id).where(Tenant.slug == filters.tenant_slug)
    if filters.status:
        stmt = stmt.where(Run.status == filters.status)
    if filters.playbook:
        stmt = stmt.where(Run.playbook == filters.playbook)
    if filters.trigger:
        stmt = stmt.where(Run.trigger == filters.trigger)
    if filters.host:
        stmt = stmt.where(exists().where(RunEvent.run_id == Run.id, RunEvent.host_name == filters.host))
    return list(db.session.execute(stmt).scalars())


def events_after(scope: Scope, run_id: int, after_counter: int, limit: int = 500) -> list[RunEvent]:
    run = scope.get(Run, run_id)  # scoping: events are reached only through a visible run
    stmt = (
        select(RunEvent)
        .where(RunEvent.run_id == run.id, RunEvent.counter > after_counter)
        .order_by(RunEvent.counter)
        .limit(limit)
    )
    return list(db.session.execute(stmt).scalars())


def _failure_message(event: RunEvent) -> str:
    res = (event.event_data or {}).get("res")
    res = res if isinstance(res, dict) else {}
    for key in ("msg", "stderr", "stdout"):
        value = res.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_FAILURE_MESSAGE]
    return event.stdout.strip()[:MAX_FAILURE_MESSAGE]


def first_failure(run: Run, host: str | None = None) -> Failure | None:
    """The first failed task of a failed run (host, task, its message; on ``host`` if given), else
    Ansible's own error line (a syntax error or an undefined variable fails before any task); None
    otherwise."""
    if run.status != RunStatus.FAILED:
        return None
    base = select(RunEvent).where(RunEvent.run_id == run.id).order_by(RunEvent.counter).limit(1)
    if host is not None:
        base = base.where(RunEvent.host_name == host)
    # The recap event is marked failed too; it is the summary, not the failure.
    task = db.session.execute(
        base.where(RunEvent.failed.is_(True), RunEvent.event != "playbook_on_stats")
    ).scalar_one_or_none()
    if task is not None:
        return Failure(task.host_name, task.task, _failure_message(task), task.counter)
    error = db.session.execute(base.where(RunEvent.stdout.like("%ERROR!%"))).scalar_one_or_none()
    if error is not None:
        return Failure(None, None, error.stdout.strip()[:MAX_FAILURE_MESSAGE], error.counter)
    return None


def failure_summary(run: Run, host: str | None = None) -> str:
    """A finished run's failure in one line, for what shows it away from the run page (a domain's
    status): the failure the run page shows at its top, else the run's own reason."""
    failure = first_failure(run, host)
    if failure is None:
        return run.failure_reason or f"the run {run.status}"
    task = f"{failure.task}: " if failure.task else ""
    return f"run {run.id}, {task}{failure.message}"
