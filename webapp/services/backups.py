"""Backups as people see them: each server's backup status (the last good snapshot against the
recovery point objective, size and growth, the repository check, retention, the last restore
drill), the snapshots a restore can pick from, and the restores run so far with their recovery
point (how old the restored data was) and recovery time (from the click to the restored server).

The status is the backup role's document (record_status.py on the host, /var/lib/mailfleet-backup/
status.json), collected by the health-facts play with the other inside facts and stored here by
the health sweep; alerts on it are the health checks ``backup`` and ``backup:drill``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from mailfleet.monitoring import FactsError
from mailfleet.monitoring.facts import parse_facts
from webapp.errors import InvalidInput
from webapp.extensions import db
from webapp.models import Run, RunEvent, RunStatus, Server, ServerBackup, Tenant
from webapp.services.scope import Scope

GROWTH_WINDOW = timedelta(hours=24)
RESTORES_SHOWN = 20
#: What restore.yml returns through set_stats: {host: {snapshot_id, snapshot_time, source}}.
RESTORE_STATS_KEY = "mailfleet_restore"


# -------------------------------------------------------------------------- stored by the sweep
def record_statuses(names: Iterable[str], directory: Path) -> int:
    """Store the backup status document of each server's facts file (<directory>/<name>.json);
    files without one, or unreadable, are skipped (the facts checks already report them)."""
    stored = 0
    for name in names:
        path = directory / f"{name}.json"
        try:
            doc = parse_facts(path.read_bytes())
        except (OSError, FactsError):
            continue
        status = (doc.get("backup") or {}).get("status") if isinstance(doc.get("backup"), dict) else None
        server = db.session.execute(select(Server).where(Server.name == name)).scalar_one_or_none()
        if not isinstance(status, dict) or server is None:
            continue
        try:
            collected = _time(doc.get("collected_at"))
        except ValueError:
            continue
        row = db.session.get(ServerBackup, server.id) or ServerBackup(server_id=server.id)
        row.status, row.collected_at = status, collected
        db.session.add(row)
        stored += 1
    db.session.commit()
    return stored


def _time(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment


def maybe_time(value: Any) -> datetime | None:
    try:
        return _time(value) if value else None
    except ValueError:
        return None


# ------------------------------------------------------------------------------- what is shown
@dataclass(frozen=True)
class Step:
    """One step's last outcome on the host (backup, forget, check, drill)."""

    at: datetime | None
    ok: bool
    error: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: datetime


@dataclass(frozen=True)
class BackupStatus:
    server: Server
    collected_at: datetime
    last_success: datetime | None
    size_bytes: int | None  # the server's data in its latest snapshot
    growth_bytes: int  # new data the backups of the last 24 hours added to the repository
    repository_bytes: int | None  # the whole repository (shared by the tenant's servers)
    snapshots: list[Snapshot]
    backup: Step | None
    retention: Step | None
    check: Step | None
    drill: Step | None
    copy: Step | None  # the copy to the second repository; None where there is none

    def age(self, now: datetime) -> timedelta | None:
        return None if self.last_success is None else now - self.last_success


def _step(doc: dict[str, Any], name: str) -> Step | None:
    raw = doc.get(name)
    if not isinstance(raw, dict):
        return None
    return Step(maybe_time(raw.get("at")), raw.get("ok") is True, raw.get("error"), raw)


def _status(row: ServerBackup) -> BackupStatus:
    doc = row.status or {}
    backup = _step(doc, "backup")
    found = doc.get("repository")
    repository: dict[str, Any] = found if isinstance(found, dict) else {}
    history = [h for h in doc.get("history") or [] if isinstance(h, dict)]
    since = row.collected_at - GROWTH_WINDOW
    growth = sum(
        int(h.get("added_bytes") or 0) for h in history if (maybe_time(h.get("at")) or since) > since
    )
    snapshots = []
    for s in repository.get("snapshots") or []:
        when = maybe_time(s.get("time")) if isinstance(s, dict) else None
        if when is not None and s.get("id"):
            snapshots.append(Snapshot(str(s["id"]), str(s.get("short_id") or s["id"][:8]), when))
    size = next((h.get("size_bytes") for h in reversed(history)), None)
    return BackupStatus(
        server=row.server,
        collected_at=row.collected_at,
        last_success=maybe_time(doc.get("last_success")),
        size_bytes=size,
        growth_bytes=growth,
        repository_bytes=repository.get("repository_bytes"),
        snapshots=sorted(snapshots, key=lambda s: s.time),
        backup=backup,
        retention=_step(doc, "forget"),
        check=_step(doc, "check"),
        drill=_step(doc, "drill"),
        copy=_step(doc, "copy"),
    )


def server_status(scope: Scope, server_id: int) -> BackupStatus | None:
    """The stored status of one server the caller may see (NotFound otherwise); None before the
    host has reported one."""
    server = scope.get(Server, server_id)
    row = db.session.get(ServerBackup, server.id)
    return None if row is None else _status(row)


