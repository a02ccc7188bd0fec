"""The web app's p95 for the dashboard and the run pages on PostgreSQL, beside the same pages on
SQLite (the baseline), with a fleet's worth of rows, in one run.

    .venv/bin/python bench/page_bench.py [--servers 1000] [--runs 10000] [--events 500] [--requests 40]

PostgreSQL is Debian's (postgresql), a private cluster made here: initdb into a temporary folder as
the postgres user, started on a free loopback port only, its schema made by the migrations, removed
afterwards (run as root, as the testbed tier is). SQLite is a fresh file migrated the same way. Both
get the same rows (bench/metrics_bench.py's: --servers servers over 50 tenants, each with its
checks, cost period and warm-up plan, and --runs runs), and the run the detail page shows gets
--events events. An administrator logged in through the login form then loads each page --requests
times (one request before, not counted: it fills the connection pool and the template cache), first
with the app as create_app leaves it (the baseline), then with its startup objects frozen as the
WSGI server's entry point does (webapp.wsgi): a full garbage collection walked them all and fell on
one request in twenty-odd. Pages: the dashboard (/), the run list (/runs) and a run's page
(/runs/<id>). Figures: median and p95 per page, database and heap, with the goal (p95 < 200 ms), and
the CPU time this process spent per request, median and p95 (the app, and SQLite, which runs in it;
PostgreSQL's own work is in its server processes; a full collection shows there whatever the
neighbours do); the machine's load average with them, since a shared machine's wall time says as
much about its neighbours as about the pages.
"""

from __future__ import annotations

import argparse
import gc
import glob
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from metrics_bench import populate
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Run, RunEvent, RunStatus
from webapp.testing import TEST_PASSWORD, login, make_app
from webapp.wsgi import freeze_startup_objects

GOAL_MS = 200.0
ADMIN = "bench@example.com"  # metrics_bench.populate's administrator
AS_POSTGRES = ["runuser", "-u", "postgres", "--"]
FROZEN = "frozen"
HEAPS = ("create_app", FROZEN)  # the baseline, then as webapp.wsgi serves it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgresql() -> Iterator[str]:
    """A private PostgreSQL cluster on 127.0.0.1: yields the database URL; stopped and removed after."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        sys.exit("page_bench: PostgreSQL is not installed (apt-get install postgresql)")
    if os.geteuid() != 0:
        sys.exit("page_bench: run as root (the cluster is made as the postgres user)")
    bin_dir = Path(bins[-1])
    root = Path(tempfile.mkdtemp(prefix="mailfleet-bench-pg-"))
    shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()

    def pg(tool: str, *args: str) -> None:
        done = subprocess.run([*AS_POSTGRES, str(bin_dir / tool), *args], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"page_bench: {tool} failed: {done.stderr.strip() or done.stdout.strip()}")

    try:
        pg("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        listen = f"-h 127.0.0.1 -p {port} -k {root}"
        pg("pg_ctl", "-D", str(data), "-l", str(root / "log"), "-w", "start", "-o", listen)
        try:
            pg("createdb", "-h", "127.0.0.1", "-p", str(port), "mailfleet")
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/mailfleet"
        finally:
            pg("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def add_events(events: int) -> int:
    """The newest finished run gets `events` events (a long play's log); returns its id."""
    run_id = db.session.execute(
        select(Run.id).where(Run.status == RunStatus.SUCCESSFUL).order_by(Run.created_at.desc()).limit(1)
    ).scalar_one()
    db.session.add_all(
        RunEvent(
            run_id=run_id,
            counter=n,
            event="runner_on_ok",
            host_name=f"mf-{n % 10}",
            task=f"task {n}",
            stdout=f"ok: [mf-{n % 10}] => task {n}",
            start_line=n,
            end_line=n + 1,
        )
        for n in range(1, events + 1)
    )
    db.session.commit()
    return run_id


Timings = dict[str, list[tuple[float, float]]]  # page: (wall, CPU) ms of each request


def measure(url: str | None, args: argparse.Namespace, work: Path) -> dict[str, Timings]:
    """{heap: {page: (wall, CPU) ms of each request}} on the database at `url` (None: SQLite in
    `work`), first with the app as create_app leaves it (the baseline), then with its startup objects
    frozen as the server's entry point does."""
    from flask_migrate import upgrade

    app = make_app(work, **({"SQLALCHEMY_DATABASE_URI": url} if url else {}))
    with app.app_context():
        upgrade()  # PostgreSQL: the whole chain; SQLite: the template is already at the head
        populate(args.servers, args.runs)
        run_id = add_events(args.events)
        db.session.remove()
    client = app.test_client()
    answer = login(client, ADMIN, TEST_PASSWORD)
    if answer.status_code != 302:
        sys.exit(f"page_bench: the login was refused ({answer.status_code})")
    pages = {"dashboard": "/", "run list": "/runs", "run page": f"/runs/{run_id}"}
    times: dict[str, Timings] = {}
    for heap in HEAPS:
        if heap == FROZEN:
            freeze_startup_objects()
        times[heap] = {}
        for name, path in pages.items():
            times[heap][name] = []
            for n in range(args.requests + 1):
                started, cpu_started = time.perf_counter(), time.process_time()
                response = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000, (time.process_time() - cpu_started) * 1000
                if response.status_code != 200:
                    sys.exit(f"page_bench: GET {path} answered {response.status_code}")
                if n:
                    times[heap][name].append(elapsed)
    gc.unfreeze()  # the next database's app starts as create_app leaves it
    with app.app_context():
        db.engine.dispose()
    return times


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    logging.disable(logging.INFO)  # no line per migration (alembic configures its own loggers)
    results: dict[str, dict[str, Timings]] = {}
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "sqlite").mkdir()
        (Path(directory) / "postgresql").mkdir()
        results["SQLite"] = measure(None, args, Path(directory) / "sqlite")
        with postgresql() as url:
            results["PostgreSQL"] = measure(url, args, Path(directory) / "postgresql")
    print(
        f"Pages with {args.servers} servers, {args.runs} runs, {args.events} events on the run page; "
        f"{args.requests} requests each (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print("heap: create_app = the app as built (the baseline); frozen = startup objects frozen (webapp.wsgi)")
    print(f"{'page':<10} {'database':<11} {'heap':<10} {'median ms':>9} {'p95 ms':>7} {'CPU median ms':>14} "
          f"{'CPU p95 ms':>11}  goal: p95 < {GOAL_MS:.0f} ms")
    for page in ("dashboard", "run list", "run page"):
        for database, by_heap in results.items():
            for heap, times in by_heap.items():
                wall = [w for w, _ in times[page]]
                high = p95(wall)
                cpu = [c for _, c in times[page]]
                verdict = "OK" if high < GOAL_MS else "OVER GOAL"
                median = statistics.median(wall)
                print(f"{page:<10} {database:<11} {heap:<10} {median:>9.1f} {high:>7.1f} "
                      f"{statistics.median(cpu):>14.1f} {p95(cpu):>11.1f}  {verdict}")


if __name__ == "__main__":
    main()
