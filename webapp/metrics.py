"""Prometheus metrics of the control plane, rendered by ``/metrics``.

Two sources, one registry per app:
- the web process's own HTTP requests (counts and durations by route), counted in-process: the
  web server runs one process (threads within it), so this process sees every request;
- everything the workers and the scheduler do, read from the database and Redis at scrape time
  by ``FleetCollector``: those happen in other processes (on other machines, even), so in-process
  counters of the web process could never see them. A run row is written once per run and keeps
  its final status, so counts of rows are true counters.

Labels stay bounded: playbook, trigger, status, queue, state, severity, blocklist zone, tenant and
server names; never a user, a mailbox or a run id.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any

from flask import Flask, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, case, func, select
from werkzeug.wrappers import Response

from mailfleet.monitoring.results import Status
from mailfleet.warmup import warmup_day
from webapp.extensions import db
from webapp.models import (
    FINISHED_STATUSES,
    CostPeriod,
    HealthAlert,
    HealthCheck,
    Run,
    RunStatus,
    Server,
    Tenant,
    WarmupPlan,
)
from webapp.queue import JobQueue, rq_queue
from webapp.services import readiness
from webapp.services.warmup import today

__all__ = ["CONTENT_TYPE", "FleetCollector", "init_app", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_EXTENSION = "mailfleet_metrics"

#: Seconds from a run's row to its start (queue wait) and from start to finish (duration).
QUEUE_WAIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
RUN_DURATION_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
_ACTIVE = (RunStatus.QUEUED, RunStatus.WAITING, RunStatus.RUNNING)
_LISTED = (Status.WARNING.value, Status.ERROR.value)


def init_app(app: Flask) -> None:
    # Not auto_describe: it would run a whole scrape (and query the database) at every app start.
    registry = CollectorRegistry()
    requests_total = Counter(
        "mailfleet_http_requests",
        "HTTP requests answered, by route (endpoint), method and status.",
        ("endpoint", "method", "status"),
        registry=registry,
    )
    duration = Histogram(
        "mailfleet_http_request_duration_seconds",
        "Time to answer an HTTP request, by route (endpoint) and method.",
        ("endpoint", "method"),
        registry=registry,
    )
    registry.register(FleetCollector(app))
    app.extensions[_EXTENSION] = registry

    @app.before_request
    def _start_clock() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        # Unknown URLs share one label, so a scanner cannot grow the label set.
        endpoint = request.url_rule.endpoint if request.url_rule is not None else "none"
        requests_total.labels(endpoint, request.method, str(response.status_code)).inc()
        if started is not None:
            duration.labels(endpoint, request.method).observe(time.perf_counter() - started)
        return response


def render(app: Flask | None = None) -> bytes:
    return generate_latest((app or current_app).extensions[_EXTENSION])


def _seconds_between(later: Any, earlier: Any) -> ColumnElement[float]:
    if db.engine.dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def _histogram(
    name: str,
    doc: str,
    labels: Sequence[str],
    seconds: ColumnElement[float],
    where: Any,
    buckets: Sequence[float],
    group_by: Sequence[Any],
) -> HistogramMetricFamily:
    """A histogram counted by the database: each row's seconds computed once (a materialized CTE),
    its bucket found by one CASE, rows counted per label set and bucket; no run row leaves it."""
    keys = [column.label(f"k{n}") for n, column in enumerate(group_by)]
    timed = select(*keys, seconds.label("s")).where(where).cte("timed").prefix_with("MATERIALIZED")
    bucket = case(*((timed.c.s <= bound, index) for index, bound in enumerate(buckets)), else_=len(buckets))
    grouped = [timed.c[f"k{n}"] for n in range(len(keys))]
    counts: dict[tuple[str, ...], list[int]] = {}
    totals: dict[tuple[str, ...], float] = {}
    for row in db.session.execute(
        select(*grouped, bucket, func.count(), func.sum(timed.c.s)).group_by(*grouped, bucket)
    ):
        key = tuple(str(k) for k in row[: len(keys)])
        index, count, total = row[len(keys) :]
        counts.setdefault(key, [0] * (len(buckets) + 1))[index] += count
        totals[key] = totals.get(key, 0.0) + float(total or 0)
    family = HistogramMetricFamily(name, doc, labels=list(labels))
    for key, per_bucket in sorted(counts.items()):
        cumulative = list(accumulate(per_bucket))
        points = [(repr(bound), n) for bound, n in zip(buckets, cumulative, strict=False)]
        family.add_metric(list(key), [*points, ("+Inf", cumulative[-1])], totals[key])
    return family


class FleetCollector(Collector):
    """Figures of runs, queues, workers, checks, alerts and the fleet, read at each scrape."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        with self._app.app_context():
            yield from self._runs()
            yield from self._queues()
            yield from self._health()
            yield from self._fleet()

    def _runs(self) -> Iterator[Metric]:
        created = CounterMetricFamily(
            "mailfleet_runs_created",
            "Playbook runs submitted, by playbook and trigger.",
            labels=["playbook", "trigger"],
        )
        finished = CounterMetricFamily(
            "mailfleet_runs_finished",
            "Playbook runs finished, by playbook and final status.",
            labels=["playbook", "status"],
        )
        active = GaugeMetricFamily(
            "mailfleet_runs", "Runs not finished yet, by state (queued, waiting, running).", labels=["state"]
        )
        states = dict.fromkeys((s.value for s in _ACTIVE), 0)
        rows = db.session.execute(
            select(Run.playbook, Run.trigger, Run.status, func.count(), func.sum(Run.event_count)).group_by(
                Run.playbook, Run.trigger, Run.status
            )
        )
        by_trigger: Tally[tuple[str, str]] = Tally()
        by_status: Tally[tuple[str, str]] = Tally()
        events = 0
        for playbook, trigger, status, count, run_events in rows:
            events += run_events or 0
            by_trigger[(playbook, str(trigger))] += count
            if status in FINISHED_STATUSES:
                by_status[(playbook, str(status))] += count
            else:
                states[str(status)] += count
        for labels, count in sorted(by_trigger.items()):
            created.add_metric(list(labels), count)
        for labels, count in sorted(by_status.items()):
            finished.add_metric(list(labels), count)
        for state, count in states.items():
            active.add_metric([state], count)
        yield from (created, finished, active)

        yield CounterMetricFamily(
            "mailfleet_run_events", "Runner events stored, over all runs.", value=events
        )
        yield _histogram(
            "mailfleet_run_queue_wait_seconds",
            "Time from a run's submission to its start, by playbook.",
            ["playbook"],
            _seconds_between(Run.started_at, Run.created_at),
            Run.started_at.is_not(None),
            QUEUE_WAIT_BUCKETS,
            [Run.playbook],
        )
        yield _histogram(
            "mailfleet_run_duration_seconds",
            "Time from a run's start to its end, by playbook and final status.",
            ["playbook", "status"],
            _seconds_between(Run.finished_at, Run.started_at),
            Run.started_at.is_not(None) & Run.finished_at.is_not(None),
            RUN_DURATION_BUCKETS,
            [Run.playbook, Run.status],
        )

    def _queues(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "mailfleet_queue_jobs", "RQ jobs by queue and state.", labels=["queue", "state"]
        )
        for job_queue in JobQueue:
            queue = rq_queue(job_queue)
            jobs.add_metric([queue.name, "queued"], queue.count)
            jobs.add_metric([queue.name, "started"], queue.started_job_registry.count)
            jobs.add_metric([queue.name, "deferred"], queue.deferred_job_registry.count)
            jobs.add_metric([queue.name, "scheduled"], queue.scheduled_job_registry.count)
            jobs.add_metric([queue.name, "failed"], queue.failed_job_registry.count)
        yield jobs
        workers = GaugeMetricFamily("mailfleet_workers", "Live RQ workers by state.", labels=["state"])
        states = Tally(str(worker.get_state()) for worker in readiness.live_workers())
        for state in ("busy", "idle", "suspended", "started"):
            workers.add_metric([state], states.pop(state, 0))
        for state, count in sorted(states.items()):
            workers.add_metric([state], count)
        yield workers
        yield GaugeMetricFamily(
            "mailfleet_cron_schedulers",
            "rq cron schedulers with a heartbeat in the last two minutes (exactly one is healthy).",
            value=len(readiness.live_cron_schedulers()),
        )

    def _health(self) -> Iterator[Metric]:
        checks = GaugeMetricFamily(
            "mailfleet_health_checks", "Health checks by their last result.", labels=["status"]
        )
        found = dict(
            db.session.execute(
                select(HealthCheck.last_status, func.count()).group_by(HealthCheck.last_status)
            ).all()
        )
        for status in Status:
            checks.add_metric([status.value], found.get(status.value, 0))
        yield checks
        alerts = GaugeMetricFamily(
            "mailfleet_alerts_open",
            "Alerts not resolved, by severity and state.",
            labels=["severity", "state"],
        )
        for severity, state, count in db.session.execute(
            select(HealthAlert.severity, HealthAlert.state, func.count())
            .where(HealthAlert.state != "resolved")
            .group_by(HealthAlert.severity, HealthAlert.state)
        ):
            alerts.add_metric([severity, state], count)
        yield alerts

    def _fleet(self) -> Iterator[Metric]:
        cost = GaugeMetricFamily(
            "mailfleet_tenant_monthly_cost_dollars",
            "Monthly price of the servers a tenant runs now (sum of their plans).",
            labels=["tenant"],
        )
        for slug, total in db.session.execute(
            select(Tenant.slug, func.sum(CostPeriod.monthly_price))
            .join(CostPeriod, CostPeriod.tenant_id == Tenant.id)
            .where(CostPeriod.ended_at.is_(None))
            .group_by(Tenant.slug)
        ):
            cost.add_metric([slug], float(total or 0))
        yield cost

        eta = GaugeMetricFamily(
            "mailfleet_server_disk_full_eta_seconds",
            "Forecast time until a server's disk is full (servers with a forecast only).",
            labels=["server"],
        )
        for name, days in db.session.execute(
            select(Server.name, HealthCheck.last_value)
            .join(HealthCheck, HealthCheck.server_id == Server.id)
            .where(HealthCheck.check == "disk_forecast")
        ):
            if isinstance(days, int | float):
                eta.add_metric([name], float(days) * 86400)
        yield eta

        listings = GaugeMetricFamily(
            "mailfleet_dnsbl_listings", "Addresses and domains listed, by blocklist zone.", labels=["zone"]
        )
        zones: Tally[str] = Tally()
        for check, status in db.session.execute(
            select(HealthCheck.check, HealthCheck.last_status).where(HealthCheck.check.like("dnsbl:%"))
        ):
            zone = check.split(":")[1]
            zones[zone] += status in _LISTED
        for zone, count in sorted(zones.items()):
            listings.add_metric([zone], count)
        yield listings

        day = GaugeMetricFamily(
            "mailfleet_server_warmup_day", "The warm-up day of a server's sending IP.", labels=["server"]
        )
        on = today()
        for name, started_on, held in db.session.execute(
            select(Server.name, WarmupPlan.started_on, WarmupPlan.held_days).join(
                WarmupPlan, WarmupPlan.server_id == Server.id
            )
        ):
            day.add_metric([name], warmup_day(started_on, on, held))
        yield day
