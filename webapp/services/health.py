"""Health monitoring as people see it: a status board per server, each check's history, alerts with
their timeline, acknowledging, and "check now".

Every query goes through the caller's :class:`Scope` on the ``Server`` model (health rows carry a
server, the server carries the tenant), so a member of another tenant gets NotFound exactly as
for something that does not exist.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from mailfleet.clock import utcnow
from mailfleet.monitoring import AlertState, AlertStateError, Status, retire_server
from webapp.errors import Conflict, InvalidInput, NotFound
from webapp.extensions import db
from webapp.models import HealthAlert, HealthCheck, HealthResult, Server, ServerStatus
from webapp.models.health import MONITORING_CHECK, SqlHealthStore
from webapp.queue import HEALTH_CHECK_JOB, enqueue
from webapp.services.scope import Scope

#: The job, by dotted name (the web app never imports worker code).
HISTORY_POINTS = 36  # three hours at the 5-minute cadence: the board's strip
HISTORY_PAGE = 288  # one day: a check's own page
MAX_NOTE = 500
ALERT_STATES = tuple(s.value for s in AlertState)

# Board sections in the order Mail-in-a-Box shows them: the system, the host's network face, each
# domain's DNS, then reputation. Keyed by the check key's first part.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "System",
        (
            "disk",
            "memory",
            "load",
            "containers",
            "mail_queue",
            "updates",
            "reboot_required",
            "fail2ban",
            "backup",
            "firewall",
            "facts",
        ),
    ),
    ("Network and services", ("port", "smtp", "imap", "tls", "tlsa", "sendcap")),
    ("Host DNS", ("dns", "ptr")),
    ("Mail domains", ("mx", "spf", "dkim", "dmarc", "mta_sts", "soa")),
    ("Blacklists", ("dnsbl",)),
    ("Sending", ("warmup",)),
)
_SECTION_OF = {prefix: title for title, prefixes in SECTIONS for prefix in prefixes}
OTHER_SECTION = "Other"
_STATUS_ORDER = {Status.ERROR.value: 0, Status.WARNING.value: 1, Status.UNKNOWN.value: 2, Status.OK.value: 3}


def section_of(check: str) -> str:
    return _SECTION_OF.get(check.split(":", 1)[0], OTHER_SECTION)


@dataclass(frozen=True)
class Point:
    status: str
    value: Any
    at: datetime


@dataclass
class BoardRow:
    check: HealthCheck
    history: list[Point]
    alert: HealthAlert | None


@dataclass
class Board:
    server: Server
    sections: list[tuple[str, list[BoardRow]]]
    counts: Counter[str] = field(default_factory=Counter)
    last_checked_at: datetime | None = None

    @property
    def overall(self) -> str:
        """The worst current status ("none" before the first sweep)."""
        present = [s for s in _STATUS_ORDER if self.counts.get(s)]
        return min(present, key=_STATUS_ORDER.__getitem__) if present else "none"


@dataclass(frozen=True)
class ServerSummary:
    server: Server
    counts: dict[str, int]
    active_alerts: int
    last_checked_at: datetime | None


def _health_of(scope: Scope, stmt: Select[Any], model: type) -> Select[Any]:
    """Restrict a health query (on ``model`` with a server_id) to the servers the scope may see;
    rows of no server (the monitoring's own check) are for administrators."""
    joined = stmt.outerjoin(Server, model.server_id == Server.id)  # type: ignore[attr-defined]
    return scope.restrict(joined, Server)


def monitoring() -> HealthCheck | None:
    """The outcome of the latest sweep (the ``monitoring`` check), None before the first one.
    It concerns every tenant alike; the pages show its error to administrators only."""
    return db.session.scalar(
        select(HealthCheck).where(HealthCheck.server_id.is_(None), HealthCheck.check == MONITORING_CHECK)
    )


def summaries(scope: Scope) -> list[ServerSummary]:
    # A deprovisioned server has nothing left to watch: the board lists what still runs.
    live = scope.select(Server).where(Server.status != ServerStatus.GONE)
    servers = list(db.session.scalars(live.order_by(Server.name)))
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    last: dict[int, datetime] = {}
    stmt = select(
        HealthCheck.server_id, HealthCheck.last_status, func.count(), func.max(HealthCheck.last_checked_at)
    ).group_by(HealthCheck.server_id, HealthCheck.last_status)
    for server_id, status, n, at in db.session.execute(_health_of(scope, stmt, HealthCheck)):
        counts[server_id][status or Status.UNKNOWN.value] = n
        if at is not None and (server_id not in last or at > last[server_id]):
            last[server_id] = at
    alerting = _health_of(
        scope,
        select(HealthAlert.server_id, func.count())
        .where(HealthAlert.state != AlertState.RESOLVED.value)
        .group_by(HealthAlert.server_id),
        HealthAlert,
    )
    active: dict[int | None, int] = {server_id: n for server_id, n in db.session.execute(alerting)}
    return [ServerSummary(s, counts.get(s.id, {}), active.get(s.id, 0), last.get(s.id)) for s in servers]


def _recent(server_id: int, per_check: int) -> dict[str, list[Point]]:
    """The last ``per_check`` results of every check of one server, oldest first."""
    ranked = (
        select(
            HealthResult.check,
            HealthResult.status,
            HealthResult.value,
            HealthResult.checked_at,
            func.row_number()
            .over(partition_by=HealthResult.check, order_by=HealthResult.checked_at.desc())
            .label("n"),
        )
        .where(HealthResult.server_id == server_id)
        .subquery()
    )
    rows = db.session.execute(
        select(ranked.c.check, ranked.c.status, ranked.c.value, ranked.c.checked_at)
        .where(ranked.c.n <= per_check)
        .order_by(ranked.c.checked_at)
    )
    out: dict[str, list[Point]] = defaultdict(list)
    for check, status, value, at in rows:
        out[check].append(Point(status, value, at))
    return out


def board(scope: Scope, server_id: int) -> Board:
    server = scope.get(Server, server_id)
    checks = db.session.scalars(select(HealthCheck).where(HealthCheck.server_id == server.id)).all()
    history = _recent(server.id, HISTORY_POINTS)
    grouped: dict[str, list[BoardRow]] = defaultdict(list)
    result = Board(server, [])
    for c in checks:
        grouped[section_of(c.check)].append(BoardRow(c, history.get(c.check, []), c.alert))
        result.counts[c.last_status or Status.UNKNOWN.value] += 1
        if c.last_checked_at and (
            result.last_checked_at is None or c.last_checked_at > result.last_checked_at
        ):
            result.last_checked_at = c.last_checked_at
    for title in [t for t, _ in SECTIONS] + [OTHER_SECTION]:
        rows = grouped.get(title)
        if rows:
            rows.sort(key=lambda r: (_STATUS_ORDER.get(r.check.last_status or "", 2), r.check.check))
            result.sections.append((title, rows))
    return result


def check_history(
    scope: Scope, server_id: int, check: str, limit: int = HISTORY_PAGE
) -> tuple[HealthCheck, list[HealthResult], list[HealthAlert]]:
    """One check of one server: its state, its latest results (newest first) and its alerts."""
    server = scope.get(Server, server_id)
    state = db.session.scalar(
        select(HealthCheck).where(HealthCheck.server_id == server.id, HealthCheck.check == check)
    )
    if state is None:
        raise NotFound(f"no check {check!r} on server {server.name}")
    results = list(
        db.session.scalars(
            select(HealthResult)
            .where(HealthResult.server_id == server.id, HealthResult.check == check)
            .order_by(HealthResult.checked_at.desc())
            .limit(limit)
        )
    )
    alerts = list(
        db.session.scalars(
            select(HealthAlert)
            .where(HealthAlert.server_id == server.id, HealthAlert.check == check)
            .order_by(HealthAlert.opened_at.desc())
            .limit(20)
        )
    )
    return state, results, alerts


def points(results: list[HealthResult]) -> list[Point]:
    """Results (newest first) as a history strip's points (oldest first)."""
    return [Point(r.status, r.value, r.checked_at) for r in reversed(results)]


def list_alerts(
    scope: Scope, state: str | None = None, server_id: int | None = None, limit: int = 200
) -> list[HealthAlert]:
    if state is not None and state not in ALERT_STATES:
        raise InvalidInput(f"unknown alert state {state!r} (one of {', '.join(ALERT_STATES)})")
    stmt = _health_of(scope, select(HealthAlert), HealthAlert)
    if state is not None:
        stmt = stmt.where(HealthAlert.state == state)
    if server_id is not None:
        stmt = stmt.where(HealthAlert.server_id == server_id)
    return list(db.session.scalars(stmt.order_by(HealthAlert.opened_at.desc()).limit(limit)))


def get_alert(scope: Scope, alert_id: int) -> HealthAlert:
    found = db.session.scalar(
        _health_of(scope, select(HealthAlert), HealthAlert).where(HealthAlert.id == alert_id)
    )
    if found is None:
        raise NotFound(f"alert {alert_id} not found")
    return found


def acknowledge_alert(scope: Scope, alert_id: int, note: str = "") -> HealthAlert:
    """The current user takes the alert; it stays until it resolves but no longer escalates."""
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"the note may have at most {MAX_NOTE} characters")
    get_alert(scope, alert_id)  # scoping: NotFound for another tenant's alert
    try:
        return SqlHealthStore().acknowledge(alert_id, scope.actor, utcnow(), note)
    except AlertStateError as exc:
        db.session.rollback()
        raise Conflict(str(exc)) from None


