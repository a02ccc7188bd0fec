"""The control plane on a real PostgreSQL (Debian's, a private cluster on a loopback port):
migrations apply and match the models, and a playbook run goes through RQ and the runner."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
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
            db.session.remove()
            db.engine.dispose()
    finally:
        use_app(None)
    assert os.path.isdir(tmp_path / "runs") and not list((tmp_path / "runs").iterdir())
