"""Redis and the RQ queue as seen from the web side: jobs are enqueued by dotted name only."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

#: Job functions, by dotted name (the web app never imports worker code).
EXECUTE_RUN = "jobs.execute.execute_run"

_EXTENSION = "mailfleet_redis"


def init_app(app: Flask) -> None:
    # Tests hand in a fakeredis connection; everyone else connects lazily to REDIS_URL.
    app.extensions[_EXTENSION] = app.config.get("REDIS_CONNECTION")


def redis_connection(app: Flask | None = None) -> Redis:
    app = app or current_app
    conn = app.extensions.get(_EXTENSION)
    if conn is None:
        conn = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=5, socket_timeout=30)
        app.extensions[_EXTENSION] = conn
    return conn


def get_queue(app: Flask | None = None) -> Queue:
    """The playbook runs' queue."""
    app = app or current_app
    return Queue(app.config["MAILFLEET_QUEUE"], connection=redis_connection(app), serializer=JSONSerializer)


def get_system_queue(app: Flask | None = None) -> Queue:
    """The system jobs' queue (served by its own worker, never behind playbook runs)."""
    app = app or current_app
    return Queue(
        app.config["MAILFLEET_SYSTEM_QUEUE"], connection=redis_connection(app), serializer=JSONSerializer
    )


def enqueue_run(run_id: int, app: Flask | None = None) -> Any:
    """Enqueue the run's job under its own id (``run-<id>``): enqueuing again replaces, never doubles."""
    app = app or current_app
    return get_queue(app).enqueue(
        EXECUTE_RUN,
        run_id,
        job_id=f"run-{run_id}",
        job_timeout=app.config["MAILFLEET_JOB_TIMEOUT"],
        result_ttl=24 * 3600,
        failure_ttl=7 * 24 * 3600,
        description=f"run {run_id}",
    )
