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
