"""Checks from inside the server: parse the JSON facts document the health play returns
(playbooks/health_facts.yml) into results.

Document (schema 1), every section optional; a missing section gives an UNKNOWN result:

    {"schema": 1, "host": "mail1", "collected_at": "2025-01-01T00:00:00+00:00",
     "disk": [{"mount": "/", "size_bytes": 1, "free_bytes": 1}],
     "memory": {"total_mb": 1, "available_mb": 1},
     "load": {"load1": 0.1, "load5": 0.1, "load15": 0.1, "cpus": 2},
     "containers": [{"name": "mailu-smtp-1", "state": "running", "health": "healthy"}],
     "mail_queue": {"deferred": 0, "active": 0},
     "updates": {"pending": 0, "security": 0, "reboot_required": false},
     "fail2ban": {"running": true, "banned": 0, "jails": 2},
     "backup": {"last_success": "2025-01-01T00:00:00+00:00",       # null: never
                "status": {...}},   # the host's backup status document (BACKUP_STATUS below), or null
     "firewall": {"active": true, "rules": 12},
     "sendcap": {"configured": true, "address": "192.168.203.1:10040", "answering": true, "error": null},
     "mail": {"day": "2025-01-01", "sent": 1, "received": 1, "deferred": 0, "bounced": 0, "rejected": 0,
              "reputation_deferrals": 0, "groups": {"gmail": {"sent": 1, "deferred": 0, "bounced": 0,
                                                              "reputation_deferrals": 0}}}}

`sendcap` (the sending caps policy service answering Postfix) is a check; `mail` (the UTC day's
delivery counts, playbooks/files/mail_facts.py) is data the control plane stores, not a check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import FactsError, MonitoringConfigError
from .outcome import Outcome, error, ok, unknown, warning
from .results import CheckResult, Status

SCHEMA = 1
#: The facts play runs every 5-10 minutes; an older document means its collector stopped.
FACTS_MAX_AGE = timedelta(minutes=20)


@dataclass(frozen=True)
class FactsThresholds:
    disk_warn_free_pct: float = 30.0   # Mail-in-a-Box's thresholds
    disk_error_free_pct: float = 15.0
    memory_warn_free_pct: float = 20.0
    memory_error_free_pct: float = 10.0
    load_warn_per_cpu: float = 2.0     # 5-minute load average divided by CPUs
    load_error_per_cpu: float = 4.0
    queue_error_deferred: int = 30     # mailcow alerts at >= 30 deferred
    # Backups run hourly (the backup role's backup_on_calendar): that is the recovery point
    # objective. One missed backup (plus the half hour a backup may take) warns; three are an error.
    backup_rpo: timedelta = timedelta(hours=1)
    backup_warn_age: timedelta = timedelta(minutes=90)
    backup_error_age: timedelta = timedelta(hours=3)
    backup_drill_max_age: timedelta = timedelta(days=45)  # monthly drills plus slack

    def __post_init__(self) -> None:
        for warn, err, what in ((self.disk_warn_free_pct, self.disk_error_free_pct, "disk"),
                                (self.memory_warn_free_pct, self.memory_error_free_pct, "memory")):
            if not 0 <= err <= warn <= 100:
                raise MonitoringConfigError(
                    f"{what} thresholds need 0 <= error <= warn <= 100 (percent free)")
        if not 0 < self.load_warn_per_cpu <= self.load_error_per_cpu:
            raise MonitoringConfigError("load thresholds need 0 < warn <= error")
        if self.queue_error_deferred < 1:
            raise MonitoringConfigError("queue_error_deferred must be at least 1")
        if not timedelta(0) < self.backup_warn_age <= self.backup_error_age:
            raise MonitoringConfigError("backup ages need 0 < warn <= error")
        if self.backup_rpo <= timedelta(0) or self.backup_drill_max_age <= timedelta(0):
            raise MonitoringConfigError("backup_rpo and backup_drill_max_age must be positive")


def parse_facts(raw: str | bytes | dict[str, Any]) -> dict[str, Any]:
    """Decode and validate the top level of a facts document."""
    if isinstance(raw, str | bytes):
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise FactsError(f"facts document is not JSON: {exc}") from None
    else:
        doc = raw
    if not isinstance(doc, dict):
        raise FactsError("facts document must be a JSON object")
    if doc.get("schema") != SCHEMA:
        raise FactsError(f"facts document schema {doc.get('schema')!r} is not supported (expected {SCHEMA})")
    return doc


def _num(section: dict[str, Any], key: str, where: str) -> float:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FactsError(f"{where}.{key} must be a number, got {value!r}")
    return float(value)


def _pct_outcome(free_pct: float, warn: float, err: float, what: str) -> Outcome:
    detail = f"{what}: {free_pct:.1f} % free"
    if free_pct < err:
        return error(detail, round(free_pct, 1))
    if free_pct < warn:
        return warning(detail, round(free_pct, 1))
    return ok(detail, round(free_pct, 1))


def evaluate_facts(server: str, raw: str | bytes | dict[str, Any], thresholds: FactsThresholds,
                   now: datetime) -> list[CheckResult]:
    """All inside checks for one server. Raises FactsError on a malformed document (nothing stored)."""
    doc = parse_facts(raw)
    out: list[tuple[str, Outcome]] = []
    for key, check in _CHECKS:
        value = doc.get(key)
        if value is None:
            out.append((key, unknown(f"{key}: not reported by the host")))
            continue
        out.extend(check(value, thresholds, now))
    return [outcome.result(server, name, now) for name, outcome in out]


def facts_results(
    names: Sequence[str], directory: Path, thresholds: FactsThresholds, now: datetime
) -> list[CheckResult]:
    """The inside checks of each server from <directory>/<name>.json (playbooks/health_facts.yml):
    a missing document is unknown, one older than FACTS_MAX_AGE a warning, never green."""
    out: list[CheckResult] = []
    for name in names:
        path = directory / f"{name}.json"
        if not path.is_file():
            out.append(
                CheckResult(
                    name,
                    "facts",
                    Status.UNKNOWN,
                    None,
                    "no inside facts yet: playbooks/health_facts.yml has not reported",
                    now,
                )
            )
            continue
        age = now - datetime.fromtimestamp(path.stat().st_mtime, now.tzinfo)
        minutes = int(age.total_seconds() // 60)
        if age > FACTS_MAX_AGE:
            out.append(
                CheckResult(
                    name,
                    "facts",
                    Status.WARNING,
                    minutes,
                    f"inside facts are {minutes} min old: is the facts play running?",
                    now,
                )
            )
            continue
        try:
            found = evaluate_facts(name, path.read_bytes(), thresholds, now)
        except FactsError as exc:
            out.append(CheckResult(name, "facts", Status.UNKNOWN, None, f"facts unreadable: {exc}", now))
            continue
        out.append(
            CheckResult(name, "facts", Status.OK, minutes, f"inside facts from {minutes} min ago", now)
        )
        out.extend(found)
    return out


def _disk(disks: Any, t: FactsThresholds, now: datetime) -> list[tuple[str, Outcome]]:
    if not isinstance(disks, list):
        raise FactsError("disk must be a JSON array")
    results = []
    for entry in disks:
        if not isinstance(entry, dict) or not isinstance(entry.get("mount"), str):
            raise FactsError("each disk entry needs a mount path")
        size = _num(entry, "size_bytes", "disk")
        free = _num(entry, "free_bytes", "disk")
        if size <= 0 or free < 0 or free > size:
            raise FactsError(f"disk {entry['mount']}: free {free} of size {size} is impossible")
        pct = 100.0 * free / size
        results.append((f"disk:{entry['mount']}",
                        _pct_outcome(pct, t.disk_warn_free_pct, t.disk_error_free_pct,
                                     f"disk {entry['mount']}")))
    return results or [("disk", unknown("disk: no mounts reported"))]


def _memory(mem: Any, t: FactsThresholds, now: datetime) -> list[tuple[str, Outcome]]:
    section = _dict(mem, "memory")
    total = _num(section, "total_mb", "memory")
    available = _num(section, "available_mb", "memory")
    if total <= 0 or not 0 <= available <= total:
        raise FactsError(f"memory: available {available} of total {total} is impossible")
    return [("memory", _pct_outcome(100.0 * available / total, t.memory_warn_free_pct,
                                    t.memory_error_free_pct, "memory"))]


def _load(load: Any, t: FactsThresholds, now: datetime) -> list[tuple[str, Outcome]]:
    section = _dict(load, "load")
    load5 = _num(section, "load5", "load")
    cpus = max(_num(section, "cpus", "load"), 1.0)
    per_cpu = load5 / cpus
    detail = f"load (5 min) {load5:.2f} on {cpus:g} CPUs"
    if per_cpu >= t.load_error_per_cpu:
        return [("load", error(detail, load5))]
    if per_cpu >= t.load_warn_per_cpu:
        return [("load", warning(detail, load5))]
    return [("load", ok(detail, load5))]


def _containers(containers: Any, t: FactsThresholds, now: datetime) -> list[tuple[str, Outcome]]:
    if not isinstance(containers, list):
        raise FactsError("containers must be a JSON array")
    if not containers:
        return [("containers", error("no containers running"))]
    bad, starting = [], []
    for c in containers:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise FactsError("each container entry needs a name")
        state, health = c.get("state"), c.get("health") or "none"
        if state != "running" or health == "unhealthy":
            bad.append(f"{c['name']} ({state}, {health})")
        elif health == "starting":
            starting.append(c["name"])
    count = len(containers)
    if bad:
        detail = f"{len(bad)} of {count} containers unhealthy: {', '.join(bad)}"
        return [("containers", error(detail, len(bad)))]
    if starting:
        return [("containers", warning(f"still starting: {', '.join(starting)}", 0))]
    return [("containers", ok(f"all {count} containers running and healthy", 0))]


def _queue(queue: Any, t: FactsThresholds, now: datetime) -> list[tuple[str, Outcome]]:
    deferred = int(_num(_dict(queue, "mail_queue"), "deferred", "mail_queue"))
    detail = f"{deferred} deferred messages in the queue"
    if deferred >= t.queue_error_deferred:
        return [("mail_queue", error(detail, deferred))]
    return [("mail_queue", ok(detail, deferred))]


def _updates(updates: Any, t: FactsThresholds, now: datetime) -> list[tuple[str, Outcome]]:
    section = _dict(updates, "updates")
    pending = int(_num(section, "pending", "updates"))
    security = int(_num(section, "security", "updates")) if "security" in section else 0
    reboot = section.get("reboot_required")
    if not isinstance(reboot, bool):
        raise FactsError("updates.reboot_required must be true or false")
    if pending:
        upd = warning(f"{pending} updates pending ({security} security)", pending)
    else:
        upd = ok("no pending updates", 0)
    rb = warning("reboot required", True) if reboot else ok("no reboot required", False)
    return [("updates", upd), ("reboot_required", rb)]


def _fail2ban(f2b: Any, t: FactsThresholds, now: datetime) -> list[tuple[str, Outcome]]:
    section = _dict(f2b, "fail2ban")
    if section.get("running") is not True:
        return [("fail2ban", error("fail2ban is not running"))]
    banned = int(_num(section, "banned", "fail2ban"))
    return [("fail2ban", ok(f"fail2ban running, {banned} addresses banned", banned))]


def _when(value: Any, where: str) -> datetime:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise FactsError(f"{where} {value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise FactsError(f"{where} needs a time zone")
    return when


def _backup(backup: Any, t: FactsThresholds, now: datetime) -> list[tuple[str, Outcome]]:
    """`backup`: age of the last good snapshot against the RPO, the last run and repository check;
    `backup:drill`: the last restore drill (only from hosts that report a status document);
    `backup:copy`: the copy to the second repository (only from hosts that have one)."""
    section = _dict(backup, "backup")
    status = section.get("status")
    if status is not None:
        status = _dict(status, "backup.status")
    last = (status or section).get("last_success")
    out = [("backup", _backup_outcome(status, None if last is None else _when(last, "backup.last_success"),
                                      t, now))]
    if status is not None:
        out.append(("backup:drill", _drill_outcome(status.get("drill"), t, now)))
        copy = _step(status, "copy")
        if copy is not None:
            out.append(("backup:copy", _copy_outcome(copy, t, now)))
    return out


def _step(status: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    step = (status or {}).get(name)
    return _dict(step, f"backup.status.{name}") if step is not None else None


def _backup_outcome(status: dict[str, Any] | None, last: datetime | None, t: FactsThresholds,
                    now: datetime) -> Outcome:
    run, check = _step(status, "backup"), _step(status, "check")
    if run is not None and run.get("ok") is False:
        return error(f"the last backup failed ({run.get('at')}): {run.get('error') or 'no message'}")
    if check is not None and check.get("ok") is False:
        return error(f"the repository check failed ({check.get('at')}): {check.get('error') or 'no message'}")
    if last is None:
        return error("no successful backup recorded")
    age = now - last
    hours = round(age.total_seconds() / 3600, 1)
    rpo = t.backup_rpo.total_seconds() / 3600
    return _graded_by_age(age, hours, f"last successful backup {hours} h ago (RPO {rpo:g} h)", t)


def _copy_outcome(copy: dict[str, Any], t: FactsThresholds, now: datetime) -> Outcome:
    """The last copy to the second repository holds every snapshot and passed restic check; it
    runs after each backup, so it ages as the backups do."""
    at = _when(copy.get("at"), "backup.status.copy.at")
    if copy.get("ok") is not True:
        message = copy.get("error") or "no message"
        return error(f"copying to the second repository failed ({at:%Y-%m-%d %H:%M} UTC): {message}")
    age = now - at
    hours = round(age.total_seconds() / 3600, 1)
    detail = f"{copy.get('snapshots')} snapshots in the second repository, copied and checked {hours} h ago"
    return _graded_by_age(age, hours, detail, t)


def _graded_by_age(age: timedelta, hours: float, detail: str, t: FactsThresholds) -> Outcome:
    """A backup step's outcome by its age against the backup thresholds."""
    if age > t.backup_error_age:
        return error(detail, hours)
    if age > t.backup_warn_age:
        return warning(detail, hours)
    return ok(detail, hours)


