"""Benchmark: usage history at fleet scale, 1,000 servers x 90 days of 5-minute samples, on SQLite
and PostgreSQL side by side, each figure beside its goal.

For each database (SQLite, then with --postgresql a private PostgreSQL cluster: bench/page_bench.py's,
Debian's postgresql, run as root), migrated and empty:

1. Load: --servers servers over 50 tenants, each with --days days of 5-minute samples (1,000 x 90 x
   288 = 25.9 million rows, every figure filled in), generated inside the database, with the fleet
   and tenant totals of every 5-minute bucket as the sampler writes them.
2. Rollup: the hourly and then the daily rollup of all of it (webapp.services.usage.rollup, as the
   hourly job's first run over that backlog would), then the steady state: one more hour of
   5-minute samples arrives and the hourly job's usage work (rollups and pruning) runs over the full
   table. 5-minute samples are kept --days days here (MAILFLEET_USAGE_KEEP_5MIN_DAYS), so the
   pruning deletes the oldest hour.
3. Query: the 90-day fleet chart (webapp.services.usage.totals, daily totals) against its goal of
   300 ms; a tenant's 90-day chart; one server's 90-day chart (its daily rollups); the 24-hour fleet
   chart (5-minute totals); and, to show what the totals save, the same 90 days of the fleet summed
   straight from the 5-minute samples.
4. Storage: the bytes of the 5-minute samples (table and index) per server, and per server-year at
   that rate; then the steady state at the default retention (5-minute samples 30 days, hourly 1
   year, daily 2 years) built for --steady servers and pruned by the real code, beside its goal
   (4 MiB a server).

Wall time and this process's CPU time are both printed: on a shared machine the wall time is mostly
waiting for a core, and PostgreSQL's own work is in its server processes, not in the CPU figure.

    .venv/bin/python bench/usage_storage_bench.py [--servers 1000] [--days 90] [--steady 5] [--postgresql]
        [--no-sqlite]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from webapp.extensions import db  # noqa: E402
from webapp.models import Server, ServerStatus, Tenant  # noqa: E402
from webapp.models.usage import DAY, FIVE_MINUTES, HOUR, UsageSample  # noqa: E402
from webapp.services import usage  # noqa: E402
from webapp.testing import make_app  # noqa: E402

GOAL_FLEET_CHART_S = 0.3
GOAL_STEADY_BYTES = 4 * 1024 * 1024  # per server, all three resolutions at steady state
TENANTS = 50
MIB = 1024 * 1024
#: The end of the loaded history: a bucket boundary of every resolution, as the hourly job sees it.
NOW = datetime(2026, 12, 1, tzinfo=UTC)

#: Every figure of a sample as an SQL expression of its server (s.id) and bucket (t.ts): the same
#: on both databases, varied enough that no page or index compresses it away.
FIGURES = {
    "samples": "1",
    "cpu_pct": "10 + (t.ts / 300 + s.id) % 70",
    "cpu_peak_pct": "40 + (t.ts / 300 + s.id) % 60",
    "mem_used_mb": "1200 + (t.ts / 300 + s.id) % 500",
    "mem_total_mb": "2048",
    "disk_used_mb": "20000 + (t.ts / 3600 + s.id) % 9000",
    "disk_total_mb": "51200",
    "bw_used_gb": "(t.ts / 86400) % 1000",
    "bw_total_gb": "2000",
    "queue_deferred": "(t.ts / 300) % 7",
    "queue_active": "(t.ts / 300) % 3",
    "mailboxes": "120",
    "mailbox_mb": "3000 + (t.ts / 86400 + s.id) % 500",
}


class Clock:
    """Wall and CPU seconds of one step, printed as it ends and kept for the summary."""

    def __init__(self) -> None:
        self.figures: dict[str, float] = {}

    @contextmanager
    def step(self, key: str, label: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), time.process_time()
        yield
        wall, used = time.perf_counter() - start, time.process_time() - cpu
        self.figures[key] = wall
        print(f"  {label}: {wall * 1000:,.0f} ms (CPU {used * 1000:,.0f} ms)", flush=True)


def _timestamps(dialect: str, start: int, end: int) -> str:
    """A FROM item `t(ts)`: every 5-minute bucket in [start, end)."""
    if dialect == "postgresql":
        return f"generate_series({start}, {end - FIVE_MINUTES}, {FIVE_MINUTES}) AS t(ts)"
    return (
        f"(WITH RECURSIVE steps(ts) AS (SELECT {start} UNION ALL SELECT ts + {FIVE_MINUTES} FROM steps "
        f"WHERE ts + {FIVE_MINUTES} < {end}) SELECT ts FROM steps) AS t"
    )


def add_samples(start: int, end: int) -> int:
    """5-minute samples of every server for [start, end), written by the database itself in primary
    key order, then their fleet and tenant totals; returns how many samples."""
    dialect = db.engine.dialect.name
    columns = ", ".join(FIGURES)
    figures = ", ".join(FIGURES.values())
    # SQLite runs a CROSS JOIN in the order written: servers outside, so rows arrive in key order.
    join = "CROSS JOIN" if dialect == "sqlite" else ","
    order = "" if dialect == "sqlite" else " ORDER BY s.id, t.ts"
    written = db.session.execute(
        text(
            f"INSERT INTO usage_samples (server_id, step, ts, {columns}) "
            f"SELECT s.id, {FIVE_MINUTES}, t.ts, {figures} FROM servers AS s {join} "
            f"{_timestamps(dialect, start, end)}{order}"
        )
    ).rowcount
    usage.build_totals(FIVE_MINUTES, start, end)
    db.session.commit()
    return written


def table_bytes(table: str) -> int:
    """The bytes of a table with its indexes."""
    if db.engine.dialect.name == "postgresql":
        return db.session.scalar(text(f"SELECT pg_total_relation_size('{table}')"))
    return db.session.scalar(
        text(
            "SELECT sum(pgsize) FROM dbstat WHERE name = :table OR name IN "
            "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :table)"
        ),
        {"table": table},
    )


def compact(table: str) -> None:
    """Give back the space of deleted rows, as a database that has run for a while has."""
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM FULL {table}" if db.engine.dialect.name == "postgresql" else "VACUUM"))


@contextmanager
def database(tmp: Path, url: str | None, **config: Any) -> Iterator[None]:
    """An app context on a fresh, migrated database: SQLite in `tmp`, or a new database on the
    PostgreSQL server of `url` (dropped afterwards)."""
    from flask_migrate import upgrade
    from sqlalchemy import create_engine

    name = f"usage_{tmp.name.lower().strip('_')}"
    if url:
        server = create_engine(url, isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    where = {"SQLALCHEMY_DATABASE_URI": f"{url.rsplit('/', 1)[0]}/{name}"} if url else {}
    app = make_app(tmp, **where, **config)
    try:
        with app.app_context():
            if url:
                upgrade()
            try:
                yield
            finally:
                db.session.remove()
                db.engine.dispose()
    finally:
        if url:
            with server.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}"'))
            server.dispose()


def add_fleet(size: int) -> list[int]:
    tenants = [Tenant(slug=f"bench-{n}", name=f"Bench {n}") for n in range(TENANTS)]
    db.session.add_all(tenants)
    db.session.flush()
    db.session.add_all(
        Server(name=f"mf-bench-{n}", tenant_id=tenants[n % TENANTS].id, status=ServerStatus.ACTIVE)
        for n in range(size)
    )
    db.session.commit()
    return list(db.session.scalars(db.select(Server.id).order_by(Server.id)))


def fleet(size: int, days: int, url: str | None) -> dict[str, float]:
    end = int(NOW.timestamp())
    start = end - days * DAY
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp, database(Path(tmp), url, MAILFLEET_USAGE_KEEP_5MIN_DAYS=days):
        ids = add_fleet(size)
        with clock.step("load", f"load {size:,} servers x {days} days of 5-minute samples, with totals"):
            loaded = add_samples(start, end)
        print(f"  ({loaded:,} samples)")
        samples_bytes = table_bytes("usage_samples")
        with clock.step("rollup_hourly", "hourly rollup of the whole backlog"):
            hourly = usage.rollup(HOUR, NOW + timedelta(seconds=usage.ROLLUP_DELAY))
        with clock.step("rollup_daily", "daily rollup of the whole backlog"):
            daily = usage.rollup(DAY, NOW + timedelta(seconds=usage.ROLLUP_DELAY))
        print(f"  ({hourly:,} hourly and {daily:,} daily rows)")
        add_samples(end, end + HOUR)  # the next hour, as the sampler writes it
        later = NOW + timedelta(hours=1, seconds=usage.ROLLUP_DELAY)
        with clock.step("steady", "the hourly job's usage work at steady state (rollups and pruning)"):
            usage.rollup(HOUR, later)
            usage.rollup(DAY, later)
            pruned = usage.prune(later)
        print(f"  ({pruned:,} rows past the retention pruned)")
        charts: dict[str, Callable[[], object]] = {
            "fleet_90d": lambda: usage.totals("90d", later),
            "tenant_90d": lambda: usage.totals("90d", later, tenant_id=1),
            "server_90d": lambda: usage.window(ids[0], DAY, int(later.timestamp()) - 90 * DAY),
            "fleet_24h": lambda: usage.totals("24h", later),
            "fleet_90d_raw": lambda: db.session.execute(
                text(
                    "SELECT ts - ts % 86400 AS day, avg(cpu_pct), sum(disk_used_mb), sum(mailbox_mb) "
                    "FROM usage_samples WHERE step = 300 AND ts >= :since GROUP BY ts - ts % 86400"
                ),
                {"since": int(later.timestamp()) - 90 * DAY},
            ).all(),
        }
        labels = {
            "fleet_90d": "90-day fleet chart",
            "tenant_90d": "90-day chart of a tenant (20 servers)",
            "server_90d": "90-day chart of one server",
            "fleet_24h": "24-hour fleet chart (5-minute totals)",
            "fleet_90d_raw": "the 90 days of the fleet summed from the 5-minute samples instead",
        }
        for key, query in charts.items():
            query()  # the first read warms the page cache; the chart is timed on the second
            with clock.step(key, labels[key]):
                points = query()
            print(f"  ({len(points.rows) if isinstance(points, usage.Series) else len(points)} points)")
    per_server = samples_bytes / size
    clock.figures["bytes_90d"] = per_server
    clock.figures["bytes_year"] = per_server * 365 / days
    print(
        f"  5-minute samples: {per_server / MIB:.2f} MiB a server for {days} days; "
        f"{per_server * 365 / days / MIB:.2f} MiB a server-year at full detail"
    )
    return clock.figures


def steady_rows(server_id: int, step: int, span: int) -> list[dict[str, int]]:
    end = int(NOW.timestamp()) // step * step
    return [
        {"server_id": server_id, "step": step, "ts": ts, "samples": step // FIVE_MINUTES}
        | {name: 10 + (ts // step + server_id) % 70 for name in FIGURES if name != "samples"}
        for ts in range(end - span, end, step)
    ]


def steady(servers: int, url: str | None) -> float:
    """Bytes a server's history takes at the default retention, every resolution full, pruned."""
    with tempfile.TemporaryDirectory() as tmp, database(Path(tmp), url):
        ids = add_fleet(servers)
        for sid in ids:
            for step, keep in usage.retention().items():
                db.session.execute(db.insert(UsageSample), steady_rows(sid, step, keep + 2 * DAY))
        db.session.commit()
        usage.prune(NOW)
        compact("usage_samples")
        per_server = table_bytes("usage_samples") / servers
    verdict = "ok" if per_server <= GOAL_STEADY_BYTES else "OVER GOAL"
    print(f"  steady state at the default retention: {per_server / MIB:.2f} MiB a server {verdict}")
    return per_server