def retire(server: Server, reason: str) -> int:
    """A server taken out of service (deprovisioned, gone from the provider): its active alerts
    resolve through the state machine with ``reason`` on their timeline. Returns how many."""
    return len(retire_server(SqlHealthStore(), server.name, utcnow(), reason))


def retire_address(server: Server, address: str, reason: str) -> int:
    """The server left `address` (a new main IP): the alerts of the checks that name it (its ports,
    its PTR, its blocklist listings) resolve with ``reason``, and those checks leave the server's
    board, which the sweeps no longer refresh; their results stay, the address's history. Returns
    how many checks went."""

    def naming(check: str) -> bool:
        return check.endswith((f"@{address}", f":{address}"))

    retire_server(SqlHealthStore(), server.name, utcnow(), reason, naming)
    gone = [c for c in db.session.scalars(select(HealthCheck).where(HealthCheck.server_id == server.id))
            if naming(c.check)]
    for check in gone:
        db.session.delete(check)
    db.session.commit()
    return len(gone)


def check_now(scope: Scope, server_id: int) -> str:
    """Enqueue a sweep of this one server; a second click while it waits does not queue another."""
    server = scope.get(Server, server_id)
    if (
        server.status != ServerStatus.ACTIVE
        or not server.mail_hostname
        or not (server.public_ipv4 or server.public_ipv6)
    ):
        raise InvalidInput(
            f"{server.name} cannot be checked yet: it needs to be active, with a mail host "
            "name and a public address"
        )
    return enqueue(HEALTH_CHECK_JOB, server.id, f"health check of {server.name}")


@dataclass(frozen=True)
class ValueChart:
    """Geometry of a small line chart (inline SVG, no script) of a check's numeric values."""

    width: int
    height: int
    points: str  # the SVG polyline's "x,y x,y ..."
    low: float
    high: float
    first_at: datetime
    last_at: datetime


def value_chart(results: list[HealthResult], width: int = 640, height: int = 120) -> ValueChart | None:
    """Numeric values of ``results`` (newest first, as check_history returns them), oldest at the
    left; None when fewer than two are numbers (a status strip tells the story then)."""
    numeric = [
        (r.checked_at, float(r.value))
        for r in reversed(results)
        if isinstance(r.value, int | float) and not isinstance(r.value, bool)
    ]
    if len(numeric) < 2:
        return None
    low, high = min(v for _, v in numeric), max(v for _, v in numeric)
    span = (high - low) or 1.0
    pad = 6
    step = (width - 2 * pad) / (len(numeric) - 1)
    points = " ".join(
        f"{pad + i * step:.1f},{pad + (height - 2 * pad) * (1 - (v - low) / span):.1f}"
        for i, (_, v) in enumerate(numeric)
    )
    return ValueChart(width, height, points, low, high, numeric[0][0], numeric[-1][0])
