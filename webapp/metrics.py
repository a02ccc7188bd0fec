"""Prometheus metrics of the control plane, rendered by ``/metrics``.

Two sources, one registry per app:
- the web process's own HTTP requests (counts and durations by route), counted in-process: the
  web server runs one process (threads within it), so this process sees every request;
- everything the workers and the scheduler do, read from the database and Redis at scrape time
  by ``FleetCollector``: those happen in other processes (on other machines, even), so in-process
  counters of the web process could never see them. A run row is written once per run and keeps
  its final status, so counts of rows are true counters.

Labels stay bounded: playbook, trigger, status, result, queue, state, severity, blocklist zone, tenant and
server names; never a user, a mailbox or a run id.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import accumulate
from time import monotonic
from typing import Any

from flask import Flask, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, case, func, select
from werkzeug.wrappers import Response

from mailfleet.clock import utcnow
from mailfleet.monitoring.results import Status
from mailfleet.warmup import warmup_day
from webapp.extensions import db
from webapp.models import (
    FINISHED_STATUSES,
    CostPeriod,
    DnsPropagation,
    HealthAlert,
    HealthCheck,
    MailboxAttempt,
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
#: Seconds Mailu took to answer for one new mailbox, and from a domain's publication to its DNS ready.
MAILBOX_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PROPAGATION_BUCKETS = (60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)
_ACTIVE = (RunStatus.QUEUED, RunStatus.WAITING, RunStatus.RUNNING)
_LISTED = (Status.WARNING.value, Status.ERROR.value)
#: A finished run never changes again: the runs that finished longer ago than this are counted once
#: and kept by the collector; each scrape counts only the others (the margin covers a run whose
#: finish is committed a little after the time it stamps).
SETTLED_AFTER = timedelta(minutes=5)
#: Seconds the fleet's figures (a series per server) are kept: they follow the health sweep, which
#: runs every MAILFLEET_HEALTH_SWEEP_SECONDS (30 at the least), so a scrape in between reads them again.
FLEET_KEPT_SECONDS = 30.0


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


def _seconds_between(later: Any, earlier: Any) -> ColumnElement[Any]:
    if db.engine.dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def _bucket(seconds: Any, buckets: Sequence[float]) -> ColumnElement[int | None]:
    """The index of the first bucket that holds `seconds` (len(buckets) past the last; NULL: none)."""
    return case(
        (seconds.is_(None), None),
        *((seconds <= bound, index) for index, bound in enumerate(buckets)),
        else_=len(buckets),
    )


class _Histograms:
    """Histogram counts per label set, filled from rows already counted per bucket."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self._buckets = buckets
        self._counts: dict[tuple[str, ...], list[int]] = {}
        self._sums: defaultdict[tuple[str, ...], float] = defaultdict(float)

    def add(self, key: tuple[str, ...], bucket: int | None, count: int, total: float | None) -> None:
        if bucket is None:
            return
        self._counts.setdefault(key, [0] * (len(self._buckets) + 1))[bucket] += count
        self._sums[key] += float(total or 0)

    def family(self, name: str, doc: str, labels: Sequence[str]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, doc, labels=list(labels))
        for key, per_bucket in sorted(self._counts.items()):
            cumulative = list(accumulate(per_bucket))
            points = [(repr(bound), n) for bound, n in zip(self._buckets, cumulative, strict=False)]
            family.add_metric(list(key), [*points, ("+Inf", cumulative[-1])], self._sums[key])
        return family


@dataclass
class _RunFigures:
    """Runs of one label set and buckets: how many, their events, their summed wait and duration (s)."""

    count: int = 0
    events: int = 0
    waited: float = 0.0
    lasted: float = 0.0


#: playbook, trigger, status, queue wait bucket, duration bucket -> their tally.
_RunTallies = dict[tuple[str, str, str, int | None, int | None], _RunFigures]


def _count_runs(where: ColumnElement[bool], into: _RunTallies) -> _RunTallies:
    """Add the runs matching `where` to `into`, counted by the database in one pass: each row's wait
    and duration computed once (a materialized CTE), their buckets found by CASE, rows counted per
    label set and buckets. No run row leaves the database."""
    timed = (
        select(
            Run.playbook,
            Run.trigger,
            Run.status,
            Run.event_count,
            _seconds_between(Run.started_at, Run.created_at).label("wait"),
            _seconds_between(Run.finished_at, Run.started_at).label("took"),
        )
        .where(where)
        .cte("timed")
        .prefix_with("MATERIALIZED")
    )
    keys = (
        timed.c.playbook,
        timed.c.trigger,
        timed.c.status,
        _bucket(timed.c.wait, QUEUE_WAIT_BUCKETS),
        _bucket(timed.c.took, RUN_DURATION_BUCKETS),
    )
    figures = (func.count(), func.sum(timed.c.event_count), func.sum(timed.c.wait), func.sum(timed.c.took))
    for row in db.session.execute(select(*keys, *figures).group_by(*keys)):
        playbook, trigger, status, wait, took = row[:5]
        tally = into.setdefault((playbook, str(trigger), str(status), wait, took), _RunFigures())
        count, events, waited, lasted = row[5:]
        tally.count += count
        tally.events += events or 0
        tally.waited += float(waited or 0)  # PostgreSQL's epoch sums are numeric
        tally.lasted += float(lasted or 0)
    return into


