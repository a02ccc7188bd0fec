"""Fleet rollouts through the real job engine (execute_run in a burst worker, admission on a real
redis-server): a run per server of many tenants, never more in flight than the share, a stop
once failures pass the threshold, a stop by hand, a step lost with its worker that follows its
retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from jobs import locks
from jobs.reaper import reap_lost_runs
from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import Rollout, RolloutStatus, Run, RunStatus, Server, ServerStatus
from webapp.services import rollouts, runs

pytestmark = pytest.mark.unit


@pytest.fixture
def playbook_flavour() -> str:
    return "rollout"


@pytest.fixture
def app_overrides(real_redis) -> dict[str, object]:
    return {"REDIS_CONNECTION": real_redis, "MAILFLEET_LEASE_SECONDS": 600}


def add_servers(tenant, *names: str, status: ServerStatus = ServerStatus.ACTIVE) -> list[Server]:
    made = [
        Server(tenant_id=tenant.id, name=name, public_ipv4=f"198.18.251.{i}", status=status)
        for i, name in enumerate(names, start=len(db.session.scalars(select(Server)).all()) + 1)
    ]
    db.session.add_all(made)
    db.session.commit()
    return made


def rollout_runs(rollout: Rollout) -> list[Run]:
    db.session.expire_all()
    return [t.run for t in db.session.get(Rollout, rollout.id).targets if t.run is not None]


def test_every_server_of_every_tenant_runs_once_never_more_than_the_share_at_a_time(
    scope, acme, globex, work
):
    add_servers(acme, "mf-acme-1", "mf-acme-2")
    add_servers(globex, "mf-globex-1", "mf-globex-2", "mf-globex-3")
    add_servers(globex, "mf-globex-9", status=ServerStatus.GONE)  # not a target

    rollout = rollouts.start_rollout(scope, "site", "40%", 0)

    assert rollout.in_flight == 2  # 40 % of five servers
    assert [r.limit for r in rollout_runs(rollout)] == ["mf-acme-1", "mf-acme-2"]
    work()
    done = rollout_runs(rollout)
    assert [(r.tenant.slug, r.limit) for r in done] == [
        ("acme", "mf-acme-1"),
        ("acme", "mf-acme-2"),
        ("globex", "mf-globex-1"),
        ("globex", "mf-globex-2"),
        ("globex", "mf-globex-3"),
    ]
    assert {r.status for r in done} == {RunStatus.SUCCESSFUL}
    # Never more than two unfinished at once: each run was submitted while at most one other was.
    for run in done:
        unfinished = [o for o in done if o.created_at <= run.created_at < o.finished_at]
        assert len(unfinished) <= 2, run.id
    assert db.session.get(Rollout, rollout.id).status == RolloutStatus.COMPLETED
    assert rollouts.progress(db.session.get(Rollout, rollout.id))["successful"] == 5


def test_the_rollout_stops_once_failures_pass_the_threshold(scope, acme, work):
    add_servers(acme, "mf-acme-1-bad", "mf-acme-2-bad", "mf-acme-3", "mf-acme-4", "mf-acme-5")

    rollout = rollouts.start_rollout(scope, "site", "1", 20)
    work()

    stopped = db.session.get(Rollout, rollout.id)
    assert stopped.status == RolloutStatus.STOPPED
    assert stopped.stop_reason == "2 of 5 servers failed, over the threshold of 20 %"
    # One failure (20 %) was within the threshold, so the second server ran; the rest never did.
    assert [(r.limit, r.status) for r in rollout_runs(rollout)] == [
        ("mf-acme-1-bad", RunStatus.FAILED),
        ("mf-acme-2-bad", RunStatus.FAILED),
    ]
    assert rollouts.progress(stopped) | {"failed": 2, "pending": 3} == rollouts.progress(stopped)


def test_stopping_by_hand_cancels_the_runs_not_started(scope, acme, globex):
    add_servers(acme, "mf-acme-1")
    add_servers(globex, "mf-globex-1", "mf-globex-2")
    rollout = rollouts.start_rollout(scope, "backup", "2", 100, tenant_slugs=["globex"])

    stopped = rollouts.stop_rollout(scope, rollout.id)

    assert stopped.status == RolloutStatus.STOPPED and stopped.stop_reason == "stopped by admin@example.com"
    assert [(r.limit, r.status) for r in rollout_runs(rollout)] == [
        ("mf-globex-1", RunStatus.CANCELED),
        ("mf-globex-2", RunStatus.CANCELED),
    ]


def test_a_step_lost_with_its_worker_follows_its_retry_and_the_rollout_counts_the_retry(scope, acme, work):
    add_servers(acme, "mf-acme-1", "mf-acme-2")
    rollout = rollouts.start_rollout(scope, "site", "1", 0)  # threshold 0: the first failure stops it
    [lost] = rollout_runs(rollout)
    assert locks.claim(lost.id) is not None
    # Its worker dies: nothing renews the lease, which lapses; the reaper's pass finds it.
    db.session.execute(
        update(Run).where(Run.id == lost.id).values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()

    assert reap_lost_runs() == 1

    [retry] = rollout_runs(rollout)
    assert retry.retry_of_id == lost.id and retry.status == RunStatus.QUEUED
    assert db.session.get(Run, lost.id).failure_reason.startswith("worker lost")
    rollouts.advance(rollout.id)  # another run's end takes a step: the lost one is no failure of the rollout
    assert db.session.get(Rollout, rollout.id).status == RolloutStatus.RUNNING
    assert rollouts.progress(db.session.get(Rollout, rollout.id))["failed"] == 0
    work()
    done = db.session.get(Rollout, rollout.id)
    assert done.status == RolloutStatus.COMPLETED
    assert [(r.limit, r.status) for r in rollout_runs(rollout)] == [
        ("mf-acme-1", RunStatus.SUCCESSFUL),
        ("mf-acme-2", RunStatus.SUCCESSFUL),
    ]
    assert rollout_runs(rollout)[0].retry_of_id == lost.id


def test_a_retry_by_hand_of_a_finished_rollouts_step_leaves_the_rollout_as_it_ended(scope, acme, work):
    add_servers(acme, "mf-acme-1-bad")
    rollout = rollouts.start_rollout(scope, "site", "1", 0)
    work()
    [failed] = rollout_runs(rollout)
    assert db.session.get(Rollout, rollout.id).status == RolloutStatus.STOPPED

    retry = runs.retry_run(scope, failed.id)

    assert retry.retry_of_id == failed.id
    assert [r.id for r in rollout_runs(rollout)] == [failed.id]  # its record stays the run it stopped on
