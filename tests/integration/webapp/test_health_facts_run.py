"""The periodic facts job on the testbed: enqueue_health_facts submits the tenant's run, a worker
runs the real playbooks/health_facts.yml through the runner bridge with the tenant's own key
against a real host, and the sweep's facts reader finds a fresh, readable document for it."""

from __future__ import annotations

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import select

pytestmark = pytest.mark.testbed


@pytest.fixture
def app(tmp_path):
    from jobs.app import use_app
    from webapp.extensions import db
    from webapp.testing import make_app

    app = make_app(tmp_path)  # fakeredis: this test is about the run, not the queue
    use_app(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    use_app(None)


def test_facts_run_writes_a_document_the_sweep_reads(testbed, testbed_hosts, app, tmp_path, monkeypatch):
    from jobs.health_facts import enqueue_health_facts
    from mailfleet.clock import utcnow
    from mailfleet.monitoring import FactsThresholds, Status, facts_results
    from mailfleet.secrets.paths import SSH_KEY, tenant_path
    from webapp.extensions import db
    from webapp.integrations import secret_store
    from webapp.models import Role, Run, RunStatus, Server, ServerStatus
    from webapp.queue import get_queue
    from webapp.services import accounts, tenants
    from webapp.services.scope import Scope
    from webapp.services.usage import read_facts

    facts_dir = tmp_path / "facts"
    monkeypatch.setenv("MAILFLEET_HEALTH_FACTS_DIR", str(facts_dir))
    admin = accounts.create_user("admin@example.com", "correct horse battery", Role.ADMIN, None)
    tenant = tenants.create_tenant(Scope(admin), "factsco", "Facts Co")
    public_key = secret_store().get_field(tenant_path("factsco", SSH_KEY), "public_key")
    host = testbed_hosts("mf-factsco-1", authorized_keys=(public_key,))
    db.session.add(
        Server(tenant_id=tenant.id, name="mf-factsco-1", public_ipv4=host.address, status=ServerStatus.ACTIVE,
               ssh_host_keys=testbed.host_keys("mf-factsco-1"))  # as provisioning pins them
    )
    db.session.commit()

    assert enqueue_health_facts()["runs"] == 1
    queue = get_queue(app)
    SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
    db.session.expire_all()
    run = db.session.execute(select(Run)).scalar_one()
    assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
    recap = run.recap["mf-factsco-1"]
    assert set(run.recap) == {"mf-factsco-1"} and recap["failed"] == recap["unreachable"] == 0

    assert sorted(p.name for p in facts_dir.iterdir()) == ["mf-factsco-1.json"]
    results = facts_results(["mf-factsco-1"], facts_dir, FactsThresholds(), utcnow())
    by_check = {r.check: r for r in results}
    assert by_check["facts"].status == Status.OK, by_check["facts"].detail
    assert len(results) > 1  # the inside checks themselves (disk, memory, load, ...) were evaluated
    assert all(r.server == "mf-factsco-1" for r in results)
    # The host's root is an overlay, not a block device (Ansible's mount facts skip it): measured
    # by statvfs, its disk is in the document and in the usage sample.
    assert 0 <= by_check["disk:/"].value <= 100, by_check["disk:/"].detail
    sample = read_facts(facts_dir, "mf-factsco-1")
    assert sample.disk_total_mb and 0 < sample.disk_used_mb <= sample.disk_total_mb


#: Written on the host between facts runs: on the 5-minute samples' clock, growth that fills the
#: host's disk within hours whatever the free space of the machine under the testbed.
FILL_MB = 3072


def test_a_host_filled_with_a_large_file_gets_a_disk_full_forecast_and_an_alert(
    testbed, testbed_hosts, app, tmp_path, monkeypatch
):
    from datetime import timedelta

    from jobs.health_facts import enqueue_health_facts
    from mailfleet.clock import utcnow
    from mailfleet.monitoring import Status, record_results
    from mailfleet.secrets.paths import SSH_KEY, tenant_path
    from webapp.extensions import db
    from webapp.integrations import secret_store
    from webapp.models import HealthAlert, Role, Run, RunStatus, Server, ServerStatus, SqlHealthStore
    from webapp.models.usage import FIVE_MINUTES
    from webapp.queue import get_queue
    from webapp.services import accounts, capacity, costs, tenants, usage
    from webapp.services.scope import Scope

    facts_dir = tmp_path / "facts"
    monkeypatch.setenv("MAILFLEET_HEALTH_FACTS_DIR", str(facts_dir))
    admin = accounts.create_user("admin@example.com", "correct horse battery", Role.ADMIN, None)
    tenant = tenants.create_tenant(Scope(admin), "fillco", "Fill Co")
    public_key = secret_store().get_field(tenant_path("fillco", SSH_KEY), "public_key")
    host = testbed_hosts("mf-fillco-1", authorized_keys=(public_key,))
    server = Server(
        tenant_id=tenant.id,
        name="mf-fillco-1",
        public_ipv4=host.address,
        status=ServerStatus.ACTIVE,
        ssh_host_keys=testbed.host_keys("mf-fillco-1"),
    )
    db.session.add(server)
    db.session.commit()
    queue = get_queue(app)
    now = utcnow()
    try:
        # Three facts runs, each recorded as the sample of one 5-minute bucket, a large file
        # written on the host before the second and the third.
        for number, minutes in enumerate((-10, -5, 0)):
            if number:
                host.ssh(f"fallocate -l {FILL_MB}M /var/tmp/mailfleet-fill{number}")
            assert enqueue_health_facts()["runs"] == 1
            SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
            db.session.expire_all()
            run = db.session.scalars(select(Run).order_by(Run.id.desc())).first()
            assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
            assert usage.record_samples(now + timedelta(minutes=minutes), facts_dir) == 1
    finally:
        host.ssh("rm -f /var/tmp/mailfleet-fill*", check=False)

    used = [v for _, v in usage.window(server.id, FIVE_MINUTES, 0).points("disk_used_mb")]
    growth = [later - earlier for earlier, later in zip(used, used[1:], strict=False)]
    assert len(used) == 3 and all(step > FILL_MB / 2 for step in growth), used
    [result] = capacity.forecast_results(now)
    assert (result.server, result.check, result.status) == ("mf-fillco-1", "disk_forecast", Status.ERROR)
    assert result.value is not None and result.value < 2, result.detail
    assert "over the last 6 hours" in result.detail
    record_results(SqlHealthStore(), [result], costs.BUDGET_POLICY)
    [alert] = db.session.scalars(select(HealthAlert)).all()
    assert (alert.server_id, alert.check, alert.state) == (server.id, "disk_forecast", "open")
