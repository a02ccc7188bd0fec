"""One run at a time per tenant+playbook: a lock row whose primary key is (tenant, playbook); and
the run's admission (jobs.admission): its servers' locks and the concurrency limits, in Redis.

Claim order closes the race with a finishing holder: the run is marked WAITING *before* it tries
its admission and the lock; a holder releases both *before* it looks for WAITING runs to dispatch.
So a run either gets in or is seen (and re-enqueued) by a holder; the reaper is the backstop.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from jobs import admission, capacity
from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import Run, RunLock, RunStatus
from webapp.queue import enqueue_run
from webapp.services import runstate

log = logging.getLogger(__name__)


def lease_until() -> object:
    return utcnow() + timedelta(seconds=current_app.config["MAILFLEET_LEASE_SECONDS"])


def claim(run_id: int) -> Run | None:
    """The run, now RUNNING and holding its lock; None if it must wait or is no longer runnable."""
    run = db.session.get(Run, run_id)
    if run is None or run.status not in (RunStatus.QUEUED, RunStatus.WAITING):
        return None
    runstate.advance(run_id, RunStatus.WAITING, only_from=[RunStatus.QUEUED])
    db.session.commit()
    refusal = admission.admit(run)
    if refusal is not None:
        db.session.rollback()
        log.info("run %s waits: %s", run_id, refusal)
        return None
    try:
        db.session.add(RunLock(tenant_id=run.tenant_id, playbook=run.playbook, run_id=run.id))
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        admission.release(run)
        log.info(
            "run %s waits: another %s run of tenant %s holds the lock", run_id, run.playbook, run.tenant_id
        )
        dispatch_waiting()  # what it held for a moment may have turned others away
        return None
    now = utcnow()
    started = runstate.advance(
        run_id,
        RunStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        lease_expires_at=lease_until(),
        worker_pid=os.getpid(),
        worker_host=capacity.worker_name(),
    )
    if not started:  # canceled between the two steps
        db.session.rollback()
        admission.release(run)
        dispatch_waiting()
        return None
    db.session.commit()
    db.session.refresh(run)
    return run


def release(run: Run) -> None:
    """Drop the run's lock and admission, then hand the turn to waiting runs."""
    db.session.execute(delete(RunLock).where(RunLock.run_id == run.id))
    db.session.commit()
    try:
        admission.release(run)
    except RedisError as exc:  # its holds expire with their lease
        log.warning("run %s: could not release its holds (%s)", run.id, exc)
    dispatch_waiting()


def dispatch_waiting() -> list[int]:
    """Enqueue the oldest waiting run of every tenant+playbook whose lock is free, up to the fleet's
    limit: whatever the finished run held (its servers, its place) may be what they wait for."""
    held = set(db.session.execute(select(RunLock.tenant_id, RunLock.playbook)).tuples())
    waiting = db.session.execute(
        select(Run.id, Run.tenant_id, Run.playbook).where(Run.status == RunStatus.WAITING).order_by(Run.id)
    )
    chosen: list[int] = []
    for run_id, tenant_id, playbook in waiting:
        if (tenant_id, playbook) in held:
            continue
        held.add((tenant_id, playbook))  # its next one waits behind it anyway
        chosen.append(run_id)
        if len(chosen) >= current_app.config["MAILFLEET_MAX_RUNS"]:
            break
    for run_id in chosen:
        try:
            enqueue_run(run_id)
        except RedisError as exc:  # the reaper's reconcile enqueues it once Redis is back
            log.warning("run %s: could not enqueue (%s)", run_id, exc)
            break
    return chosen
