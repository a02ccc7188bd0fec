"""Failover through the real queue: the cron table's failover job (jobs.failover.check_failover), put
on the system queue of the testbed's Redis as `rq cron` puts it, is run by the Procfile's system
worker process against the Hostwinds double. Two tenants each have a server whose every port check
has alerted for longer than MAILFLEET_FAILOVER_AFTER_MINUTES: the one not opted in is offered its
recovery, the one opted in has it started onto another location of its region; each decision and
its reason go on the outage's timeline, and the recovery's first run waits on the playbook queue in
Redis. A second round decides nothing again.

What this tier does not do: boot the servers or let the health sweep open the port alerts (they
are written as the sweep writes them), or run the recovery it queued; the recovery chain itself,
from the web, runs on the testbed in tests/integration/mail/test_web_restore.py."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.testbed

PORTS = ("port:25", "port:993")
SNAPSHOTS = [{"id": "7" * 64, "short_id": "7" * 8, "time": "2026-12-01T10:00:00Z"}]


@pytest.fixture
def plane(testbed, repo_root, tmp_path, monkeypatch):
    """An app on the testbed's Redis (queues of its own) and the Procfile's system worker, one process."""
    from leftovers import fail_on_leftovers

    from jobs.app import use_app
    from testbed.daemons import start, stop
    from testbed.demo import seed_hostwinds_key
    from testbed.stack import Stack, expand, procfile
    from webapp.extensions import db
    from webapp.queue import get_queue, get_system_queue
    from webapp.testing import make_app

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    suffix = uuid.uuid4().hex[:8]
    stack = Stack(testbed, data)
    env = {
        **stack.env(),
        "DATABASE_URL": f"sqlite:///{data / 'mailfleet.db'}",
        "MAILFLEET_QUEUE": f"mf-failover-{suffix}",
        "MAILFLEET_SYSTEM_QUEUE": f"mf-failover-system-{suffix}",
    }
    env.pop("MAILFLEET_SITE_VARS_FILE")  # no run is executed here
    monkeypatch.delenv("MAILFLEET_SITE_VARS_FILE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    testbed.start_double("hostwinds")
    seed_hostwinds_key(testbed, stack)
    app = make_app(
        data,
        REDIS_CONNECTION=None,
        REDIS_URL=testbed.redis_url,
        SECRET_STORE=None,  # the store the worker process sees
        MAILFLEET_QUEUE=env["MAILFLEET_QUEUE"],
        MAILFLEET_SYSTEM_QUEUE=env["MAILFLEET_SYSTEM_QUEUE"],
    )
    use_app(app)
    command = procfile()["system"].replace("--num-workers 2", "--num-workers 1")
    with app.app_context():
        worker = None
        try:
            worker = start(expand(command, env), log=data / "system.log", env=env, cwd=repo_root)
            yield app
        finally:
            if worker is not None:
                stop(worker, timeout=5)
            get_queue(app).delete(delete_jobs=True)
            get_system_queue(app).delete(delete_jobs=True)
            db.session.remove()
            db.engine.dispose()
            use_app(None)
            fail_on_leftovers(data)


def down_server(slug: str, address: str, opted_in: bool):
    """A tenant's server in Seattle with a snapshot, each of its port checks alerting for 45 minutes;
    the alert on its first port, the outage's timeline."""
    from mailfleet.clock import utcnow
    from webapp.extensions import db
    from webapp.models import HealthAlert, HealthCheck, Server, ServerBackup, ServerStatus, Tenant

    tenant = Tenant(slug=slug, name=slug, failover_auto=opted_in)
    db.session.add(tenant)
    db.session.flush()
    server = Server(
        tenant_id=tenant.id, name=f"mf-{slug}-1", mail_hostname=f"mail.{slug}.test", public_ipv4=address,
        provider="hostwinds", location="Seattle", plan="101", status=ServerStatus.ACTIVE,
    )
    db.session.add(server)
    db.session.flush()
    db.session.add(ServerBackup(server_id=server.id, collected_at=utcnow(),
                                status={"repository": {"snapshots": SNAPSHOTS}}))
    alerts = []
    for port in PORTS:
        check = f"{port}@{address}"
        alert = HealthAlert(server_id=server.id, check=check, severity="critical", state="open",
                            opened_at=utcnow() - timedelta(minutes=45))
        db.session.add(alert)
        db.session.flush()
        db.session.add(HealthCheck(server_id=server.id, check=check, last_status="error", alert_id=alert.id))
        alerts.append(alert)
    db.session.commit()
    return server, alerts[0]


def round_of_the_cron_job(app) -> dict[str, int]:
    """check_failover on the system queue, as rq cron enqueues it; its result once the worker ran it."""
    from rq.job import JobStatus

    from webapp.extensions import db
    from webapp.queue import get_system_queue

    job = get_system_queue(app).enqueue("jobs.failover.check_failover", job_timeout=120)
    deadline = time.monotonic() + 120  # the worker process's start; the job itself takes a second
    while job.get_status(refresh=True) not in (JobStatus.FINISHED, JobStatus.FAILED):
        assert time.monotonic() < deadline, "the system worker did not run the failover job"
        time.sleep(0.5)
    assert job.get_status() == JobStatus.FINISHED, job.latest_result().exc_string
    db.session.expire_all()
    return job.return_value()


def failover_timeline(alert) -> list[str]:
    from mailfleet.monitoring import EventKind
    from webapp.extensions import db
    from webapp.models import HealthAlertEvent

    return list(db.session.scalars(
        select(HealthAlertEvent.detail)
        .where(HealthAlertEvent.alert_id == alert.id, HealthAlertEvent.kind == EventKind.FAILOVER)
        .order_by(HealthAlertEvent.id)
    ))


def test_the_cron_job_offers_or_starts_the_recovery_of_a_down_server_and_says_why(plane):
    from webapp.extensions import db
    from webapp.models import Run, RunStatus
    from webapp.queue import RUN_JOB, get_queue

    asked, asked_alert = down_server("offered", "198.19.0.30", opted_in=False)
    auto, auto_alert = down_server("optedin", "198.19.0.31", opted_in=True)

    assert round_of_the_cron_job(plane) == {"offered": 1, "started": 1, "refused": 0}
    [offer] = failover_timeline(asked_alert)
    assert offer.startswith("failover offered: every port check of mf-offered-1 has failed since ")
    assert offer.endswith("offered recovers it from the recovery page"), offer
    [started] = failover_timeline(auto_alert)
    assert started.startswith("failover started: recovery run ")
    assert "every port check of mf-optedin-1 has failed since" in started

    # The recovery of the opted-in tenant's server: its first run, queued in Redis for a playbook worker.
    [run] = db.session.scalars(select(Run).where(Run.catalogue_key == "provision"))
    assert f"recovery run {run.id} " in started and run.tenant_id == auto.tenant_id
    assert run.status == RunStatus.QUEUED
    assert run.extravars["recover_from_host"] == "mf-optedin-1"
    assert run.extravars["server_location"] == "Dallas"  # another location in the lost server's region
    assert run.extravars["mail_hostname"] == "mail.optedin.test"
    assert RUN_JOB.job_id(run.id, plane) in get_queue(plane).job_ids

    # The next round: each decision stands, nothing is offered or started again.
    assert round_of_the_cron_job(plane) == {"offered": 0, "started": 0, "refused": 0}
    assert failover_timeline(asked_alert) == [offer] and failover_timeline(auto_alert) == [started]
    assert db.session.scalar(select(Run.id).where(Run.id != run.id)) is None
    print(f"\nfailover job: offered {asked.name}'s recovery, started {auto.name}'s as run {run.id}")
