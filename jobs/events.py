"""ansible-runner's event_handler: redact, batch and bulk-insert events; build the per-host recap.

Per event, the cost is one JSON encoding of its data and one search of that text (the redaction
walks and encodes again only an event that holds a secret-like name or a known secret; the size
check and the stored column share the text); per batch (EVENT_BATCH_SIZE events or EVENT_FLUSH_SECONDS), one
multi-row INSERT through Core (no ORM unit of work), one UPDATE of the run's count and one commit.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Dialect, TypeDecorator, bindparam, insert, update

from jobs.constants import EVENT_BATCH_SIZE, EVENT_FLUSH_SECONDS, MAX_EVENT_DATA_CHARS, MAX_STDOUT_CHARS
from mailfleet.clock import utcnow
from mailfleet.redact import Redactor
from webapp.extensions import db
from webapp.models import Run, RunEvent

FAILED_EVENTS = frozenset(
    {"runner_on_failed", "runner_on_unreachable", "runner_item_on_failed", "runner_on_async_failed"}
)
CHANGED_EVENTS = frozenset({"runner_on_ok", "runner_item_on_ok", "runner_on_async_ok"})
# Dropped from event_data: task arguments can carry secrets and are not needed to read a run.
DROPPED_FIELDS = frozenset({"task_args"})
RECAP_FIELDS = {  # our name: playbook_on_stats field
    "ok": "ok",
    "changed": "changed",
    "failed": "failures",
    "unreachable": "dark",
    "skipped": "skipped",
    "rescued": "rescued",
    "ignored": "ignored",
}


def recap_from_stats(event_data: dict[str, Any]) -> dict[str, dict[str, int]]:
    hosts: set[str] = set()
    for field in RECAP_FIELDS.values():
        hosts.update((event_data.get(field) or {}).keys())
    return {
        host: {
            ours: int((event_data.get(theirs) or {}).get(host, 0)) for ours, theirs in RECAP_FIELDS.items()
        }
        for host in sorted(hosts)
    }


def _created(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return utcnow()


OMITTED_RESULT = {"_mailfleet": "result omitted: larger than the event size limit"}


def capped(text: str, data: dict[str, Any]) -> str:
    """The event data's JSON text as stored: its result left out when over the size limit."""
    if len(text) <= MAX_EVENT_DATA_CHARS:
        return text
    return json.dumps({**{k: v for k, v in data.items() if k != "res"}, "res": OMITTED_RESULT}, default=str)


class EncodedJSON(TypeDecorator[str]):
    """A JSON column's value given as JSON text already: bound as it is, not encoded again (as
    text on SQLite, an untyped literal PostgreSQL reads as json)."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


_INSERT = insert(RunEvent.__table__).values(event_data=bindparam("event_data", type_=EncodedJSON()))


class EventRecorder:
    """Collects runner events and writes them in batches; ``handle`` always returns False
    (so runner writes no per-event files to disk)."""

    def __init__(self, run_id: int, redactor: Redactor, clock: Any = time.monotonic) -> None:
        self.run_id = run_id
        self.redactor = redactor
        self.clock = clock
        self.pending: list[dict[str, Any]] = []
        self.count = 0
        self.recap: dict[str, dict[str, int]] | None = None
        self._last_flush = clock()

    def row(self, event: dict[str, Any]) -> dict[str, Any]:
        data = {k: v for k, v in (event.get("event_data") or {}).items() if k not in DROPPED_FIELDS}
        text, data = self.redactor.json(data)
        name = str(event.get("event") or "")
        res = data.get("res") if isinstance(data.get("res"), dict) else {}
        if name == "playbook_on_stats":
            self.recap = recap_from_stats(data)
            failed = any(h["failed"] or h["unreachable"] for h in self.recap.values())
        else:
            failed = name in FAILED_EVENTS and not data.get("ignore_errors")
        stdout = self.redactor.text(str(event.get("stdout") or "").replace("\r\n", "\n"))[:MAX_STDOUT_CHARS]
        return {
            "run_id": self.run_id,
            "counter": int(event.get("counter") or 0),
            "event": name[:64],
            "uuid": event.get("uuid"),
            "parent_uuid": event.get("parent_uuid") or data.get("parent_uuid"),
            "host_name": (data.get("host") or None),
            "playbook": data.get("playbook"),
            "play": (data.get("play") or None),
            "role": (data.get("role") or None),
            "task": (data.get("task") or None),
            "failed": bool(failed),
            "changed": bool(name in CHANGED_EVENTS and res.get("changed")),
            "stdout": stdout,
            "start_line": int(event.get("start_line") or 0),
            "end_line": int(event.get("end_line") or 0),
            "verbosity": int(event.get("verbosity") or 0),
            "created": _created(event.get("created")),
            "event_data": capped(text, data),
        }

    def handle(self, event: dict[str, Any]) -> bool:
        self.pending.append(self.row(event))
        if len(self.pending) >= EVENT_BATCH_SIZE or self.clock() - self._last_flush >= EVENT_FLUSH_SECONDS:
            self.flush()
        return False

    def tick(self) -> None:
        if self.pending and self.clock() - self._last_flush >= EVENT_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self._last_flush = self.clock()
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        db.session.execute(_INSERT, rows)
        self.count += len(rows)
        db.session.execute(update(Run).where(Run.id == self.run_id).values(event_count=self.count))
        db.session.commit()
