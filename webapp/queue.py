"""Redis, the RQ queues and the one enqueue policy of the web and the workers: jobs are enqueued
by dotted name only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.connection import parse_url
from redis.sentinel import Sentinel
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

#: Job functions, by dotted name (the web app never imports worker code).
EXECUTE_RUN = "jobs.execute.execute_run"
SWEEP_HEALTH = "jobs.health.sweep_health"
CHECK_DOMAIN_DNS = "jobs.dnsdoctor.check_domain"

_EXTENSION = "mailfleet_redis"


class JobQueue(StrEnum):
    """The queues the workers must serve, each by the setting naming it, each with workers of its
    own: playbook runs; system jobs (sweeps, checks, refreshes, the cron table's rounds), never
    behind playbook runs; the reaper, never behind anything."""

    RUNS = "MAILFLEET_QUEUE"
    SYSTEM = "MAILFLEET_SYSTEM_QUEUE"
    REAPER = "MAILFLEET_REAPER_QUEUE"

    def name_in(self, config: Mapping[str, Any]) -> str:
        return config[self.value]


#: Seconds to connect and to wait for an answer (a sentinel's answer too).
CONNECT_TIMEOUT = 5
SOCKET_TIMEOUT = 30


def init_app(app: Flask) -> None:
    # Tests hand in a fakeredis connection; everyone else connects lazily (connect()).
    app.extensions[_EXTENSION] = app.config.get("REDIS_CONNECTION")


def redis_connection(app: Flask | None = None) -> Redis:
    app = app or current_app
    conn = app.extensions.get(_EXTENSION)
    if conn is None:
        conn = connect(app.config)
        app.extensions[_EXTENSION] = conn
    return conn


def sentinel_settings(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """With MAILFLEET_REDIS_SENTINELS set: the sentinels, the master's name and how to log in to
    whichever server they name primary (REDIS_URL's user, password and database; its host is not
    used). None without sentinels."""
    sentinels = config.get("MAILFLEET_REDIS_SENTINELS")
    if not sentinels:
        return None
    url = parse_url(config["REDIS_URL"])
    return {
        "instances": list(sentinels),
        "master": config["MAILFLEET_REDIS_SENTINEL_MASTER"],
        "login": {key: url[key] for key in ("username", "password", "db") if url.get(key) is not None},
    }


def connect(config: Mapping[str, Any]) -> Redis:
    """The queue's Redis: REDIS_URL, or the primary MAILFLEET_REDIS_SENTINELS name, followed to the
    new one after a failover (redis-py's Sentinel asks them again when a connection fails)."""
    timeouts = {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": SOCKET_TIMEOUT}
    sentinel = sentinel_settings(config)
    if sentinel is None:
        return Redis.from_url(config["REDIS_URL"], **timeouts)
    return Sentinel(sentinel["instances"], sentinel_kwargs=timeouts, **timeouts).master_for(
        sentinel["master"], **sentinel["login"]
    )


def get_queue(app: Flask | None = None) -> Queue:
    """The playbook runs' queue."""
    return rq_queue(JobQueue.RUNS, app)


def get_system_queue(app: Flask | None = None) -> Queue:
    """The system jobs' queue (served by its own worker, never behind playbook runs)."""
    return rq_queue(JobQueue.SYSTEM, app)


def rq_queue(queue: JobQueue, app: Flask | None = None) -> Queue:
    app = app or current_app
    return Queue(queue.name_in(app.config), connection=redis_connection(app), serializer=JSONSerializer)


@dataclass(frozen=True)
class JobPolicy:
    """How one kind of job is enqueued, by the web and by the workers alike: its function (by
    dotted name), its queue, its id (derived from its subject, so the reaper can find it, and
    named after the playbook queue like the admission keys, so control planes sharing a Redis
    never take each other's jobs for their own) and how long RQ keeps its result. A job is not
    enqueued again while the same one waits in the queue (RQ would list it twice); while it runs
    it is, so it runs once more after (a waiting run whose worker is just giving up its turn).
    Its timeout is MAILFLEET_JOB_TIMEOUT (the run timeout plus a margin)."""

    function: str
    queue: JobQueue
    id_prefix: str
    result_ttl: int
    failure_ttl: int

    def job_id(self, subject: int, app: Flask | None = None) -> str:
        return f"{JobQueue.RUNS.name_in((app or current_app).config)}-{self.id_prefix}-{subject}"


#: A playbook run (subject: the run's id).
RUN_JOB = JobPolicy(EXECUTE_RUN, JobQueue.RUNS, "run", 24 * 3600, 7 * 24 * 3600)
#: An on-demand health check of one server (subject: the server's id).
HEALTH_CHECK_JOB = JobPolicy(SWEEP_HEALTH, JobQueue.SYSTEM, "health", 3600, 24 * 3600)
#: A DNS doctor check of one domain (subject: the domain's id).
DNS_CHECK_JOB = JobPolicy(CHECK_DOMAIN_DNS, JobQueue.SYSTEM, "dns-check", 3600, 24 * 3600)

#: A job in one of these is still to be run; started, it is being run.
WAITING_JOB_STATES = frozenset({JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED})


def enqueue(policy: JobPolicy, subject: int, description: str, app: Flask | None = None) -> str:
    """Enqueue ``policy``'s job for ``subject`` unless it waits in the queue; returns the job id."""
    app = app or current_app
    job_id = policy.job_id(subject, app)
    if _job_status(job_id, app) in WAITING_JOB_STATES:
        return job_id
    rq_queue(policy.queue, app).enqueue(
        policy.function,
        subject,
        job_id=job_id,
        job_timeout=app.config["MAILFLEET_JOB_TIMEOUT"],
        result_ttl=policy.result_ttl,
        failure_ttl=policy.failure_ttl,
        description=description,
    )
    return job_id


def job_alive(job_id: str, app: Flask | None = None) -> bool:
    """True while RQ still has the job to run or runs it."""
    status = _job_status(job_id, app)
    return status in WAITING_JOB_STATES or status == JobStatus.STARTED


def _job_status(job_id: str, app: Flask | None) -> JobStatus | None:
    try:
        job = Job.fetch(job_id, connection=redis_connection(app), serializer=JSONSerializer)
    except NoSuchJobError:
        return None
    return job.get_status(refresh=False)


def enqueue_run(run_id: int, app: Flask | None = None) -> str:
    """Enqueue the run's job (``run-<id>``), once."""
    return enqueue(RUN_JOB, run_id, f"run {run_id}", app)