class _SettledRuns:
    """The tallies of the runs finished before a moving line (SETTLED_AFTER ago), kept between
    scrapes: each scrape adds the runs that crossed the line since the last one, then counts the
    runs after it (and the unfinished ones) afresh."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._line: datetime | None = None
        self._tallies: _RunTallies = {}

    def tallies(self) -> _RunTallies:
        with self._lock:
            line = utcnow() - SETTLED_AFTER
            crossed = Run.finished_at <= line
            if self._line is not None:
                crossed &= Run.finished_at > self._line
            _count_runs(crossed, self._tallies)
            self._line = line
            kept = {key: replace(tally) for key, tally in self._tallies.items()}
        return _count_runs(Run.finished_at.is_(None) | (Run.finished_at > line), kept)


class FleetCollector(Collector):
    """Figures of runs, queues, workers, checks, alerts and the fleet, read at each scrape."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._settled_runs = _SettledRuns()
        self._fleet_lock = threading.Lock()
        self._fleet_kept: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._app.app_context():
            yield from self._runs()
            yield from self._queues()
            yield from self._health()
            yield from self._setup_times()
            yield from self._fleet_figures()

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
        by_trigger: Tally[tuple[str, str]] = Tally()
        by_status: Tally[tuple[str, str]] = Tally()
        waits, durations = _Histograms(QUEUE_WAIT_BUCKETS), _Histograms(RUN_DURATION_BUCKETS)
        events = 0
        for (playbook, trigger, status, wait, took), tally in self._settled_runs.tallies().items():
            events += tally.events
            by_trigger[(playbook, trigger)] += tally.count
            if status in FINISHED_STATUSES:
                by_status[(playbook, status)] += tally.count
            else:
                states[status] += tally.count
            waits.add((playbook,), wait, tally.count, tally.waited)
            durations.add((playbook, status), took, tally.count, tally.lasted)
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
        yield waits.family(
            "mailfleet_run_queue_wait_seconds",
            "Time from a run's submission to its start, by playbook.",
            ["playbook"],
        )
        yield durations.family(
            "mailfleet_run_duration_seconds",
            "Time from a run's start to its end, by playbook and final status.",
            ["playbook", "status"],
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
        found: dict[str | None, int] = {
            status: count
            for status, count in db.session.execute(
                select(HealthCheck.last_status, func.count()).group_by(HealthCheck.last_status)
            )
        }
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

    def _setup_times(self) -> Iterator[Metric]:
        """Mailbox creations by tenant and result, their times, and domains' DNS propagation times:
        rows written once (a propagation's once it is ready), counted by the database."""
        attempts = CounterMetricFamily(
            "mailfleet_mailbox_attempts",
            "Mailboxes asked of a tenant's Mailu, by tenant and result (created, failed, not_sent).",
            labels=["tenant", "result"],
        )
        counted: Tally[tuple[str, str]] = Tally()
        times = _Histograms(MAILBOX_BUCKETS)
        bucket = _bucket(MailboxAttempt.seconds, MAILBOX_BUCKETS)
        for slug, result, at, count, total in db.session.execute(
            select(Tenant.slug, MailboxAttempt.result, bucket, func.count(), func.sum(MailboxAttempt.seconds))
            .join(Tenant, Tenant.id == MailboxAttempt.tenant_id)
            .group_by(Tenant.slug, MailboxAttempt.result, bucket)
        ):
            times.add((str(result),), at, count, total)
            counted[(slug, str(result))] += count
        for labels, count in sorted(counted.items()):
            attempts.add_metric(list(labels), count)
        yield attempts
        yield times.family(
            "mailfleet_mailbox_provisioning_seconds",
            "Time Mailu took to answer for one new mailbox, by result (mailboxes sent only).",
            ["result"],
        )
        propagation = _Histograms(PROPAGATION_BUCKETS)
        bucket = _bucket(DnsPropagation.seconds, PROPAGATION_BUCKETS)
        for at, count, total in db.session.execute(
            select(bucket, func.count(), func.sum(DnsPropagation.seconds)).group_by(bucket)
        ):
            propagation.add((), at, count, total)
        yield propagation.family(
            "mailfleet_dns_propagation_seconds",
            "Time from a publication of a domain's records to its DNS agreeing everywhere.",
            [],
        )

    def _fleet_figures(self) -> list[Metric]:
        with self._fleet_lock:
            if self._fleet_kept is None or monotonic() - self._fleet_kept[0] >= FLEET_KEPT_SECONDS:
                self._fleet_kept = (monotonic(), list(self._fleet()))
            return self._fleet_kept[1]

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
