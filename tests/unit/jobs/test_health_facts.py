"""The periodic inside-facts job: registered in the cron table every 5 minutes, one run per tenant
with active servers, executed by the ordinary worker path (runner bridge, tenant inventory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rq.cron import CronScheduler
from sqlalchemy import select

from jobs.health_facts import enqueue_health_facts
from jobs.periodic import limits
from webapp.extensions import db
from webapp.models import Run, RunStatus, RunTrigger, Server, ServerStatus
from webapp.queue import get_queue

pytestmark = pytest.mark.unit


@pytest.fixture
def playbook_flavour() -> str:
    return "facts"


@pytest.fixture
def facts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "facts"
    monkeypatch.setenv("MAILFLEET_HEALTH_FACTS_DIR", str(directory))
    return directory


def _server(tenant, name: str, address: str | None, status: ServerStatus = ServerStatus.ACTIVE) -> None:
    db.session.add(
        Server(tenant_id=tenant.id if tenant else None, name=name, public_ipv4=address, status=status)
    )
    db.session.commit()


def test_cron_registers_the_facts_job_at_the_sweeps_cadence(app):
    """Each sweep reads fresh facts: the facts play runs as often as the sweep (the cadence itself,
    300 s unless set, is tested with the cron table in test_periodic)."""
    cron = CronScheduler(connection=get_queue(app).connection)
    cron.load_config_from_file("jobs.cron")
    jobs = {job.func_name: job for job in cron.get_jobs()}
    facts = jobs["jobs.health_facts.enqueue_health_facts"]
    assert facts.interval == jobs["jobs.health.sweep_health"].interval
    assert facts.queue_name == "mailfleet-system"


def test_one_run_per_tenant_with_servers_then_the_worker_writes_the_documents(
    app, scope, acme, globex, work, facts_dir
):
    from webapp.services import tenants

    tenants.create_tenant(scope, "initech", "Initech")  # no servers: no run
    _server(acme, "mf-acme-1", "198.18.21.10")
    _server(acme, "mf-acme-2", "198.18.21.11")
    _server(acme, "mf-acme-3", "198.18.21.12", ServerStatus.STOPPED)  # not collected
    _server(acme, "mf-acme-4", None, ServerStatus.ACTIVE)  # no address yet
    _server(globex, "mf-globex-1", "198.18.21.20")
    _server(None, "mf-nobody-1", "198.18.21.30")  # no tenant: nobody's key can reach it

    assert enqueue_health_facts() == {"tenants": 2, "runs": 2, "skipped_busy": 0}
    queued = {r.tenant.slug: r for r in db.session.execute(select(Run)).scalars()}
    assert set(queued) == {"acme", "globex"}
    assert queued["acme"].limit == "mf-acme-1,mf-acme-2" and queued["globex"].limit == "mf-globex-1"
    for run in queued.values():
        assert run.playbook == "health_facts.yml" and run.status == RunStatus.QUEUED
        assert run.extravars == {"health_facts_dir": str(facts_dir)} and run.created_by_id is None
        assert run.trigger == RunTrigger.SCHEDULE and run.catalogue_key == "health_facts"
    assert len(get_queue(app).job_ids) == 2

    # A tenant whose facts run has not finished gets no second one.
    assert enqueue_health_facts() == {"tenants": 0, "runs": 0, "skipped_busy": 2}

    work()
    for run in db.session.execute(select(Run)).scalars():
        assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
    written = sorted(p.name for p in facts_dir.iterdir())
    assert written == ["mf-acme-1.json", "mf-acme-2.json", "mf-globex-1.json"]  # not localhost
    assert json.loads((facts_dir / "mf-globex-1.json").read_text())["host"] == "mf-globex-1"

    # Finished runs do not block the next round.
    assert enqueue_health_facts()["runs"] == 2


def test_without_a_facts_directory_nothing_is_submitted(app, acme, monkeypatch):
    monkeypatch.delenv("MAILFLEET_HEALTH_FACTS_DIR", raising=False)
    _server(acme, "mf-acme-1", "198.18.21.10")
    assert enqueue_health_facts()["runs"] == 0
    assert db.session.execute(select(Run)).first() is None


def test_limits_fit_the_run_row():
    names = [f"mf-tenant{n:03d}-{n}" for n in range(40)]
    chunks = limits(names)
    assert len(chunks) > 1 and all(len(c) <= 255 for c in chunks)
    assert ",".join(chunks).split(",") == names
    assert limits([]) == [] and limits(["a"]) == ["a"]
