"""The control plane on a real PostgreSQL (Debian's, a private cluster on a loopback port):
migrations apply and match the models, a playbook run goes through RQ and the runner, and the
control plane's backup (pg_dump) restores onto a new, empty database."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import select

pytestmark = pytest.mark.testbed

PLAYBOOKS = Path(__file__).resolve().parents[2] / "unit" / "jobs" / "playbooks" / "fast"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """initdb into a temporary directory (as the postgres user) and start it on 127.0.0.1 only."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        pytest.fail("PostgreSQL is not installed (apt-get install postgresql)")
    bin_dir = Path(bins[-1])
    root = Path(tempfile.mkdtemp(prefix="mailfleet-pg-"))
    shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_pg, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_pg,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "log"),
            "-w",
            "start",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {root}",
        ],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [*as_pg, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "mailfleet"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/mailfleet"
    finally:
        subprocess.run(
            [*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_migrations_and_a_run_on_postgresql(postgres_url, tmp_path):
    import fakeredis
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from flask_migrate import upgrade

    from jobs.app import use_app
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Role, RunEvent, RunStatus
    from webapp.queue import get_queue
    from webapp.services import accounts, runs, tenants
    from webapp.services.scope import Scope
    from webapp.testing import secret_store_for

    app = create_app(
        {
            "SECRET_KEY": "pg-test",
            "SQLALCHEMY_DATABASE_URI": postgres_url,
            "MAILFLEET_DATA_DIR": tmp_path,
            "REDIS_CONNECTION": fakeredis.FakeRedis(),
            "SECRET_STORE": secret_store_for(tmp_path),
            "MAILFLEET_PLAYBOOK_DIR": PLAYBOOKS,
        }
    )
    use_app(app)
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as connection:
                assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
            admin = accounts.create_user("admin@example.com", "a long admin password", Role.ADMIN, None)
            scope = Scope(admin)
            acme = tenants.create_tenant(scope, "acme", "Acme")
            globex = tenants.create_tenant(scope, "globex", "Globex")
            batch = [runs.submit_run(scope, t, "site") for t in (acme, globex, acme)]
            queue = get_queue(app)
            SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
            db.session.expire_all()
            assert [r.status for r in batch] == [RunStatus.SUCCESSFUL] * 3, [r.failure_reason for r in batch]
            assert all(r.recap["localhost"]["changed"] == 1 for r in batch)
            counts = [
                len(db.session.execute(select(RunEvent.id).where(RunEvent.run_id == r.id)).all())
                for r in batch
            ]
            assert counts == [r.event_count for r in batch] and min(counts) > 10

            # /metrics counts them in PostgreSQL's SQL (its histograms are CASE buckets grouped by)
            token = accounts.issue_api_token(admin)
            scrape = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert scrape.status_code == 200, scrape.get_data(as_text=True)[:500]
            samples = {
                (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(scrape.get_data(as_text=True))
                for sample in family.samples
            }
            site = ("playbook", batch[0].playbook)
            assert samples[("mailfleet_runs_finished_total", (site, ("status", "successful")))] == 3
            assert samples[("mailfleet_run_queue_wait_seconds_count", (site,))] == 3
            assert (
                samples[
                    (
                        "mailfleet_run_duration_seconds_bucket",
                        (("le", "+Inf"), site, ("status", "successful")),
                    )
                ]
                == 3
            )
            assert samples[("mailfleet_run_events_total", ())] == sum(counts)
            db.session.remove()
            db.engine.dispose()
    finally:
        use_app(None)
    assert os.path.isdir(tmp_path / "runs") and not list((tmp_path / "runs").iterdir())


def pg_app(url: str, directory: Path, **config: Any) -> Any:
    """The control plane on `url`, with a secrets store of its own in `directory`."""
    import fakeredis

    from webapp import create_app
    from webapp.testing import HttpsClient, secret_store_for

    directory.mkdir()
    app = create_app(
        {
            "SECRET_KEY": "pg-test",
            "SQLALCHEMY_DATABASE_URI": url,
            "MAILFLEET_DATA_DIR": directory,
            "REDIS_CONNECTION": fakeredis.FakeRedis(),
            "SECRET_STORE": secret_store_for(directory),
            **config,
        }
    )
    app.test_client_class = HttpsClient
    return app


def test_control_plane_backup_restores_onto_a_new_database(postgres_url, tmp_path):
    import base64

    from flask_migrate import upgrade
    from sqlalchemy import create_engine, text

    from webapp.extensions import db
    from webapp.integrations import secret_store
    from webapp.models import Role, Run, RunStatus, Tenant
    from webapp.services import accounts, tenants
    from webapp.services.scope import Scope
    from webapp.testing import login

    server = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        for name in ("cp_source", "cp_fresh"):
            connection.execute(text(f"CREATE DATABASE {name}"))
    server.dispose()
    base = postgres_url.rsplit("/", 1)[0]
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()

    source = pg_app(f"{base}/cp_source", tmp_path / "source", MAILFLEET_CONTROL_BACKUP_KEY=key)
    with source.app_context():
        upgrade()
        admin = accounts.create_user("admin@example.com", "a long admin password", Role.ADMIN, None)
        acme = tenants.create_tenant(Scope(admin), "acme", "Acme Corp")
        db.session.add(
            Run(tenant_id=acme.id, playbook="site.yml", catalogue_key="site", status=RunStatus.SUCCESSFUL)
        )
        db.session.commit()
        secret_store(source).put("tenants/acme/restic", {"password": "restic-password-of-acme"})
        backups = tmp_path / "backups"
        made = source.test_cli_runner().invoke(args=["backup-control-plane", "--dest", str(backups)])
        assert made.exit_code == 0, made.output
        db.session.remove()
        db.engine.dispose()
    backup = Path(made.output.strip())
    assert b"restic-password-of-acme" not in backup.read_bytes() and b"Acme Corp" not in backup.read_bytes()

    # A new, empty database (no migrations yet) and an empty secrets store.
    fresh = pg_app(f"{base}/cp_fresh", tmp_path / "fresh", MAILFLEET_CONTROL_BACKUP_KEY=key)
    with fresh.app_context():
        cli = fresh.test_cli_runner()
        restored = cli.invoke(args=["restore-control-plane", str(backup)])
        assert restored.exit_code == 0, restored.output
        upgrade()  # as the restore's last line asks: already at head, nothing to do
        assert [t.name for t in db.session.scalars(db.select(Tenant))] == ["Acme Corp"]
        assert [(r.playbook, r.status) for r in db.session.scalars(db.select(Run))] == [
            ("site.yml", RunStatus.SUCCESSFUL)
        ]
        assert secret_store(fresh).get("tenants/acme/restic") == {"password": "restic-password-of-acme"}
        assert login(fresh.test_client(), "admin@example.com", "a long admin password").status_code == 302
        again = cli.invoke(args=["restore-control-plane", str(backup)])
        assert again.exit_code != 0 and "fresh data directory" in again.output  # never over a working one
        db.session.remove()
        db.engine.dispose()


#: The moment the usage figures are computed at: mid-November, past the hourly rollup's delay.
USAGE_NOW = datetime(2026, 11, 16, 0, 25, tzinfo=UTC)


def _usage_figures(app: Any) -> dict[str, Any]:
    """Fifteen days of 5-minute samples of two servers of one tenant, then what every usage query
    makes of them: the rollups, the fleet and tenant totals, the capacity forecast, the costs with
    their extras and the anomaly checks (each at USAGE_NOW)."""
    from decimal import Decimal

    from webapp.extensions import db
    from webapp.models import Server, ServerStatus, Tenant
    from webapp.models.backups import ServerBackup
    from webapp.models.usage import DAY, FIVE_MINUTES, HOUR, UsageSample, UsageTotal
    from webapp.services import anomalies, capacity, costs, usage

    app.config["MAILFLEET_PRICE_BACKUP_GB"] = 0.05
    app.config["MAILFLEET_PRICE_BANDWIDTH_OVERAGE_GB"] = 0.25
    with app.app_context():
        tenant = Tenant(slug="acme", name="Acme")
        db.session.add(tenant)
        db.session.flush()
        servers = [
            Server(
                tenant_id=tenant.id,
                name=f"mf-acme-{n}",
                plan="SSD 2 GB",
                monthly_price=Decimal("9.99"),
                status=ServerStatus.ACTIVE,
                created_at=USAGE_NOW - timedelta(days=40),
            )
            for n in (1, 2)
        ]
        db.session.add_all(servers)
        db.session.flush()
        end = int(USAGE_NOW.timestamp()) // FIVE_MINUTES * FIVE_MINUTES
        count = 15 * 288
        rows = []
        for n, server in enumerate(servers):
            for i in range(count):
                odd = (i * 37 + n * 11) % 101  # averages that end in .5 test the rounding
                rows.append(
                    {
                        "server_id": server.id,
                        "step": FIVE_MINUTES,
                        "ts": end - (count - 1 - i) * FIVE_MINUTES,
                        "samples": 1,
                        "cpu_pct": odd,
                        "cpu_peak_pct": odd,
                        "mem_used_mb": 500 + odd * 3,
                        "mem_total_mb": 2048,
                        "disk_used_mb": 20_000 + i + n * 1000,
                        "disk_total_mb": 51_200,
                        "bw_used_gb": 600 + i // 6,
                        "bw_total_gb": 1000,
                        "queue_deferred": 400 if i > count - 12 else odd % 5,
                        "queue_active": odd % 3,
                        "mailboxes": 10 + n,
                        "mailbox_mb": 300 + i // 100,
                    }
                )
        db.session.execute(UsageSample.__table__.insert(), rows)
        db.session.add(
            ServerBackup(
                server_id=servers[0].id,
                collected_at=USAGE_NOW,
                status={"repository": {"repository_bytes": 123 * 1024**3}},
            )
        )
        db.session.commit()
        assert usage.build_totals(FIVE_MINUTES, rows[0]["ts"], end + FIVE_MINUTES) == 2 * count  # as sampled
        db.session.commit()
        built = {"hourly": usage.rollup(HOUR, USAGE_NOW), "daily": usage.rollup(DAY, USAGE_NOW)}
        columns = [c.name for c in UsageSample.__table__.columns if c.name != "server_id"]
        samples = {
            step: [
                tuple(getattr(r, c) for c in columns)
                for r in db.session.scalars(
                    select(UsageSample)
                    .where(UsageSample.step == step)
                    .order_by(UsageSample.server_id, UsageSample.ts)
                )
            ]
            for step in (HOUR, DAY)
        }
        total_columns = [c.name for c in UsageTotal.__table__.columns if c.name != "tenant_id"]
        totals = {
            (key, label): [
                tuple(getattr(t, c) for c in total_columns) for t in usage.totals(key, USAGE_NOW, who)
            ]
            for key in usage.RANGES
            for label, who in (("fleet", None), ("acme", tenant.id))
        }
        caps = [capacity.capacity(s, USAGE_NOW, ()) for s in servers]
        costs.sync_periods(USAGE_NOW)
        cost = costs.tenant_cost(tenant, USAGE_NOW)
        figures = {
            "built": built,
            "samples": samples,
            "totals": totals,
            "capacity": [
                (c.disk and c.disk.days and round(c.disk.days, 6), c.cpu_p95, round(c.mem_p99 or 0, 6))
                for c in caps
            ],
            "bandwidth": [c.bandwidth.explanation if c.bandwidth else None for c in caps],
            "costs": (
                cost.month,
                [(e.what, e.server, e.quantity, e.month) for e in cost.extras],
            ),
            "anomalies": sorted((r.check, r.status, r.value) for r in anomalies.anomaly_results(USAGE_NOW)),
            "pruned": usage.prune(USAGE_NOW + timedelta(days=400)),
        }
        db.session.remove()
        db.engine.dispose()
    return figures


def test_usage_history_costs_and_forecasts_are_the_same_on_postgresql_as_on_sqlite(postgres_url, tmp_path):
    """Every usage query (rollups, totals, forecasts, costs with extras, anomalies, pruning) gives
    PostgreSQL the same figures as SQLite from the same samples."""
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, text

    from webapp.testing import make_app

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS usage_parity"))
        connection.execute(text("CREATE DATABASE usage_parity"))
    admin.dispose()
    pg = pg_app(postgres_url.rsplit("/", 1)[0] + "/usage_parity", tmp_path / "pg")
    with pg.app_context():
        upgrade()
    (tmp_path / "sqlite").mkdir()
    lite = make_app(tmp_path / "sqlite")
    on_sqlite, on_pg = _usage_figures(lite), _usage_figures(pg)
    assert on_sqlite["built"]["hourly"] > 0 and on_sqlite["costs"][1], on_sqlite["built"]
    assert any(status.value == "warning" for _, status, _ in on_sqlite["anomalies"]), on_sqlite["anomalies"]
    for key in on_sqlite:
        assert on_pg[key] == on_sqlite[key], key


def test_each_work_horse_opens_database_connections_of_its_own(postgres_url, testbed, tmp_path):
    """rq's worker reaps (on the database) when it starts, then forks a work-horse per job. A horse
    that used the connection its worker left in the pool shared one PostgreSQL session with the
    worker and with every horse after it: a statement psycopg had prepared in one horse was
    prepared again in the next (DuplicatePreparedStatement "_pg3_0"), and that run failed."""
    import uuid

    import redis
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, text

    from jobs.app import use_app
    from jobs.worker import Worker
    from webapp.extensions import db
    from webapp.models import Role, RunStatus
    from webapp.queue import get_queue
    from webapp.services import accounts, runs, tenants
    from webapp.services.scope import Scope

    server = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text("CREATE DATABASE horses"))
    server.dispose()
    suffix = uuid.uuid4().hex[:8]
    connection = redis.Redis.from_url(testbed.redis_url)
    app = pg_app(
        f"{postgres_url.rsplit('/', 1)[0]}/horses",
        tmp_path / "data",
        REDIS_CONNECTION=connection,
        MAILFLEET_PLAYBOOK_DIR=PLAYBOOKS,
        MAILFLEET_QUEUE=f"mf-horses-{suffix}",
        MAILFLEET_SYSTEM_QUEUE=f"mf-horses-system-{suffix}",
        MAILFLEET_REAPER_QUEUE=f"mf-horses-reaper-{suffix}",
    )
    use_app(app)
    try:
        with app.app_context():
            upgrade()
            admin = accounts.create_user("admin@example.com", "a long admin password", Role.ADMIN, None)
            acme = tenants.create_tenant(Scope(admin), "acme", "Acme")
            batch = [runs.submit_run(Scope(admin), acme, "site") for _ in range(2)]
            queue = get_queue(app)
            # Each run records its events with the same INSERT, prepared by psycopg from the fifth.
            Worker([queue], connection=connection, serializer=queue.serializer).work(burst=True)
            db.session.expire_all()
            assert [r.status for r in batch] == [RunStatus.SUCCESSFUL] * 2, [r.failure_reason for r in batch]
            db.session.remove()
            db.engine.dispose()
    finally:
        use_app(None)
        connection.close()
