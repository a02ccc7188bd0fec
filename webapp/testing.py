"""Helpers for tests and benchmarks: an app on a fresh database, a real local secrets store,
fakeredis, the CSRF token of a rendered form, and a run ended as a worker ends it. Not used by the
running product."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailfleet.clock import utcnow
from webapp import create_app
from webapp.config import REPO_DIR
from webapp.extensions import db
from webapp.models import Run, RunStatus
from webapp.services.lifecycle import note_run_finished

TEST_PASSWORD = "correct horse battery"  # noqa: S105 - the password of test users only
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def _template_db() -> Path:
    """The migrated schema, built once per migration set and copied for every test (fast, fresh)."""
    digest = hashlib.sha256()
    for path in sorted((REPO_DIR / "migrations" / "versions").glob("*.py")):
        digest.update(path.read_bytes())
    target = Path(tempfile.gettempdir()) / f"mailfleet-test-schema-{digest.hexdigest()[:16]}.db"
    if not target.exists():
        build = target.with_suffix(f".{os.getpid()}.tmp")
        app = create_app({"SECRET_KEY": "schema", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{build}"})
        from flask_migrate import upgrade

        with app.app_context():
            upgrade()
            from webapp.extensions import db

            db.engine.dispose()
        os.replace(build, target)
    return target


def secret_store_env(directory: Path) -> dict[str, str]:
    """The settings of the test store in ``directory``; playbooks that reach the store (lookups,
    ``python -m mailfleet.secrets``) find it through these in their environment."""
    key = base64.urlsafe_b64encode(hashlib.sha256(str(directory).encode()).digest()).decode()
    return {
        "MAILFLEET_SECRETS_BACKEND": "local",
        "MAILFLEET_SECRETS_FILE": str(directory / "store.enc"),
        "MAILFLEET_MASTER_KEY": key,
    }


def secret_store_for(directory: Path) -> Any:
    from mailfleet.secrets import get_store

    return get_store(secret_store_env(directory))


def make_app(directory: Path, **overrides: Any) -> Flask:
    import fakeredis

    db_file = directory / "mailfleet.db"
    shutil.copyfile(_template_db(), db_file)
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_file}",
        "MAILFLEET_DATA_DIR": directory,
        "REDIS_CONNECTION": fakeredis.FakeRedis(),
        "SECRET_STORE": secret_store_for(directory),
        "MAILFLEET_LEASE_SECONDS": 5,
        "MAILFLEET_RUN_TIMEOUT": 120,
        "MAILFLEET_JOB_TIMEOUT": 240,
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = HttpsClient
    return app


class HttpsClient(FlaskClient):
    """The session cookie is Secure by default: a test client must speak https to get it back
    (and, like a browser, send a same-origin Referer: CSRF checks it over https)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_REFERER"] = "https://localhost/"

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("base_url", "https://localhost")
        # Each request in its own application context, as in production: otherwise a context the
        # test holds open is reused, and the logged-in user, the CSRF token (both kept in `g`) and
        # the database session carry over from one request to the next.
        with self.application.app_context():
            return super().open(*args, **kwargs)


def csrf_token(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    match = _CSRF.search(page)
    if not match:
        raise AssertionError(f"no CSRF token on {url}")
    return match.group(1) or match.group(2)


def login(client: FlaskClient, email: str, password: str) -> Any:
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


class ServedApp:
    """A WSGI app (an API double) on 127.0.0.1, in a thread, for the duration of a test."""

    def __init__(self, wsgi_app: Any) -> None:
        import threading

        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()



def all_runs() -> list[Run]:
    """Every run in the database, oldest first, read afresh."""
    db.session.expire_all()
    return list(db.session.scalars(select(Run).order_by(Run.id)))


def end_run(run: Run, status: RunStatus = RunStatus.SUCCESSFUL) -> None:
    """What a worker does at a run's end: its status and time, committed, then the lifecycle hook
    that acts on it."""
    run.status, run.finished_at = status, utcnow()
    db.session.commit()
    note_run_finished(run.id)
