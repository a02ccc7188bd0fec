"""The cron table (JSON jobs from `rq cron`), the reaper entry point and the server refresh."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fakeredis import FakeRedis
from rq import Queue
from rq.cron import CronScheduler
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select

from jobs.servers import refresh_servers
from mailfleet.hostwinds import HostwindsClient
from mailfleet.hostwinds.instances import instance_records
from testbed.doubles import hostwinds as hostwinds_double
from webapp.extensions import db
from webapp.models import Server, ServerStatus
from webapp.queue import get_queue, get_system_queue
from webapp.testing import ServedApp

pytestmark = pytest.mark.unit


def test_cron_registers_refresh_and_reaper_as_json_jobs_on_the_system_queue(app, work):
    queue = get_system_queue(app)
    cron = CronScheduler(connection=queue.connection)
    cron.load_config_from_file("jobs.cron")
    jobs = {job.func_name: job for job in cron.get_jobs()}
    assert jobs["jobs.servers.refresh_servers"].interval == 600
    assert jobs["jobs.reaper.reap"].interval == 30
    # Never behind playbook runs: every periodic job goes to the system jobs' queue, and the
    # reaper to a queue of its own (its own worker), so not even a long sweep delays it.
    for cron_job in cron.get_jobs():
        want = "mailfleet-reaper" if cron_job.func_name == "jobs.reaper.reap" else "mailfleet-system"
        assert cron_job.queue_name == want, cron_job.func_name
    assert get_queue(app).count == 0
    enqueued = cron.enqueue_jobs()
    assert len(enqueued) == len(jobs)
    # Our workers read JSON only: every job the cron process enqueues must be JSON.
    reaper_queue = Queue("mailfleet-reaper", connection=queue.connection, serializer=JSONSerializer)
    for job_id in [*queue.job_ids, *reaper_queue.job_ids]:
        job = Job.fetch(job_id, connection=queue.connection, serializer=JSONSerializer)
        assert job.func_name in jobs
    assert reaper_queue.count == 1


def sweep_entry(monkeypatch, seconds: str | None):
    """The health sweep's entry in the cron table read with MAILFLEET_HEALTH_SWEEP_SECONDS=seconds."""
    if seconds is None:
        monkeypatch.delenv("MAILFLEET_HEALTH_SWEEP_SECONDS", raising=False)
    else:
        monkeypatch.setenv("MAILFLEET_HEALTH_SWEEP_SECONDS", seconds)
    cron = CronScheduler(connection=FakeRedis())
    cron.load_config_from_file("jobs.cron")
    jobs = {job.func_name: job for job in cron.get_jobs()}
    return jobs["jobs.health.sweep_health"], jobs["jobs.health_facts.enqueue_health_facts"]


def test_the_sweep_cadence_is_a_setting_and_a_sweep_ends_before_the_next(monkeypatch):
    sweep, facts = sweep_entry(monkeypatch, None)
    assert (sweep.interval, sweep.job_options["job_timeout"]) == (300, 270)
    sweep, facts = sweep_entry(monkeypatch, "60")
    assert (sweep.interval, sweep.job_options["job_timeout"]) == (60, 54)
    assert facts.interval == 60  # fresh inside facts for each sweep
    with pytest.raises(Exception, match="MAILFLEET_HEALTH_SWEEP_SECONDS=10 must be at least 30"):
        sweep_entry(monkeypatch, "10")
    monkeypatch.undo()
    sweep_entry(monkeypatch, None)  # leave the module as the environment has it


@pytest.fixture
def hostwinds(app):
    state = hostwinds_double.HostwindsState()
    served = ServedApp(hostwinds_double.create_app(state))
    app.config["HOSTWINDS_CLIENT"] = HostwindsClient(
        hostwinds_double.DEFAULT_KEY, f"{served.url}/cloud/api.php", attempts=1
    )
    yield state
    served.stop()


def test_refresh_servers_from_the_hostwinds_inventory(app, scope, hostwinds):
    from webapp.services import tenants

    tenant = tenants.create_tenant(scope, "tenant000", "Tenant zero")
    hostwinds.seed(3, tenants=2)  # mf-tenant000-1, mf-tenant001-1, mf-tenant000-2
    counts = refresh_servers()
    assert counts == {"added": 3, "updated": 0, "gone": 0}
    servers = {s.name: s for s in db.session.execute(select(Server)).scalars()}
    assert set(servers) == {"mf-tenant000-1", "mf-tenant001-1", "mf-tenant000-2"}
    mine = servers["mf-tenant000-1"]
    assert mine.tenant_id == tenant.id and servers["mf-tenant001-1"].tenant_id is None  # no such tenant
    assert mine.status == ServerStatus.ACTIVE and mine.public_ipv4 and mine.provider_id
    assert mine.monthly_price is not None and mine.plan and mine.location
    # The row says what the inventory plugin's host variables say of the same instance.
    client = app.config["HOSTWINDS_CLIENT"]
    record = next(r for r in instance_records(client, client.list_instances(), client.price_list())
                  if r["srvrname"] == mine.name)
    assert (mine.public_ipv4, mine.public_ipv6, mine.location, mine.plan, mine.monthly_price) == (
        record["public_ipv4"], record["public_ipv6"], record["location"], record["plan"],
        Decimal(record["monthly_price"]))
    # No secret of the provider's answer reaches the table.
    for instance in hostwinds.instances.values():
        for secret in (instance.get("password"), instance.get("configkey")):
            assert secret
            for server in servers.values():
                assert secret not in repr(vars(server))
    # An instance that disappears at the provider becomes "gone".
    hostwinds.instances.pop(mine.provider_id)
    assert refresh_servers() == {"added": 0, "updated": 2, "gone": 1}
    db.session.expire_all()
    assert db.session.get(Server, mine.id).status == ServerStatus.GONE
