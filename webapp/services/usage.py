"""Usage history: recording 5-minute samples, rolling them up, pruning, and reading series.

Retention per resolution (settings MAILFLEET_USAGE_KEEP_*_DAYS): 5-minute samples 30 days, hourly
rollups one year, daily rollups two years, by default. Hourly and daily rows are both built from
the 5-minute samples (averages; CPU also as the peak of the bucket), so a rollup is exact whichever
runs first, and it is idempotent: a bucket already rolled up is rebuilt from the same samples.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import Integer, Select, cast, delete, func, insert, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mailfleet.usage import FIELDS, MB, Sample, from_facts, from_instance
from webapp.errors import InvalidInput
from webapp.extensions import db, rows_changed
from webapp.integrations import mailu_client
from webapp.models import Domain, Mailbox, Server, ServerStatus, Tenant
from webapp.models.usage import DAY, FIVE_MINUTES, HOUR, MailboxUsage, UsageSample, UsageTotal

log = logging.getLogger(__name__)

#: The setting of how many days each resolution is kept.
RETENTION = {
    FIVE_MINUTES: "MAILFLEET_USAGE_KEEP_5MIN_DAYS",
    HOUR: "MAILFLEET_USAGE_KEEP_HOURLY_DAYS",
    DAY: "MAILFLEET_USAGE_KEEP_DAILY_DAYS",
}
#: Chart ranges offered, with the resolution each one reads.
RANGES = {"24h": (DAY, FIVE_MINUTES), "7d": (7 * DAY, HOUR), "30d": (30 * DAY, HOUR), "90d": (90 * DAY, DAY)}
#: A rollup waits this long after a bucket ends, so a late 5-minute sample still counts.
ROLLUP_DELAY = 600
MAILU_LOOKUPS = 8  # Mailu API calls in flight at once
_GAUGES = [f for f in FIELDS if f != "cpu_pct"]
#: The figures a fleet or tenant total sums over its servers (CPU is averaged).
TOTALLED = [
    c.name
    for c in UsageTotal.__table__.columns
    if c.name not in ("tenant_id", "step", "ts", "servers", "cpu_pct")
]


#: Bound parameters in one statement: PostgreSQL takes at most 65,535 and SQLite's default build
#: 32,766, so a large upsert (a big fleet's samples, a month of totals rebuilt) goes in batches.
MAX_PARAMETERS = 30_000


def _upsert(model: type[db.Model], rows: list[dict[str, Any]]) -> None:  # type: ignore[name-defined]
    """Insert rows, replacing any with the same primary key (a sample recorded twice in one bucket)."""
    if not rows:
        return
    dialect = db.engine.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise RuntimeError(f"usage history supports SQLite and PostgreSQL, not {dialect}")
    make = sqlite_insert if dialect == "sqlite" else pg_insert
    keys = [c.name for c in model.__table__.primary_key]
    per = max(1, MAX_PARAMETERS // len(rows[0]))
    for first in range(0, len(rows), per):
        stmt = make(model).values(rows[first : first + per])
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: stmt.excluded[c] for c in rows[0] if c not in keys}
        )
        db.session.execute(stmt)


def _upsert_select(model: type[db.Model], query: Select[Any]) -> int:  # type: ignore[name-defined]
    """INSERT ... SELECT in the database, replacing rows with the same primary key (no row passes
    through Python, whatever the fleet's size); returns how many rows were written."""
    make = sqlite_insert if db.engine.dialect.name == "sqlite" else pg_insert
    names = [c.name for c in query.selected_columns]
    keys = [c.name for c in model.__table__.primary_key]
    stmt = make(model).from_select(names, query)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={n: stmt.excluded[n] for n in names if n not in keys}
    )
    return rows_changed(stmt.execution_options(preserve_rowcount=True))


def build_totals(step: int, start: int, end: int) -> int:
    """Sum the `step` rows of the buckets in [start, end) over the fleet and over each tenant's
    servers into usage_totals (replacing what was there); returns how many totals were written."""
    c = UsageSample.__table__.c
    figures = [
        literal(step).label("step"),
        c.ts,
        func.count().label("servers"),
        cast(func.round(func.avg(c.cpu_pct)), Integer).label("cpu_pct"),
        *(func.sum(c[name]).label(name) for name in TOTALLED),
    ]
    rows = select(*figures).where(c.step == step, c.ts >= start, c.ts < end)
    fleet = _upsert_select(UsageTotal, rows.add_columns(literal(0).label("tenant_id")).group_by(c.ts))
    return fleet + _upsert_select(
        UsageTotal,
        rows.join(Server, Server.id == c.server_id)
        .where(Server.tenant_id.is_not(None))
        .add_columns(Server.tenant_id)
        .group_by(c.ts, Server.tenant_id),
    )


