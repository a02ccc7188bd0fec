"""One run at a time per tenant+playbook: a lock row whose primary key is (tenant, playbook).

Claim order closes the race with a finishing holder: the run is marked WAITING *before* it tries
the lock; a holder releases the lock *before* it looks for WAITING runs to dispatch. So a run
either gets the lock or is seen (and re-enqueued) by the holder; the reaper is the backstop.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

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
    try:
        db.session.add(RunLock(tenant_id=run.tenant_id, playbook=run.playbook, run_id=run.id))
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        log.info(
            "run %s waits: another %s run of tenant %s holds the lock", run_id, run.playbook, run.tenant_id
        )
        return None
    now = utcnow()
    started = runstate.advance(
        run_id,
        RunStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        lease_expires_at=lease_until(),
        worker_pid=os.getpid(),
        worker_host=socket.gethostname(),
    )
    if not started:  # canceled between the two steps
        db.session.rollback()
        return None
    db.session.commit()
    db.session.refresh(run)
    return run


def release(run: Run) -> None:
    """Drop the run's lock, then hand the turn to the oldest waiting run of the same key."""
    db.session.execute(delete(RunLock).where(RunLock.run_id == run.id))
    db.session.commit()
    dispatch_next(run.tenant_id, run.playbook)


def dispatch_next(tenant_id: int, playbook: str) -> int | None:
    waiting = db.session.execute(
        select(Run.id)
        .where(Run.tenant_id == tenant_id, Run.playbook == playbook, Run.status == RunStatus.WAITING)
        .order_by(Run.id)
        .limit(1)
    ).scalar_one_or_none()
    if waiting is not None:
        try:
            enqueue_run(waiting)
        except RedisError as exc:  # the reaper's reconcile enqueues it once Redis is back
            log.warning("run %s: could not enqueue (%s)", waiting, exc)
    return waiting
