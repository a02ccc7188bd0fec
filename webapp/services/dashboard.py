"""What the dashboard shows: servers by status, recent runs, hosts failing in their latest run."""

from __future__ import annotations

from dataclasses import dataclass

from webapp.extensions import db
from webapp.models import FINISHED_STATUSES, Run, RunTrigger
from webapp.services import fleet, runs
from webapp.services.scope import Scope

RECENT_RUNS = 10
RECAP_WINDOW = 100


@dataclass(frozen=True)
class FailingHost:
    host: str
    run: Run
    failed: int
    unreachable: int


def failing_hosts(scope: Scope) -> list[FailingHost]:
    """Hosts whose most recent recap shows failures or unreachability."""
    stmt = (
        scope.select(Run)
        .where(Run.status.in_(FINISHED_STATUSES), Run.recap.is_not(None))
        .order_by(Run.id.desc())
        .limit(RECAP_WINDOW)
    )
    seen: set[str] = set()
    failing = []
    for run in db.session.execute(stmt).scalars():
        for host, stats in (run.recap or {}).items():
            if host in seen:
                continue
            seen.add(host)
            if stats.get("failed") or stats.get("unreachable"):
                failing.append(FailingHost(host, run, stats.get("failed", 0), stats.get("unreachable", 0)))
    return failing


def summary(scope: Scope) -> dict:
    return {
        "servers_by_status": fleet.servers_by_status(scope),
        # People's runs: the scheduler's every-few-minutes runs would push them off the list.
        "recent_runs": runs.list_runs(scope, runs.RunFilters(trigger=RunTrigger.USER), limit=RECENT_RUNS),
        "failing_hosts": failing_hosts(scope),
    }