def read_facts(directory: Path, name: str) -> Sample:
    """The figures of <directory>/<name>.json (the facts play's document); empty if unreadable."""
    try:
        doc = json.loads((directory / f"{name}.json").read_bytes())
    except (OSError, ValueError):
        return Sample()
    return from_facts(doc) if isinstance(doc, dict) else Sample()


def mailbox_counts() -> dict[int, int]:
    rows = db.session.execute(
        select(Domain.server_id, func.count(Mailbox.id)).join(Mailbox.domain).group_by(Domain.server_id)
    )
    return {server_id: count for server_id, count in rows}


def active_servers() -> list[Server]:
    """The fleet's active servers (a restore drill's throwaway server is none of them)."""
    return list(
        db.session.scalars(
            select(Server).where(Server.status == ServerStatus.ACTIVE, Server.drill_of_id.is_(None))
        )
    )


def mailbox_storage(servers: Iterable[Server]) -> dict[int, dict[str, int]]:
    """{server id: {mailbox address: bytes of mail in it}}, asked of each server's Mailu (the users'
    quota use), a few at a time; a server whose Mailu does not answer is left out."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    asks = [(s.id, s.tenant.slug, s.mail_hostname or s.name) for s in servers if s.tenant is not None]

    def ask(item: tuple[int, str, str]) -> tuple[int, dict[str, int] | None]:
        server_id, tenant, host = item
        try:
            with app.app_context(), mailu_client(tenant, host, app) as client:
                used = {
                    str(u["email"]).lower(): int(u.get("quota_bytes_used") or 0)
                    for u in client.list_users()
                    if u.get("email")
                }
        except Exception as exc:  # noqa: BLE001 - one server's Mailu must not cost the others' samples
            log.warning("mailbox storage of %s unknown: %s", host, type(exc).__name__)
            return server_id, None
        return server_id, used

    if not asks:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAILU_LOOKUPS, len(asks))) as pool:
        return {sid: used for sid, used in pool.map(ask, asks) if used is not None}


def _record_mailboxes(stored: Mapping[int, Mapping[str, int]], now: datetime) -> None:
    """The latest bytes of each mailbox the control plane knows on a server that answered."""
    if not stored:
        return
    known = db.session.execute(
        select(Mailbox.id, Mailbox.email, Domain.server_id)
        .join(Mailbox.domain)
        .where(Domain.server_id.in_(list(stored)))
    )
    rows = [
        {"mailbox_id": mailbox_id, "stored_bytes": used, "sampled_at": now}
        for mailbox_id, email, server_id in known
        if (used := stored[server_id].get(email.lower())) is not None
    ]
    _upsert(MailboxUsage, rows)


def record_samples(
    now: datetime,
    facts_dir: Path | None,
    instances: Iterable[Mapping[str, Any]] = (),
    stored: Mapping[int, Mapping[str, int]] | None = None,
) -> int:
    """One 5-minute sample per active server from its facts document, the providers' server records
    (mailfleet.providers, matched by provider and provider id), the mailbox count and the mail
    stored (`stored`, from :func:`mailbox_storage`, which also gives each mailbox's latest bytes);
    returns how many samples were written."""
    ts = int(now.timestamp()) // FIVE_MINUTES * FIVE_MINUTES
    by_id = {}
    for instance in instances:
        try:
            by_id[(str(instance["provider"]), int(instance["provider_id"]))] = from_instance(instance)
        except (KeyError, TypeError, ValueError):
            continue
    mailboxes = mailbox_counts()
    rows = []
    stored = stored or {}
    mailbox_mb = {sid: round(sum(used.values()) / MB) for sid, used in stored.items()}
    for server in active_servers():
        sample = read_facts(facts_dir, server.name) if facts_dir is not None else Sample()
        sample = sample.merged(by_id.get((server.provider, server.provider_id or -1), Sample()))
        sample = sample.merged(
            Sample(mailboxes=mailboxes.get(server.id, 0), mailbox_mb=mailbox_mb.get(server.id))
        )
        figures = sample.as_dict()
        rows.append(
            {
                "server_id": server.id,
                "step": FIVE_MINUTES,
                "ts": ts,
                "samples": 1,
                **figures,
                "cpu_peak_pct": figures["cpu_pct"],
            }
        )
    _upsert(UsageSample, rows)
    build_totals(FIVE_MINUTES, ts, ts + FIVE_MINUTES)
    _record_mailboxes(stored, now)
    db.session.commit()
    return len(rows)


def rollup(step: int, now: datetime) -> int:
    """Build the `step` rows of every finished bucket since the last one built (or since the oldest
    5-minute sample); returns how many buckets were written."""
    if step not in (HOUR, DAY):
        raise ValueError(f"no rollup at {step} s")
    end = (int(now.timestamp()) - ROLLUP_DELAY) // step * step
    last = db.session.scalar(select(func.max(UsageSample.ts)).where(UsageSample.step == step))
    first = db.session.scalar(select(func.min(UsageSample.ts)).where(UsageSample.step == FIVE_MINUTES))
    if first is None:
        return 0
    start = last + step if last is not None else first // step * step
    if start >= end:
        return 0
    fine = UsageSample.__table__.c
    bucket = fine.ts - fine.ts % step
    columns = [
        fine.server_id,
        literal(step).label("step"),
        bucket.label("ts"),
        func.count().label("samples"),
        cast(func.round(func.avg(fine.cpu_pct)), Integer).label("cpu_pct"),
        func.max(fine.cpu_peak_pct).label("cpu_peak_pct"),
    ]
    columns += [cast(func.round(func.avg(fine[name])), Integer).label(name) for name in _GAUGES]
    query = (
        select(*columns)
        .where(fine.step == FIVE_MINUTES, fine.ts >= start, fine.ts < end)
        .group_by(fine.server_id, bucket)
    )
    # In the database: a fleet's backlog of buckets never passes through Python. PostgreSQL's
    # driver reports an INSERT ... SELECT's row count only when asked to keep it.
    stmt = insert(UsageSample).from_select([c.name for c in columns], query)
    written = rows_changed(stmt.execution_options(preserve_rowcount=True))
    if written:
        build_totals(step, start, end)
    db.session.commit()
    return written


def retention() -> dict[int, int]:
    """{resolution: seconds of history kept}, from the settings."""
    return {step: current_app.config[name] * DAY for step, name in RETENTION.items()}


def prune(now: datetime) -> int:
    """Delete rows and totals older than their resolution's retention; returns how many rows."""
    gone = 0
    for step, keep in retention().items():
        before = int(now.timestamp()) - keep
        db.session.execute(delete(UsageTotal).where(UsageTotal.step == step, UsageTotal.ts < before))
        gone += rows_changed(delete(UsageSample).where(UsageSample.step == step, UsageSample.ts < before))
    db.session.commit()
    return gone


@dataclass(frozen=True)
class Series:
    step: int
    rows: list[UsageSample]

    def points(self, name: str) -> list[tuple[int, float]]:
        return [(r.ts, float(v)) for r in self.rows if (v := getattr(r, name)) is not None]

    def latest(self, name: str) -> float | None:
        found = self.points(name)
        return found[-1][1] if found else None


def series(server: Server, range_key: str, now: datetime) -> Series:
    """The server's history over a chart range ("24h", "7d", "30d", "90d")."""
    if range_key not in RANGES:
        raise InvalidInput(f"range must be one of {', '.join(RANGES)}")
    span, step = RANGES[range_key]
    since = int(now.timestamp()) - span
    return window(server.id, step, since)


def totals(range_key: str, now: datetime, tenant_id: int | None = None) -> list[UsageTotal]:
    """The fleet's (or one tenant's servers') usage over a chart range, one point per bucket."""
    if range_key not in RANGES:
        raise InvalidInput(f"range must be one of {', '.join(RANGES)}")
    span, step = RANGES[range_key]
    return list(
        db.session.scalars(
            select(UsageTotal)
            .where(
                UsageTotal.tenant_id == (tenant_id or 0),
                UsageTotal.step == step,
                UsageTotal.ts >= int(now.timestamp()) - span,
            )
            .order_by(UsageTotal.ts)
        )
    )


def mailbox_usage(tenant: Tenant) -> list[tuple[Mailbox, MailboxUsage | None]]:
    """The tenant's mailboxes with the mail each holds (None: not sampled yet), fullest first."""
    query = (
        select(Mailbox, MailboxUsage)
        .outerjoin(MailboxUsage, MailboxUsage.mailbox_id == Mailbox.id)
        .where(Mailbox.tenant_id == tenant.id)
        .order_by(MailboxUsage.stored_bytes.desc().nulls_last(), Mailbox.email)
    )
    return [(mailbox, used) for mailbox, used in db.session.execute(query)]


def bucket_time(ts: int) -> str:
    """A bucket's start as exported (CSV and JSON): UTC, ISO 8601."""
    return datetime.fromtimestamp(ts, UTC).isoformat()


#: The columns of a server's exported samples and of exported totals, in order.
SAMPLE_COLUMNS = ("time", "resolution_s", "samples", *FIELDS, "cpu_peak_pct")
TOTAL_COLUMNS = ("time", "resolution_s", "servers", "cpu_pct", *TOTALLED)


def records(
    rows: Iterable[UsageSample | UsageTotal], step: int, columns: Sequence[str]
) -> list[dict[str, Any]]:
    """Samples or totals as exported (the API's JSON rows and every CSV download): one dict each."""
    out = []
    for row in rows:
        found = {name: getattr(row, name) for name in columns[2:]}
        out.append({"time": bucket_time(row.ts), "resolution_s": step, **found})
    return out


def window(server_id: int, step: int, since: int) -> Series:
    rows = db.session.scalars(
        select(UsageSample)
        .where(UsageSample.server_id == server_id, UsageSample.step == step, UsageSample.ts >= since)
        .order_by(UsageSample.ts)
    ).all()
    return Series(step, list(rows))
