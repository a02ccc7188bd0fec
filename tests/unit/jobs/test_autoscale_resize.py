"""Auto-scaling in mode act, as a journey short of a browser, on a real Redis and the Hostwinds
double: two tenants opted in, each with a server busy for 15 days. rq cron's hourly usage job,
enqueued as the scheduler enqueues it, finds both; it queues the resize run of one, and the worker
runs playbooks/resize.yml through ansible-runner against the double; the other tenant's spending
limit is below the next plan, so its resize is held, with the reason. Afterwards the instance, the
server row, its costs and price history, the usage page and the API show the new plan and the
decisions with their reasons, and the next hourly job orders nothing more."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from controlplane import cron_job
from sqlalchemy import select

from jobs.app import use_app
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
from webapp.models.usage import FIVE_MINUTES, CostPeriod, UsageSample
from webapp.services import accounts, costs, tenants
from webapp.testing import ServedApp, make_app

pytestmark = [pytest.mark.unit, pytest.mark.timeout(300)]

REPO_PLAYBOOKS = Path(__file__).resolve().parents[3] / "playbooks"
ONE_GB, TWO_GB = "Unmetered SSD VPS 1 GB", "Unmetered SSD VPS 2 GB"


@pytest.fixture
def double(monkeypatch):
    state = hostwinds_double.HostwindsState(resize_seconds=0.5)
    state.seed(2, tenants=2)  # mf-tenant000-1 and mf-tenant001-1, ACTIVE on plan 101 (1 GB, $4.99)
    served = ServedApp(hostwinds_double.create_app(state))
    monkeypatch.setenv("HOSTWINDS_API_URL", f"{served.url}/cloud/api.php")  # the run's child gets it
    yield state, f"{served.url}/cloud/api.php"
    served.stop()


@pytest.fixture
def app(tmp_path, double, real_redis):
    """The control plane on a real Redis, running the repository's playbooks, its provider the double."""
    _, url = double
    app = make_app(
        tmp_path,
        MAILFLEET_PLAYBOOK_DIR=REPO_PLAYBOOKS,
        HOSTWINDS_CLIENT=HostwindsClient(DEFAULT_KEY, url, attempts=1),
        REDIS_CONNECTION=real_redis,
    )
    use_app(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    use_app(None)


def busy_server(scope, slug: str, **limits) -> Server:
    """The tenant, opted in to act, and its 1 GB server after 15 days at 95 % CPU (the 2 GB plan is
    the next with more room)."""
    tenant = tenants.create_tenant(scope, slug, slug.title())
    tenant.autoscale = AutoScale.ACT
    for name, value in limits.items():
        setattr(tenant, name, value)
    server = Server(
        tenant_id=tenant.id,
        name=f"mf-{slug}-1",
        plan=ONE_GB,
        monthly_price=Decimal("4.99"),
        status=ServerStatus.ACTIVE,
    )
    db.session.add(server)
    db.session.commit()
    end = int(utcnow().timestamp()) // FIVE_MINUTES * FIVE_MINUTES
    db.session.add_all(
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
    return server


def test_act_resizes_a_busy_server_on_the_double_and_holds_one_past_its_spending_limit(app, scope, double):
    state, _ = double
    secret_store(app).put("global/hostwinds", {"api_key": DEFAULT_KEY})
    server = busy_server(scope, "tenant000")
    held = busy_server(scope, "tenant001", max_monthly_spend=Decimal("8.00"))  # 4.99 + 5.00 is past it
    costs.sync_periods(utcnow())  # the 5-minute sampler keeps the price history

    cron_job(app, "jobs.usage.rollup_usage")
    [run] = db.session.scalars(select(Run)).all()
    assert (run.catalogue_key, run.tenant_id) == ("resize", server.tenant_id)
    assert run.extravars["server_plan"] == "102"
    assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
    record = next(r for r in state.instances.values() if r["srvrname"] == "mf-tenant000-1")
    assert (record["product_id"], record["status"]) == (102, "ACTIVE")
    db.session.refresh(server)
    assert (server.plan, server.monthly_price) == (TWO_GB, Decimal("9.99"))
    [decision] = db.session.scalars(select(ScaleDecision).where(ScaleDecision.server_id == server.id)).all()
    assert (decision.action, decision.run_id) == (ScaleAction.RESIZED, run.id)
    assert "because 95th percentile CPU 95 % > 80 %" in decision.reason
    [holding] = db.session.scalars(select(ScaleDecision).where(ScaleDecision.server_id == held.id)).all()
    assert holding.action is ScaleAction.HELD and holding.run_id is None
    assert (
        "mf-tenant001-1 upsize to Unmetered SSD VPS 2 GB (+5.00 dollars a month) held: tenant tenant001 may "
        "spend at most 8.00 a month; its servers cost 4.99 and this change 5.00 more"
    ) in holding.reason
    assert db.session.get(Server, held.id).plan == ONE_GB

    costs.sync_periods(utcnow())  # the next sample: the resize counts in the costs from now on
    history = db.session.scalars(
        select(CostPeriod).where(CostPeriod.server_id == server.id).order_by(CostPeriod.id)
    ).all()
    assert [(p.plan, p.monthly_price, p.ended_at is None) for p in history] == [
        (ONE_GB, Decimal("4.99"), False),
        (TWO_GB, Decimal("9.99"), True),
    ]
    admin = {"Authorization": f"Bearer {accounts.issue_api_token(scope.user)}"}
    client = app.test_client()
    [line] = client.get("/api/v1/tenants/tenant000/costs", headers=admin).get_json()["servers"]
    assert (line["plan"], line["monthly_price"]) == (TWO_GB, "9.99")
    for found, action in ((server, "resized"), (held, "held")):
        answer = client.get(f"/api/v1/servers/{found.id}/autoscale", headers=admin).get_json()
        assert (answer["decisions"][0]["action"], answer["decisions"][0]["change"]) == (action, "5.00")

    # an hour later: judged on the new plan's samples only, nothing more ordered
    cron_job(app, "jobs.usage.rollup_usage")
    assert len(db.session.scalars(select(Run)).all()) == 1
    last = db.session.scalars(
        select(ScaleDecision).where(ScaleDecision.server_id == server.id).order_by(ScaleDecision.id.desc())
    ).first()
    assert last.action is ScaleAction.SETTLED
    found = db.session.scalars(select(HealthAlert).where(HealthAlert.check == "autoscale"))
    alerts = {a.server_id: a for a in found}
    assert alerts[server.id].state == "resolved" and "ordered as run" in alerts[server.id].events[0].detail
    assert alerts[held.id].state != "resolved" and "may spend at most 8.00" in alerts[held.id].detail
