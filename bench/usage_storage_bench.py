"""Benchmark: usage history storage per server, chart queries, and the hourly rollup, on SQLite
(and the fleet part on PostgreSQL too with --postgresql).

1. Builds the steady state the retention keeps for each of a few servers (30 days of 5-minute
   samples, one year of hourly and two years of daily rollups, every figure filled in), prunes it
   with the real code, and prints the database bytes per server beside the goal (4 MiB), and the
   time to read one server's 90-day chart (daily rows) and 30-day chart (hourly rows).
2. A fleet of --fleet servers (default 1,000) with 90 days of daily rollups and one hour of
   5-minute samples: the time of summing the 90 days into fleet and tenant totals (what the rollups
   do as they go), of the 90-day fleet chart (webapp.services.usage.totals) beside its goal
   (300 ms), and of rolling that hour up for the whole fleet, totals included. With --postgresql,
   the same again on a private PostgreSQL cluster (bench/page_bench.py's: Debian's postgresql,
   run as root).

    .venv/bin/python bench/usage_storage_bench.py [--servers 5] [--fleet 1000] [--postgresql]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webapp.extensions import db  # noqa: E402
from webapp.models import Server, ServerStatus  # noqa: E402
from webapp.models.usage import DAY, FIVE_MINUTES, HOUR, UsageSample  # noqa: E402
from webapp.services import usage  # noqa: E402
from webapp.testing import make_app  # noqa: E402

GOAL_BYTES = 4 * 1024 * 1024  # per server, all three resolutions at steady state
GOAL_FLEET_CHART_S = 0.3
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def rows(server_id: int, step: int, span: int) -> list[dict]:
    end = int(NOW.timestamp()) // step * step
    per = step // FIVE_MINUTES
    return [
        {
            "server_id": server_id,
            "step": step,
            "ts": ts,
            "samples": per,
            "cpu_pct": 10 + ts % 70,
            "cpu_peak_pct": 40 + ts % 60,
            "mem_used_mb": 1200 + ts % 500,
            "mem_total_mb": 2048,
            "disk_used_mb": 20_000 + (ts // 3600) % 9000,
            "disk_total_mb": 51_200,
            "bw_used_gb": (ts // 86400) % 1000,
            "bw_total_gb": 2000,
            "queue_deferred": ts % 7,
            "queue_active": ts % 3,
            "mailboxes": 120,
            "mailbox_mb": 3_000 + (ts // 86400) % 500,
        }
        for ts in range(end - span, end, step)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=5)
    parser.add_argument("--fleet", type=int, default=1000)
    parser.add_argument("--postgresql", action="store_true", help="the fleet part on PostgreSQL too")
    args = parser.parse_args()
    storage(args.servers)
    fleet(args.fleet)
    if args.postgresql:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from page_bench import postgresql

        with postgresql() as url:
            fleet(args.fleet, url)


def storage(servers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp))
        with app.app_context():
            path = Path(db.engine.url.database)
            for i in range(servers):
                db.session.add(Server(name=f"mf-bench-{i + 1}", status=ServerStatus.ACTIVE))
            db.session.commit()
            ids = list(db.session.scalars(db.select(Server.id)))
            db.session.execute(db.text("VACUUM"))
            empty = path.stat().st_size
            for sid in ids:
                for step, keep in usage.retention().items():
                    db.session.execute(db.insert(UsageSample), rows(sid, step, keep))
            db.session.commit()
            usage.prune(NOW)
            db.engine.dispose()
            with sqlite3.connect(path) as conn:
                conn.execute("VACUUM")
            per_server = (path.stat().st_size - empty) / len(ids)
            count = db.session.scalar(db.select(db.func.count()).select_from(UsageSample)) // len(ids)
            timings = {}
            for label, step, span in (("90-day chart", DAY, 90 * DAY), ("30-day chart", HOUR, 30 * DAY)):
                start = time.perf_counter()
                found = usage.window(ids[0], step, int(NOW.timestamp()) - span)
                timings[label] = (time.perf_counter() - start, len(found.rows))
    verdict = "ok" if per_server <= GOAL_BYTES else "OVER GOAL"
    print(f"usage history on SQLite: {count} rows per server at steady state")
    print(
        f"storage per server: {per_server / 1024 / 1024:.2f} MiB "
        f"(goal <= {GOAL_BYTES / 1024 / 1024:.0f} MiB) {verdict}; "
        f"1,000 servers: {per_server * 1000 / 1024**3:.2f} GiB"
    )
    for label, (seconds, n) in timings.items():
        print(f"{label} of one server: {seconds * 1000:.1f} ms for {n} rows")


def fleet(size: int, url: str | None = None) -> None:
    """The fleet part on SQLite, or on the PostgreSQL database at `url` (migrated here)."""
    from flask_migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp), **({"SQLALCHEMY_DATABASE_URI": url} if url else {}))
        with app.app_context():
            if url:
                upgrade()
            db.session.add_all(
                Server(name=f"mf-fleet-{i + 1}", status=ServerStatus.ACTIVE) for i in range(size)
            )
            db.session.commit()
            ids = list(db.session.scalars(db.select(Server.id)))
            for sid in ids:
                db.session.execute(db.insert(UsageSample), rows(sid, DAY, 90 * DAY))
                db.session.execute(db.insert(UsageSample), rows(sid, FIVE_MINUTES, HOUR + 30 * 60))
            db.session.commit()
            end = int(NOW.timestamp()) // DAY * DAY
            start, cpu = time.perf_counter(), time.process_time()
            summed = usage.build_totals(DAY, end - 90 * DAY, end)
            db.session.commit()
            sum_s, sum_cpu = time.perf_counter() - start, time.process_time() - cpu
            start, cpu = time.perf_counter(), time.process_time()
            chart = usage.totals("90d", NOW)
            chart_s, chart_cpu = time.perf_counter() - start, time.process_time() - cpu
            start, cpu = time.perf_counter(), time.process_time()
            rolled = usage.rollup(HOUR, NOW)
            rollup_s, rollup_cpu = time.perf_counter() - start, time.process_time() - cpu
            db.engine.dispose()
    verdict = "ok" if chart_s <= GOAL_FLEET_CHART_S else "OVER GOAL"
    print(f"== fleet on {'PostgreSQL' if url else 'SQLite'}")
    print(
        f"90 days of daily rows summed into {summed} fleet and tenant totals: {sum_s * 1000:.0f} ms "
        f"(CPU {sum_cpu * 1000:.0f} ms)"
    )
    # CPU time beside wall time: on a shared machine the wall time is mostly waiting for a core.
    print(
        f"90-day fleet chart of {size} servers ({size * 90:,} daily rows): {chart_s * 1000:.0f} ms "
        f"(CPU {chart_cpu * 1000:.0f} ms) for {len(chart)} points "
        f"(goal <= {GOAL_FLEET_CHART_S * 1000:.0f} ms) {verdict}"
    )
    print(
        f"hourly rollup of {size} servers: {rollup_s * 1000:.0f} ms (CPU {rollup_cpu * 1000:.0f} ms) "
        f"for {rolled} buckets"
    )


if __name__ == "__main__":
    main()
