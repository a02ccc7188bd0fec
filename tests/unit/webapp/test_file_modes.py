"""The database and log files are readable by their owner only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
from sqlalchemy import text

pytestmark = pytest.mark.unit


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)  # the worst a parent process can hand down
    try:
        yield
    finally:
        os.umask(previous)


def test_the_sqlite_database_and_its_folders_are_private(tmp_path, open_umask):
    from webapp import create_app
    from webapp.extensions import db

    existing = tmp_path / "srv"
    existing.mkdir(mode=0o755)
    database = existing / "data" / "nested" / "mailfleet.db"
    app = create_app(
        {
            "SECRET_KEY": "x",
            "MAILFLEET_DATA_DIR": database.parent,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "REDIS_CONNECTION": fakeredis.FakeRedis(),
        }
    )
    with app.app_context():
        db.session.execute(text("CREATE TABLE t (x INTEGER)"))
        db.session.execute(text("INSERT INTO t VALUES (1)"))
        db.session.commit()
        files = [database, *database.parent.glob("mailfleet.db-*")]
        assert len(files) == 3  # the database, its -wal and -shm (WAL mode)
        assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
        db.engine.dispose()
    assert mode(database.parent) == mode(database.parent.parent) == 0o700
    assert mode(existing) == 0o755  # a folder that existed keeps its mode


def test_the_demo_process_logs_are_private(tmp_path, open_umask):
    from testbed.daemons import start, stop

    log = tmp_path / "demo" / "logs" / "web.log"
    stop(start(["sleep", "30"], log=log))
    assert mode(log) == 0o600
    assert mode(log.parent) == mode(log.parent.parent) == 0o700
