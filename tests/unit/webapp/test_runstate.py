"""The Run state machine has one owner (webapp.services.runstate) and the jobs one enqueue policy
(webapp.queue): allowed changes happen, every other one is refused and changes nothing."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from pathlib import Path

import pytest

from jobs.execute import _finish
from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import Run, RunStatus
from webapp.queue import (
    HEALTH_CHECK_JOB,
    RUN_JOB,
    enqueue,
    enqueue_run,
    get_queue,
    get_system_queue,
    job_alive,
)
from webapp.services import runs, runstate
from webapp.services.runstate import TRANSITIONS, IllegalTransition
from webapp.services.scope import Scope

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
S = RunStatus


def _run(world, status: RunStatus, **fields) -> Run:
    run = Run(tenant_id=world.acme.id, playbook="site.yml", catalogue_key="site", status=status, **fields)
    db.session.add(run)
    db.session.commit()
    return run


def test_only_the_allowed_changes_happen(world):
    for start, target in itertools.product(RunStatus, RunStatus):
        run = _run(world, start)
        if not runstate.sources(target):  # nothing ever moves back to queued
            with pytest.raises(IllegalTransition):
                runstate.advance(run.id, target)
            changed = False
        else:
            changed = runstate.advance(run.id, target)
        db.session.commit()
        db.session.refresh(run)
        assert changed is (target in TRANSITIONS[start]), (start, target)
        assert run.status == (target if changed else start), (start, target)


def test_the_machine_stamps_the_times_of_a_status(world):
    run = _run(world, S.WAITING)
    assert runstate.advance(run.id, S.RUNNING, lease_expires_at=utcnow() + timedelta(minutes=1))
    db.session.commit()
    db.session.refresh(run)
    assert run.started_at is not None and run.finished_at is None and run.lease_expires_at is not None
    assert runstate.advance(run.id, S.SUCCESSFUL, rc=0)
    db.session.commit()
    db.session.refresh(run)
    assert run.finished_at is not None and run.lease_expires_at is None and run.rc == 0


def test_asking_for_a_change_the_machine_does_not_have_is_an_error(world):
    run = _run(world, S.SUCCESSFUL)
    with pytest.raises(IllegalTransition, match="successful to running"):
        runstate.advance(run.id, S.RUNNING, only_from=[S.SUCCESSFUL])
    with pytest.raises(IllegalTransition):
        runstate.advance(run.id, S.QUEUED)  # nothing goes back to queued
    db.session.refresh(run)
    assert run.status == S.SUCCESSFUL


def test_a_run_failed_as_lost_stays_failed_when_its_worker_reports_late(world):
    run = _run(world, S.RUNNING, lease_expires_at=utcnow() - timedelta(seconds=1))
    assert runstate.advance(run.id, S.FAILED, provided=[Run.lease_expires_at < utcnow()],
                            failure_reason="worker lost")
    db.session.commit()
    _finish(run.id, S.SUCCESSFUL, 0, None)
    db.session.refresh(run)
    assert (run.status, run.failure_reason, run.rc) == (S.FAILED, "worker lost", None)


def test_a_renewed_lease_keeps_the_run_from_the_reaper(world):
    run = _run(world, S.RUNNING, lease_expires_at=utcnow() + timedelta(minutes=1))
    assert not runstate.advance(run.id, S.FAILED, provided=[Run.lease_expires_at < utcnow()])
    db.session.refresh(run)
    assert run.status == S.RUNNING


def test_cancel_goes_through_the_machine(world):
    scope = Scope(world.admin)
    queued = runs.submit_run(scope, world.acme, "site")
    assert runs.cancel_run(scope, queued.id).status == S.CANCELED
    running = _run(world, S.RUNNING)
    assert runs.cancel_run(scope, running.id).status == S.RUNNING and running.cancel_requested


def test_nobody_else_writes_a_runs_status():
    writes = re.compile(r"status=RunStatus\.|\brun\.status\s*=[^=]|values\(\s*status=")
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for package in ("webapp", "jobs")
        for path in sorted((REPO / package).rglob("*.py"))
        if path.name != "runstate.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if writes.search(line)
    ]
    assert offenders == []


def test_one_enqueue_policy_for_runs_and_health_checks(app, world):
    run = runs.submit_run(Scope(world.admin), world.acme, "site")
    enqueue_run(run.id)  # again while it waits in the queue: not doubled
    assert get_queue(app).job_ids == [run.job_id] == [RUN_JOB.job_id(run.id)]
    job = get_queue(app).fetch_job(run.job_id)
    assert (job.result_ttl, job.failure_ttl, job.timeout) == (
        RUN_JOB.result_ttl, RUN_JOB.failure_ttl, app.config["MAILFLEET_JOB_TIMEOUT"])
    assert job_alive(run.job_id) and not job_alive(RUN_JOB.job_id(999999))
    job_id = enqueue(HEALTH_CHECK_JOB, 7, "health check of mf-acme-1")
    assert enqueue(HEALTH_CHECK_JOB, 7, "health check of mf-acme-1") == job_id
    assert get_system_queue(app).job_ids == [job_id] == [f"{app.config['MAILFLEET_QUEUE']}-health-7"]
