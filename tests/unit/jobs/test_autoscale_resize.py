"""Auto-scaling in mode act, end to end short of a browser: the hourly usage job (jobs.usage) finds a
busy server, queues the resize run, and the worker runs playbooks/resize.yml through
ansible-runner against the Hostwinds double; afterwards the instance, the server row, its price
and the decision show the new plan, and the next hourly job orders nothing more."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from jobs.app import use_app
from jobs.usage import rollup_usage
from mailfleet.clock import utcnow
from mailfleet.hostwinds import HostwindsClient
from testbed.doubles import hostwinds as hostwinds_double
from testbed.doubles.hostwinds import DEFAULT_KEY
from webapp.extensions import db
from webapp.integrations import secret_store
from webapp.models import (
    AutoScale,
    HealthAlert,
    Run,
    RunStatus,
    ScaleAction,
    ScaleDecision,
    Server,
    ServerStatus,
)
from webapp.models.usage import FIVE_MINUTES, UsageSample
from webapp.services import tenants
from webapp.testing import ServedApp, make_app

pytestmark = [pytest.mark.unit, pytest.mark.timeout(300)]

REPO_PLAYBOOKS = Path(__file__).resolve().parents[3] / "playbooks"


@pytest.fixture
def double(monkeypatch):
    state = hostwinds_double.HostwindsState(resize_seconds=0.5)
    state.seed(1, tenants=1)  # mf-tenant000-1, ACTIVE on plan 101 (1 GB, $4.99)
    served = ServedApp(hostwinds_double.create_app(state))
    monkeypatch.setenv("HOSTWINDS_API_URL", f"{served.url}/cloud/api.php")  # the run's child gets it
    yield state, f"{served.url}/cloud/api.php"
    served.stop()


@pytest.fixture
def app(tmp_path, double):
    """The control plane running the repository's playbooks, its provider the double."""
    _, url = double
    app = make_app(
        tmp_path,
        MAILFLEET_PLAYBOOK_DIR=REPO_PLAYBOOKS,
        HOSTWINDS_CLIENT=HostwindsClient(DEFAULT_KEY, url, attempts=1),
    )
    use_app(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    use_app(None)


def test_act_resizes_a_busy_server_on_the_double_through_the_worker(app, scope, work, double):
    state, _ = double
    secret_store(app).put("global/hostwinds", {"api_key": DEFAULT_KEY})
    tenant = tenants.create_tenant(scope, "tenant000", "Tenant Zero")
    tenant.autoscale = AutoScale.ACT
    server = Server(
        tenant_id=tenant.id,
        name="mf-tenant000-1",
        plan="Unmetered SSD VPS 1 GB",
        monthly_price=Decimal("4.99"),
        status=ServerStatus.ACTIVE,
    )
    db.session.add(server)
    db.session.commit()
    end = int(utcnow().timestamp()) // FIVE_MINUTES * FIVE_MINUTES
    db.session.add_all(  # 15 days at 95 % CPU: the 2 GB plan is the next with more room
        UsageSample(
            server_id=server.id,
            step=FIVE_MINUTES,
            ts=end - i * FIVE_MINUTES,
            samples=1,
            cpu_pct=95,
            cpu_peak_pct=95,
            mem_used_mb=300,
            mem_total_mb=1000,
            disk_used_mb=5_000,
            disk_total_mb=30_720,
        )
        for i in range(15 * 288)
    )
    db.session.commit()

    summary = rollup_usage()
    assert summary["notifications"] >= 0
    [run] = db.session.scalars(select(Run)).all()
    assert (run.catalogue_key, run.extravars["server_plan"]) == ("resize", "102")
    work()
    db.session.refresh(run)
    assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
    [record] = state.instances.values()
    assert (record["product_id"], record["status"]) == (102, "ACTIVE")
    db.session.refresh(server)
    assert (server.plan, server.monthly_price) == ("Unmetered SSD VPS 2 GB", Decimal("9.99"))
    [decision] = db.session.scalars(select(ScaleDecision)).all()
    assert (decision.action, decision.run_id) == (ScaleAction.RESIZED, run.id)
    assert "because 95th percentile CPU 95 % > 80 %" in decision.reason

    rollup_usage()  # an hour later: judged on the new plan's samples only, nothing more ordered
    assert len(db.session.scalars(select(Run)).all()) == 1
    last = db.session.scalars(select(ScaleDecision).order_by(ScaleDecision.id.desc())).first()
    assert last.action is ScaleAction.SETTLED
    alert = db.session.scalar(select(HealthAlert).where(HealthAlert.check == "autoscale"))
    assert alert.state == "resolved" and "ordered as run" in alert.events[0].detail
