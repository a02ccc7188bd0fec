"""The JSON shape of a run and of its events: one serializer for the API and the run page's live updates."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from webapp.models import Run, RunEvent
from webapp.services import runs


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def event_json(event: RunEvent) -> dict[str, Any]:
    return {
        "counter": event.counter,
        "event": event.event,
        "host": event.host_name,
        "task": event.task,
        "failed": event.failed,
        "changed": event.changed,
        "stdout": event.stdout,
    }


def run_json(r: Run) -> dict[str, Any]:
    failure = runs.first_failure(r)
    return {
        "id": r.id,
        "tenant": r.tenant.slug,
        "playbook": r.playbook,
        "catalogue_key": r.catalogue_key,
        "trigger": str(r.trigger),
        "limit": r.limit,
        "extravars": r.extravars,
        "status": str(r.status),
        "finished": r.status.finished,
        "rc": r.rc,
        "failure_reason": r.failure_reason,
        # Where a failed run failed first (host, task, message, the event counter to jump to).
        "failure": asdict(failure) if failure else None,
        "recap": r.recap,
        "created_at": _iso(r.created_at),
        "started_at": _iso(r.started_at),
        "finished_at": _iso(r.finished_at),
        "duration_seconds": r.duration_seconds,
        "retry_of": r.retry_of_id,
        "event_count": r.event_count,
    }