def statuses(scope: Scope) -> dict[int, BackupStatus]:
    """Every stored status the caller may see, by server id."""
    visible = scope.restrict(select(Server.id), Server)
    rows = db.session.scalars(select(ServerBackup).where(ServerBackup.server_id.in_(visible)))
    return {row.server_id: _status(row) for row in rows}


# ------------------------------------------------------------------------- restore's choices
def check_restore_point(source: Server, before: datetime | None) -> Snapshot | None:
    """The snapshot a restore of `source` at or before `before` (None: the latest) will use, as far
    as the last status knows; raises InvalidInput when the known snapshots rule it out. None when
    no status is stored yet (the host then decides, and says so if there is no snapshot). As on the
    host (pick_snapshot.py), a snapshot taken within `before`'s second counts: pages show whole
    seconds, and the time shown beside a snapshot picks that snapshot."""
    row = db.session.get(ServerBackup, source.id)
    if row is None:
        return None
    known = _status(row).snapshots
    if not known:
        raise InvalidInput(f"{source.name} has no backup snapshot yet")
    fitting = [s for s in known if before is None or s.time.replace(microsecond=0) <= before]
    if not fitting:
        raise InvalidInput(
            f"{source.name} has no snapshot at or before {before:%Y-%m-%d %H:%M:%S} UTC; "
            f"its first is from {known[0].time:%Y-%m-%d %H:%M:%S} UTC"
        )
    return fitting[-1]


# --------------------------------------------------------------------------- restores so far
class _Restored(Protocol):
    @property
    def requested_at(self) -> datetime: ...
    @property
    def snapshot_time(self) -> datetime | None: ...
    @property
    def in_service_at(self) -> datetime | None: ...


class RecoveryFigures:
    """The recovery point and recovery time of a restore or of a recovery onto a new server, from
    when it was asked for, the restored snapshot's time and when the restored server served again."""

    @property
    def rpo(self: _Restored) -> timedelta | None:
        """Recovery point: how old the restored data was when it was asked for."""
        return None if self.snapshot_time is None else self.requested_at - self.snapshot_time

    @property
    def rto(self: _Restored) -> timedelta | None:
        """Recovery time: from the click to the restored server running again (a recovery: the new
        server serving the domains)."""
        return None if self.in_service_at is None else self.in_service_at - self.requested_at


@dataclass(frozen=True)
class RestoreRecord(RecoveryFigures):
    """A restore, or a recovery (webapp.services.recovery), with what it restored and its times.
    `run` is the run the person started; `finished_at` when its last run ended; `in_service_at`
    when the restored server ran again (None: not, or not yet)."""

    run: Run
    target: str | None
    source: str | None
    snapshot_id: str | None
    snapshot_time: datetime | None
    status: str
    finished_at: datetime | None
    in_service_at: datetime | None
    kind: str = "restore"

    @property
    def requested_at(self) -> datetime:
        return self.run.created_at


def restore_reports(run_ids: Iterable[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """What each restore run reported (restore.yml's set_stats): {run id: {host: {snapshot_id,
    snapshot_time, source}}}; a run that reported nothing is absent."""
    found: dict[int, dict[str, dict[str, Any]]] = {}
    rows = db.session.execute(
        select(RunEvent.run_id, RunEvent.event_data).where(
            RunEvent.run_id.in_(list(run_ids)), RunEvent.event == "playbook_on_stats"
        )
    ).tuples()
    for run_id, data in rows:
        restored = ((data or {}).get("artifact_data") or {}).get(RESTORE_STATS_KEY)
        if isinstance(restored, dict):
            found[run_id] = {host: what for host, what in restored.items() if isinstance(what, dict)}
    return found


def restores(scope: Scope, tenant: Tenant, limit: int = RESTORES_SHOWN) -> list[RestoreRecord]:
    """The tenant's latest restore runs, newest first, with what each restored."""
    runs = db.session.scalars(
        scope.select(Run)
        .where(Run.tenant_id == tenant.id, Run.catalogue_key == "restore")
        .order_by(Run.id.desc())
        .limit(limit)
    ).all()
    reports = restore_reports(r.id for r in runs)
    out = []
    for run in runs:
        host, what = next(iter(reports.get(run.id, {}).items()), (run.limit, {}))
        out.append(
            RestoreRecord(
                run=run,
                target=host,
                source=what.get("source") or (run.extravars or {}).get("restore_from_host"),
                snapshot_id=what.get("snapshot_id"),
                snapshot_time=maybe_time(what.get("snapshot_time")),
                status=str(run.status),
                finished_at=run.finished_at,
                in_service_at=run.finished_at if run.status == RunStatus.SUCCESSFUL else None,
            )
        )
    return out