def _drill_outcome(drill: Any, t: FactsThresholds, now: datetime) -> Outcome:
    if drill is None:
        return unknown("no restore drill has run on this host yet")
    drill = _dict(drill, "backup.status.drill")
    at = _when(drill.get("at"), "backup.status.drill.at")
    if drill.get("ok") is not True:
        message = drill.get("error") or "no message"
        return error(f"the restore drill failed ({at:%Y-%m-%d %H:%M} UTC): {message}")
    days = round((now - at).total_seconds() / 86400, 1)
    detail = (f"restore drill passed {days} d ago: {drill.get('files')} files verified "
              f"({drill.get('sampled')} checksums compared) in {drill.get('seconds')} s")
    if now - at > t.backup_drill_max_age:
        return warning(detail, days)
    return ok(detail, days)


def _firewall(fw: Any, t: FactsThresholds, now: datetime) -> list[tuple[str, Outcome]]:
    section = _dict(fw, "firewall")
    if section.get("active") is not True:
        return [("firewall", error("firewall is not active"))]
    rules = section.get("rules")
    if isinstance(rules, int) and rules == 0:
        return [("firewall", error("firewall active but has no rules", 0))]
    return [("firewall", ok(f"firewall active ({rules} rules)", rules if isinstance(rules, int) else None))]


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FactsError(f"{where} must be a JSON object")
    return value


def _sendcap(sendcap: Any, t: FactsThresholds, now: datetime) -> list[tuple[str, Outcome]]:
    section = _dict(sendcap, "sendcap")
    if section.get("configured") is not True:
        return [("sendcap", ok("no sending caps policy service configured: mail is not capped"))]
    where = section.get("address") or "its address"
    if section.get("answering") is True:
        return [("sendcap", ok(f"the sending caps policy service answers at {where}"))]
    return [("sendcap", error(
        f"the sending caps policy service at {where} does not answer ({section.get('error') or 'no answer'}):"
        " Postfix defers every message from a login (451) until it is back"))]


_CHECKS: tuple[tuple[str, Callable[[Any, FactsThresholds, datetime], list[tuple[str, Outcome]]]], ...] = (
    ("disk", _disk),
    ("memory", _memory),
    ("load", _load),
    ("containers", _containers),
    ("mail_queue", _queue),
    ("updates", _updates),
    ("fail2ban", _fail2ban),
    ("backup", _backup),
    ("firewall", _firewall),
    ("sendcap", _sendcap),
)
