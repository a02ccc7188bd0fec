"""/healthz, /readyz and /metrics: what a reverse proxy, a monitor and Prometheus see."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, Worker
from rq.cron import CronScheduler

from mailfleet.clock import utcnow
from webapp import metrics
from webapp.extensions import db
from webapp.models import (
    CostPeriod,
    HealthAlert,
    HealthCheck,
    Run,
    RunStatus,
    RunTrigger,
    Server,
    ServerStatus,
    WarmupPlan,
)
from webapp.queue import JobQueue, redis_connection
from webapp.services import accounts

pytestmark = pytest.mark.unit


def _workers(app) -> list[Worker]:
    """One live worker per queue the control plane needs, registered in Redis as rq does."""
    connection = redis_connection(app)
    workers = []
    for queue in JobQueue:
        worker = Worker([Queue(queue.name_in(app.config), connection=connection)], connection=connection)
        worker.register_birth()
        worker.set_state("idle")
        workers.append(worker)
    return workers


def _cron(app) -> CronScheduler:
    scheduler = CronScheduler(connection=redis_connection(app))
    scheduler.register_birth()
    return scheduler


def test_healthz_answers_without_a_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_red_until_workers_and_a_scheduler_are_alive(app, client):
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert {name for name, check in checks.items() if check["ok"]} == {"database", "redis", "secrets"}
    assert (
        checks["workers"]["detail"] == "no live worker serves mailfleet, mailfleet-system, mailfleet-reaper"
    )
    assert "no rq cron scheduler" in checks["cron"]["detail"]

    workers = _workers(app)
    _cron(app)
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "ready"

    workers[0].register_death()  # the playbook runs' worker service stops
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["workers"] == {
        "ok": False,
        "detail": "no live worker serves mailfleet",
    }


def test_readyz_names_a_database_that_does_not_answer(app, client, tmp_path):
    _workers(app)
    _cron(app)
    db.engine.dispose()
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {}
    (tmp_path / "mailfleet.db").unlink()
    (tmp_path / "mailfleet.db").mkdir()  # a path that is no database
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["database"]["ok"] is False
    assert checks["redis"]["ok"] is True


def test_metrics_need_an_administrators_token(app, client, world):
    assert client.get("/metrics").status_code == 401
    member_token = accounts.issue_api_token(world.alice)
    assert client.get("/metrics", headers={"Authorization": f"Bearer {member_token}"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer mft_wrong"}).status_code == 401
    admin_token = accounts.issue_api_token(world.admin)
    response = client.get("/metrics", headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")


def _scrape(client, world) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    token = accounts.issue_api_token(world.admin)
    text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _run(world, status: RunStatus, wait: int | None, took: int | None, trigger=RunTrigger.USER) -> Run:
    created = utcnow() - timedelta(hours=1)
    started = created + timedelta(seconds=wait) if wait is not None else None
    finished = started + timedelta(seconds=took) if started is not None and took is not None else None
    run = Run(
        tenant_id=world.acme.id,
        playbook="site.yml",
        trigger=trigger,
        status=status,
        created_at=created,
        started_at=started,
        finished_at=finished,
        event_count=10,
    )
    db.session.add(run)
    return run


def test_metrics_count_runs_and_their_waits_from_the_database(client, world):
    _run(world, RunStatus.SUCCESSFUL, wait=3, took=100)
    _run(world, RunStatus.FAILED, wait=40, took=700)
    _run(world, RunStatus.RUNNING, wait=2000, took=None, trigger=RunTrigger.SCHEDULE)
    _run(world, RunStatus.QUEUED, wait=None, took=None)
    db.session.commit()
    got = _scrape(client, world)

    assert got[("mailfleet_runs_created_total", (("playbook", "site.yml"), ("trigger", "user")))] == 3
    assert got[("mailfleet_runs_created_total", (("playbook", "site.yml"), ("trigger", "schedule")))] == 1
    assert got[("mailfleet_runs_finished_total", (("playbook", "site.yml"), ("status", "failed")))] == 1
    assert got[("mailfleet_runs_finished_total", (("playbook", "site.yml"), ("status", "successful")))] == 1
    assert got[("mailfleet_runs", (("state", "queued"),))] == 1
    assert got[("mailfleet_runs", (("state", "running"),))] == 1
    assert got[("mailfleet_run_events_total", ())] == 40

    wait = "mailfleet_run_queue_wait_seconds"
    assert got[(f"{wait}_bucket", (("le", "5.0"), ("playbook", "site.yml")))] == 1
    assert got[(f"{wait}_bucket", (("le", "60.0"), ("playbook", "site.yml")))] == 2
    assert got[(f"{wait}_bucket", (("le", "1800.0"), ("playbook", "site.yml")))] == 2
    assert got[(f"{wait}_bucket", (("le", "+Inf"), ("playbook", "site.yml")))] == 3
    assert got[(f"{wait}_sum", (("playbook", "site.yml"),))] == pytest.approx(2043, abs=0.01)
    took = "mailfleet_run_duration_seconds"
    assert got[(f"{took}_bucket", (("le", "120.0"), ("playbook", "site.yml"), ("status", "successful")))] == 1
    assert got[(f"{took}_bucket", (("le", "600.0"), ("playbook", "site.yml"), ("status", "failed")))] == 0
    assert got[(f"{took}_count", (("playbook", "site.yml"), ("status", "failed")))] == 1


def test_runs_are_counted_once_as_they_settle_between_scrapes(client, world, monkeypatch):
    """Runs finished long enough ago are kept by the collector; each scrape adds those that settled
    since the last one: a run counted fresh is counted once after it settles too, and a run that
    finishes between scrapes is added."""
    finished = "mailfleet_runs_finished_total", (("playbook", "site.yml"), ("status", "successful"))
    duration = "mailfleet_run_duration_seconds_count", (("playbook", "site.yml"), ("status", "successful"))
    _run(world, RunStatus.SUCCESSFUL, wait=3, took=100)  # finished long ago: settled at once
    fresh = _run(world, RunStatus.SUCCESSFUL, wait=3, took=100)
    fresh.created_at = utcnow() - timedelta(seconds=200)
    fresh.started_at, fresh.finished_at = utcnow() - timedelta(seconds=197), utcnow() - timedelta(seconds=97)
    running = _run(world, RunStatus.RUNNING, wait=3, took=None)
    db.session.commit()
    assert _scrape(client, world)[finished] == 2

    later = utcnow() + timedelta(minutes=10)
    monkeypatch.setattr("webapp.metrics.utcnow", lambda: later)
    running.status, running.finished_at = RunStatus.SUCCESSFUL, later - timedelta(minutes=6)
    db.session.commit()
    got = _scrape(client, world)
    assert got[finished] == 3 and got[duration] == 3
    assert got[("mailfleet_runs", (("state", "running"),))] == 0
    assert _scrape(client, world)[finished] == 3


def test_metrics_read_workers_queues_and_the_scheduler_from_redis(app, client, world):
    redis = redis_connection(app)
    Queue(app.config["MAILFLEET_QUEUE"], connection=redis).enqueue("jobs.execute.execute_run", 1)
    _workers(app)
    got = _scrape(client, world)
    assert got[("mailfleet_queue_jobs", (("queue", "mailfleet"), ("state", "queued")))] == 1
    assert got[("mailfleet_queue_jobs", (("queue", "mailfleet-system"), ("state", "queued")))] == 0
    assert got[("mailfleet_workers", (("state", "idle"),))] == 3
    assert got[("mailfleet_workers", (("state", "busy"),))] == 0
    assert got[("mailfleet_cron_schedulers", ())] == 0
    _cron(app)
    assert _scrape(client, world)[("mailfleet_cron_schedulers", ())] == 1


def test_metrics_show_checks_alerts_and_the_fleets_figures(client, world):
    now = utcnow()
    server = Server(tenant_id=world.acme.id, name="mf-acme-1", status=ServerStatus.ACTIVE)
    db.session.add(server)
    db.session.flush()
    db.session.add_all(
        [
            HealthCheck(server_id=server.id, check="disk_forecast", last_status="warning", last_value=2.5),
            HealthCheck(
                server_id=server.id, check="dnsbl:zen.spamhaus.org:198.51.100.7", last_status="error"
            ),
            HealthCheck(server_id=server.id, check="dnsbl:bl.spamcop.net:198.51.100.7", last_status="ok"),
            HealthAlert(
                server_id=server.id,
                check="dnsbl:zen.spamhaus.org:198.51.100.7",
                severity="critical",
                state="open",
                opened_at=now,
            ),
            HealthAlert(
                server_id=server.id, check="smtp", severity="warning", state="resolved", opened_at=now
            ),
            CostPeriod(
                server_id=server.id, tenant_id=world.acme.id, monthly_price=Decimal("12.50"), started_at=now
            ),
            CostPeriod(
                server_id=server.id,
                tenant_id=world.acme.id,
                monthly_price=Decimal("99"),
                started_at=now - timedelta(days=60),
                ended_at=now - timedelta(days=30),
            ),
            WarmupPlan(
                tenant_id=world.acme.id,
                server_id=server.id,
                curve="standard",
                started_on=date.today() - timedelta(days=9),
                held_days=2,
            ),
        ]
    )
    db.session.commit()
    got = _scrape(client, world)
    assert got[("mailfleet_health_checks", (("status", "error"),))] == 1
    assert got[("mailfleet_health_checks", (("status", "warning"),))] == 1
    assert got[("mailfleet_health_checks", (("status", "ok"),))] == 1
    assert got[("mailfleet_alerts_open", (("severity", "critical"), ("state", "open")))] == 1
    assert not any(
        name == "mailfleet_alerts_open" and ("severity", "warning") in labels for name, labels in got
    )
    assert got[("mailfleet_tenant_monthly_cost_dollars", (("tenant", "acme"),))] == 12.5
    assert got[("mailfleet_server_disk_full_eta_seconds", (("server", "mf-acme-1"),))] == 2.5 * 86400
    assert got[("mailfleet_dnsbl_listings", (("zone", "zen.spamhaus.org"),))] == 1
    assert got[("mailfleet_dnsbl_listings", (("zone", "bl.spamcop.net"),))] == 0
    assert got[("mailfleet_server_warmup_day", (("server", "mf-acme-1"),))] == 8


def test_the_fleets_figures_are_read_again_after_the_sweeps_shortest_interval(client, world, monkeypatch):
    server = Server(tenant_id=world.acme.id, name="mf-acme-1", status=ServerStatus.ACTIVE)
    db.session.add(server)
    db.session.flush()
    forecast = HealthCheck(server_id=server.id, check="disk_forecast", last_status="warning", last_value=2.0)
    db.session.add(forecast)
    db.session.commit()
    eta = ("mailfleet_server_disk_full_eta_seconds", (("server", "mf-acme-1"),))
    assert _scrape(client, world)[eta] == 2 * 86400

    forecast.last_value = 1.0
    db.session.commit()
    assert _scrape(client, world)[eta] == 2 * 86400
    now = metrics.monotonic()
    monkeypatch.setattr(metrics, "monotonic", lambda: now + metrics.FLEET_KEPT_SECONDS)
    assert _scrape(client, world)[eta] == 1 * 86400


def test_metrics_count_http_requests_by_route_not_by_url(client, world):
    client.get("/healthz")
    client.get("/no/such/page/1")
    client.get("/no/such/page/2")
    got = _scrape(client, world)
    assert (
        got[
            (
                "mailfleet_http_requests_total",
                (("endpoint", "ops.healthz"), ("method", "GET"), ("status", "200")),
            )
        ]
        == 1
    )
    assert (
        got[("mailfleet_http_requests_total", (("endpoint", "none"), ("method", "GET"), ("status", "404")))]
        == 2
    )
    assert (
        got[
            (
                "mailfleet_http_request_duration_seconds_count",
                (("endpoint", "ops.healthz"), ("method", "GET")),
            )
        ]
        == 1
    )


def test_the_app_starts_on_a_database_not_migrated_yet(tmp_path):
    """`flask upgrade` builds the app before the tables exist: nothing may query them at start."""
    from webapp import create_app

    app = create_app(
        {
            "SECRET_KEY": "k",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}",
            "MAILFLEET_DATA_DIR": tmp_path,
        }
    )
    assert "ops.metrics_page" in app.view_functions