def summary(results: dict[str, dict[str, float]], size: int, days: int) -> None:
    names = list(results)
    print(f"\n== {size:,} servers x {days} days of 5-minute samples, side by side")
    print(f"| what | {' | '.join(names)} | goal |")
    print(f"|---|{'---|' * len(names)}---|")

    def ms(key: str) -> list[str]:
        return [f"{results[n][key] * 1000:,.0f} ms" for n in names]

    def mib(key: str) -> list[str]:
        return [f"{results[n][key] / MIB:.2f} MiB" for n in names]

    rows = [
        ("load (generated in the database)", ms("load"), ""),
        ("hourly rollup of the backlog", ms("rollup_hourly"), ""),
        ("daily rollup of the backlog", ms("rollup_daily"), ""),
        ("hourly job's usage work, steady state", ms("steady"), ""),
        ("**90-day fleet chart**", ms("fleet_90d"), f"< {GOAL_FLEET_CHART_S * 1000:.0f} ms"),
        ("90-day tenant chart", ms("tenant_90d"), ""),
        ("90-day server chart", ms("server_90d"), ""),
        ("24-hour fleet chart", ms("fleet_24h"), ""),
        ("90-day fleet sum from the samples (no totals)", ms("fleet_90d_raw"), ""),
        (f"5-minute samples per server, {days} days", mib("bytes_90d"), ""),
        ("per server-year, all at 5 minutes", mib("bytes_year"), ""),
        ("per server, steady state at the default retention", mib("steady_bytes"), "<= 4 MiB"),
    ]
    for label, cells, goal in rows:
        print(f"| {label} | {' | '.join(cells)} | {goal} |")
    print(f"(load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--steady", type=int, default=5, help="servers of the steady-state storage part")
    parser.add_argument("--postgresql", action="store_true", help="the same on PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only (another run has SQLite)")
    args = parser.parse_args()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    results = {}
    for name, url in databases(not args.no_sqlite, args.postgresql):
        print(f"== {name}", flush=True)
        results[name] = fleet(args.servers, args.days, url) | {"steady_bytes": steady(args.steady, url)}
    summary(results, args.servers, args.days)


def databases(sqlite: bool, postgresql: bool) -> Iterator[tuple[str, str | None]]:
    if sqlite:
        yield "SQLite", None
    if postgresql:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from page_bench import postgresql as cluster

        with cluster() as url:
            yield "PostgreSQL", url


if __name__ == "__main__":
    main()
