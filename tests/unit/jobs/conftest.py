"""Fixtures for the job engine's unit tests: the control plane's app on a fresh database with
fakeredis (or a real redis-server where Redis's own behaviour is under test: expiry, Lua, TIME),
jobs pointed at it, and a burst SimpleWorker that runs queued jobs in this process."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from jobs.app import use_app
from webapp.extensions import db
from webapp.models import Role, Tenant, User
from webapp.queue import get_queue
from webapp.services import accounts, tenants
from webapp.services.scope import Scope
from webapp.testing import make_app

PLAYBOOKS = Path(__file__).parent / "playbooks"


def build(tmp_path: Path, flavour: str = "fast", **overrides: object) -> Flask:
    app = make_app(tmp_path, MAILFLEET_PLAYBOOK_DIR=PLAYBOOKS / flavour, **overrides)
    use_app(app)
    return app


@pytest.fixture
def playbook_flavour() -> str:
    return "fast"


@pytest.fixture
def app_overrides() -> dict[str, object]:
    """Config for the `app` fixture's app (a module overrides this fixture to change it)."""
    return {}


@pytest.fixture
def app(tmp_path: Path, playbook_flavour: str, app_overrides: dict[str, object]) -> Iterator[Flask]:
    app = build(tmp_path, playbook_flavour, **app_overrides)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    use_app(None)


@pytest.fixture
def admin(app: Flask) -> User:
    return accounts.create_user("admin@example.com", "correct horse battery", Role.ADMIN, None)


@pytest.fixture
def scope(admin: User) -> Scope:
    return Scope(admin)


@pytest.fixture
def acme(scope: Scope) -> Tenant:
    return tenants.create_tenant(scope, "acme", "Acme")


@pytest.fixture
def globex(scope: Scope) -> Tenant:
    return tenants.create_tenant(scope, "globex", "Globex")


@pytest.fixture
def work(app: Flask) -> Callable[[], None]:
    """Run every queued job now, in this process, then return."""

    def run() -> None:
        queue = get_queue(app)
        SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
        db.session.expire_all()

    return run


@contextlib.contextmanager
def redis_server(directory: Path, *options: str) -> Iterator[Path]:
    """Debian's redis-server on a unix socket in ``directory`` (no port to clash over); its path."""
    sock = directory / "redis.sock"
    server = subprocess.Popen(
        ["/usr/bin/redis-server", "--port", "0", "--unixsocket", str(sock), "--save", ""]
        + ["--dir", str(directory), *options],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        yield sock
    finally:
        server.terminate()
        server.wait()


@pytest.fixture
def real_redis(tmp_path: Path) -> Iterator[Redis]:
    """A real redis-server of this test's own, where Redis's own behaviour is under test."""
    with redis_server(tmp_path) as sock:
        conn = Redis(unix_socket_path=str(sock))
        conn.ping()
        yield conn
        conn.close()


@pytest.fixture
def start_redis() -> Callable[..., contextlib.AbstractContextManager[Path]]:
    """`with start_redis(directory, *redis_server_options) as socket_path:` (see redis_server)."""
    return redis_server
