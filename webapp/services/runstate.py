"""The one owner of a Run's status: every change after the row is written goes through ``advance``.

    queued  -> waiting (claimed by a worker) | canceled (before it started)
    waiting -> running (holds its lock)      | canceled (before it started)
    running -> successful | failed | canceled   (its end; failed also when the reaper finds it lost)

A finished run never changes again. ``advance`` is a compare-and-set in the database (``UPDATE ...
WHERE status IN (allowed sources)``), so two writers racing (a cancel and a claim, a worker and the
reaper) cannot both win: the loser gets False and changes nothing. Asking for a change the machine
does not allow (a finished run restarted, a queued run marked successful) raises IllegalTransition.
It stamps the times that belong to a status (started_at on running, finished_at and no lease on
every end); the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, update

from mailfleet.clock import utcnow
from webapp.errors import Conflict
from webapp.extensions import rows_changed
from webapp.models import Run, RunStatus

S = RunStatus
#: status -> the statuses it may move to.
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    S.QUEUED: frozenset({S.WAITING, S.CANCELED}),
    S.WAITING: frozenset({S.RUNNING, S.CANCELED}),
    S.RUNNING: frozenset({S.SUCCESSFUL, S.FAILED, S.CANCELED}),
    S.SUCCESSFUL: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
}


class IllegalTransition(Conflict):
    """A status change the run state machine does not allow."""


def sources(target: RunStatus) -> frozenset[RunStatus]:
    """The statuses a run may be in to move to ``target``."""
    return frozenset(status for status, targets in TRANSITIONS.items() if target in targets)


def advance(
    run_id: int,
    target: RunStatus,
    *,
    only_from: Iterable[RunStatus] | None = None,
    provided: Iterable[ColumnElement[bool]] = (),
    **fields: Any,
) -> bool:
    """Move the run to ``target`` if its current status allows it (and is one of ``only_from``,
    when given, and the run matches the ``provided`` conditions), writing ``fields`` with it.
    False when the run is in another status (or no longer matches) by now."""
    allowed = sources(target)
    wanted = allowed if only_from is None else frozenset(only_from)
    if not wanted or not wanted <= allowed:
        raise IllegalTransition(
            f"a run cannot go from {', '.join(sorted(wanted - allowed)) or 'any status'} to {target}"
        )
    now = utcnow()
    if target is S.RUNNING:
        fields.setdefault("started_at", now)
    if target.finished:
        fields.setdefault("finished_at", now)
        fields["lease_expires_at"] = None
    changed = rows_changed(
        update(Run).where(Run.id == run_id, Run.status.in_(wanted), *provided).values(status=target, **fields)
    )
    return bool(changed)
