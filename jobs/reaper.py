"""The reaper: nothing stays "running" or "queued" forever.

- RUNNING runs whose lease expired (their worker died: SIGKILL, OOM, host reboot) are marked
  failed ("worker lost"), their leftover ansible processes are killed by recorded PID, their lock
  is released and the next waiting run is dispatched. A playbook the catalogue marks safe to run
  again (``retry_when_lost``) is retried at once, once (a retry lost in its turn is left to people);
  "Run again" on the page retries the others.
- QUEUED runs (and WAITING runs nobody holds the lock for) that Redis does not know about, e.g.
  after Redis lost data, are enqueued again: the database is the source of truth.
- Events of runs finished longer ago than the retention period are deleted.
- Every running fleet rollout takes a step (its runs may have ended without a worker's word).

Runs every minute from ``rq cron`` and once when a worker starts.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from typing import Any, cast

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue
from rq.registry import StartedJobRegistry
from sqlalchemy import CursorResult, delete, select

from jobs import capacity, locks, processes
from jobs.app import worker_app
from jobs.bridge import private_dir_prefix, run_marker
from jobs.constants import RECONCILE_GRACE_SECONDS
from jobs.execute import run_work_dir
from mailfleet.clock import utcnow
from webapp import playbooks
from webapp.errors import MailfleetWebError
from webapp.extensions import db
from webapp.models import FINISHED_STATUSES, Run, RunEvent, RunLock, RunStatus
from webapp.queue import JobQueue, enqueue_run, job_alive, rq_queue
from webapp.services import rollouts, runs, runstate
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

LOST = "worker lost"

def reap() -> dict[str, int]:
    app = worker_app()
    with app.app_context():
        return {
            "lost": reap_lost_runs(),
            "requeued": reconcile_queue(),
            "events_pruned": prune_events(),
            "rollouts": rollouts.advance_all(),  # runs failed here or canceled move them on too
        }


def reap_lost_runs() -> int:
    now = utcnow()
    stale = list(
        db.session.execute(
            select(Run).where(Run.status == RunStatus.RUNNING, Run.lease_expires_at < now)
        ).scalars()
    )
    for run in stale:
        if run.worker_host == capacity.worker_name():
            work_dir = run_work_dir()
            killed = processes.kill_run_processes(run.child_pid, run_marker(work_dir, run.id))
            if killed:
                log.warning("run %s: killed %d leftover processes of a lost worker", run.id, killed)
            for leftover in work_dir.glob(f"{private_dir_prefix(run.id)}*"):
                shutil.rmtree(leftover, ignore_errors=True)  # the SSH key FIFO, inventory, artifacts
        changed = runstate.advance(
            run.id,
            RunStatus.FAILED,
            provided=[Run.lease_expires_at < now],  # not if its worker renewed the lease meanwhile
            finished_at=now,
            failure_reason=f"{LOST}: no heartbeat since {run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC",
        )
        retry = _retry_lost(run) if changed else None
        db.session.commit()  # the failure and its retry (its rollout step moved onto it) at once
        if changed:
            locks.release(run)
        if retry is not None:
            runs.enqueue_or_leave_for_reconcile(retry)
            log.warning("run %s: its worker was lost; retried as run %s", run.id, retry.id)
    return len(stale)


def _retry_lost(run: Run) -> Run | None:
    """The retry's row, not committed, where the catalogue allows one."""
    playbook = playbooks.by_key(run.catalogue_key) if run.catalogue_key else None
    if playbook is None or not playbook.retry_when_lost:
        return None
    parent = db.session.get(Run, run.retry_of_id) if run.retry_of_id else None
    if parent is not None and (parent.failure_reason or "").startswith(LOST):
        return None  # a retry lost in its turn: a person looks before a third try
    try:
        return runs.new_retry(Scope.system(), run.id)
    except MailfleetWebError as exc:  # e.g. the tenant was removed meanwhile
        log.warning("run %s: its worker was lost; not retried: %s", run.id, exc)
        return None


def reconcile_queue() -> int:
    cutoff = utcnow() - timedelta(seconds=RECONCILE_GRACE_SECONDS)
    held = set(db.session.execute(select(RunLock.tenant_id, RunLock.playbook)).tuples())
    candidates = db.session.execute(
        select(Run)
        .where(Run.status.in_([RunStatus.QUEUED, RunStatus.WAITING]), Run.created_at < cutoff)
        .order_by(Run.id)
    ).scalars()
    requeued = 0
    queue = rq_queue(JobQueue.RUNS)
    try:
        # A job whose worker died as it took it (a Redis failover, a killed machine) reads
        # "started" until its heartbeat lapses, and RQ fails it only when some worker cleans its
        # registries (every 10 minutes): clean here, so such a run is enqueued again within 2.
        StartedJobRegistry(queue=queue).cleanup()
        requeued += _requeue_stranded(queue)
    except RedisError as exc:
        log.warning("reconcile: Redis unreachable (%s); will try again", exc)
        return 0
    for run in candidates:
        if run.status == RunStatus.WAITING and (run.tenant_id, run.playbook) in held:
            continue  # its turn comes when the holder releases the lock
        try:
            if job_alive(run.job_id):
                continue
            enqueue_run(run.id)
        except RedisError as exc:
            log.warning("reconcile: Redis unreachable (%s); will try again", exc)
            break
        requeued += 1
        log.info("run %s: re-enqueued (its job was missing from Redis)", run.id)
    return requeued


# Back on the queue only if still stranded (RQ's own cleanup in a worker may have taken it first).
_MOVE_BACK = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[3])
  return 1
end
return 0
"""


def _requeue_stranded(queue: Queue) -> int:
    """Jobs stranded in RQ's intermediate queue, put back on the queue.

    A worker takes a job by moving its id from the queue to the intermediate queue, then marks it
    started. A worker that loses Redis between the two (a failover promoting a replica that has the
    move and not the start) leaves the job there reading "queued", so no worker takes it and the
    run would wait until a worker's own maintenance (every 10 minutes) fails it. RQ's rule decides
    what is stranded: not started a minute after this first saw it."""
    intermediate = queue.intermediate_queue
    stranded = [
        job_id
        for job_id in intermediate.get_job_ids()
        if job_id not in queue.started_job_registry
        and not intermediate.set_first_seen(job_id)
        and intermediate.should_be_cleaned_up(job_id)
    ]
    move_back = queue.connection.register_script(_MOVE_BACK)
    moved = 0
    for job_id in stranded:
        keys = [intermediate.key, queue.key, intermediate.get_first_seen_key(job_id)]
        if move_back(keys=keys, args=[job_id]):
            moved += 1
            log.warning("job %s: stranded in the intermediate queue; put back on %s", job_id, queue.name)
    return moved


def prune_events() -> int:
    days = current_app.config["MAILFLEET_EVENT_RETENTION_DAYS"]
    if days <= 0:
        return 0
    old_runs = select(Run.id).where(
        Run.status.in_(FINISHED_STATUSES), Run.finished_at < utcnow() - timedelta(days=days)
    )
    # A DELETE's result is a CursorResult (rowcount); Session.execute is typed for any statement.
    statement = delete(RunEvent).where(RunEvent.run_id.in_(old_runs))
    pruned = cast(CursorResult[Any], db.session.execute(statement)).rowcount
    db.session.commit()
    return pruned
