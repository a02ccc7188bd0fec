"""Runs queued in the testbed's real Redis (append-only file on) survive a Redis restart; runs whose
jobs Redis lost are enqueued again from the database by the reaper; one worker then drains the
queue and every run finishes exactly once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from rq import SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select, update

pytestmark = pytest.mark.testbed

PLAYBOOKS = Path(__file__).resolve().parents[2] / "unit" / "jobs" / "playbooks" / "fast"


@pytest.fixture
def app(testbed, tmp_path):
    from jobs.app import use_app
    from webapp.extensions import db
    from webapp.testing import make_app

    app = make_app(
        tmp_path,
        REDIS_CONNECTION=None,  # the testbed's Redis, not fakeredis
        REDIS_URL=testbed.redis_url,
        MAILFLEET_QUEUE=f"mf-redis-restart-{uuid.uuid4().hex[:8]}",
        MAILFLEET_PLAYBOOK_DIR=PLAYBOOKS,
    )
    use_app(app)
    with app.app_context():
        yield app
        from webapp.queue import get_queue

        get_queue(app).empty()
        db.session.remove()
        db.engine.dispose()
    use_app(None)


def test_queued_runs_survive_a_redis_restart_and_lost_jobs_are_requeued(testbed, app):
    from jobs.reaper import reap
    from mailfleet.clock import utcnow
    from webapp.extensions import db
    from webapp.models import Role, Run, RunStatus
    from webapp.queue import RUN_JOB, get_queue, redis_connection
    from webapp.services import accounts, runs, tenants
    from webapp.services.scope import Scope

    admin = accounts.create_user("admin@example.com", "correct horse battery", Role.ADMIN, None)
    scope = Scope(admin)
    acme, globex = (tenants.create_tenant(scope, s, s.title()) for s in ("acme", "globex"))
    submitted = [runs.submit_run(scope, tenant, "site") for tenant in (acme, globex) for _ in range(3)]
    ids = [r.id for r in submitted]
    queue = get_queue(app)
    assert sorted(queue.job_ids) == sorted(RUN_JOB.job_id(i) for i in ids)

    # Redis loses two jobs (as when it dies before its once-a-second fsync): gone from the queue
    # and from the keyspace, while their Run rows still say "queued".
    lost = ids[1], ids[4]
    for run_id in lost:
        Job.fetch(RUN_JOB.job_id(run_id), connection=redis_connection(), serializer=JSONSerializer).delete()

    testbed.restart("redis")

    # The append-only file kept everything Redis had acknowledged (the same client reconnects).
    kept = sorted(RUN_JOB.job_id(i) for i in ids if i not in lost)
    assert sorted(get_queue(app).job_ids) == kept

    # The reaper trusts the database: runs queued longer than the grace period whose jobs Redis
    # does not know are enqueued again; runs whose jobs are still queued are left alone.
    db.session.execute(update(Run).where(Run.id.in_(ids)).values(created_at=utcnow() - timedelta(minutes=2)))
    db.session.commit()
    assert reap()["requeued"] == 2
    assert sorted(get_queue(app).job_ids) == sorted(RUN_JOB.job_id(i) for i in ids)
    assert reap()["requeued"] == 0  # nothing doubles on a second pass

    SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
    db.session.expire_all()
    finished = {r.id: r for r in db.session.execute(select(Run).where(Run.id.in_(ids))).scalars()}
    assert len(finished) == 6
    for run in finished.values():
        assert run.status == RunStatus.SUCCESSFUL, (run.id, run.status, run.failure_reason)
        assert run.event_count > 0 and run.recap
    assert queue.count == 0
