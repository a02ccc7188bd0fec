"""Is the control plane able to do its work: the checks behind ``/readyz``.

Liveness of workers and of the scheduler comes from what RQ itself records in Redis: a worker's
registration (kept while its heartbeat runs, removed when it stops) and the rq cron scheduler
registry (a heartbeat at least every minute; entries older than two minutes are dropped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from rq import Worker
from rq import cron_scheduler_registry as cron_registry
from rq.worker import BaseWorker
from sqlalchemy import text

from webapp.extensions import db
from webapp.integrations import secret_store
from webapp.queue import JobQueue, redis_connection

__all__ = ["Check", "checks", "live_cron_schedulers", "live_workers"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def live_workers() -> list[BaseWorker]:
    return Worker.all(connection=redis_connection())


def live_cron_schedulers() -> list[str]:
    connection = redis_connection()
    cron_registry.cleanup(connection)
    return cron_registry.get_keys(connection)


def _database() -> str:
    db.session.execute(text("SELECT 1"))
    return "answers"


def _redis() -> str:
    redis_connection().ping()
    return "answers"


def _secrets() -> str:
    secret_store().list("")
    return "readable"


def _workers() -> str:
    served = {queue for worker in live_workers() for queue in worker.queue_names()}
    wanted = [queue.name_in(current_app.config) for queue in JobQueue]
    missing = [queue for queue in wanted if queue not in served]
    if missing:
        raise LookupError(f"no live worker serves {', '.join(missing)}")
    return f"every queue served ({', '.join(wanted)})"


def _cron() -> str:
    names = live_cron_schedulers()
    if not names:
        raise LookupError("no rq cron scheduler has sent a heartbeat in the last two minutes")
    return f"{len(names)} live"


_CHECKS: dict[str, Callable[[], str]] = {
    "database": _database,
    "redis": _redis,
    "secrets": _secrets,
    "workers": _workers,
    "cron": _cron,
}


def checks() -> list[Check]:
    """Every check, each failing on its own (a dead Redis fails redis, workers and cron alike)."""
    out = []
    for name, probe in _CHECKS.items():
        try:
            out.append(Check(name, True, probe()))
        except Exception as exc:  # any failure means "not ready"; the answer says which and why
            if name == "database":
                db.session.rollback()
            first_line = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            out.append(Check(name, False, first_line))
    return out
