"""The control plane's own backup: its database and every secret of its store in one encrypted file.

    flask --app webapp backup-control-plane [--dest DIR]   also daily from rq cron (jobs.control_backup)
                                                           when MAILFLEET_CONTROL_BACKUP_DIR is set
    flask --app webapp restore-control-plane FILE          into a fresh data directory and store

The file (``mailfleet-control-plane-<UTC time>.mfcp``, mode 0600) is a tar of the database (SQLite:
a copy by SQLite's online backup; PostgreSQL: ``pg_dump`` in its custom format; both consistent
while the app writes) and the current version of every secret, read through the store's API (so
a local store can be restored into Vault and back), sealed with AES-256-GCM
(mailfleet.secrets.envelope) under the backup key:
MAILFLEET_CONTROL_BACKUP_KEY(_FILE) (URL-safe base64 of 32 bytes), else ``<data dir>/control-backup.key``
created on first use. Keep a copy of that key away from this machine: the file is unreadable
without it. The newest MAILFLEET_CONTROL_BACKUP_KEEP files of the directory are kept.

A restore goes into an empty database of the kind the backup came from (PostgreSQL: a new database,
with or without the migrations applied: ``pg_restore --clean`` replaces the empty tables). pg_dump
and pg_restore (Debian: postgresql-client) read the connection from the libpq environment, so the
password is never on their command line.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import URL, make_url

from mailfleet.clock import utcnow
from mailfleet.secrets import SecretsError
from mailfleet.secrets.envelope import open_sealed, seal
from mailfleet.secrets.masterkey import MasterKeySource, decode_key
from webapp.errors import ConfigError, InvalidInput
from webapp.extensions import db
from webapp.integrations import secret_store
from webapp.models import Tenant, User

FORMAT = 1
PREFIX = "mailfleet-control-plane-"
SUFFIX = ".mfcp"
KEY_FILE = "control-backup.key"


def backup_key(app: Flask, *, create: bool) -> bytes:
    value = app.config.get("MAILFLEET_CONTROL_BACKUP_KEY")
    if value:
        return decode_key(value, "MAILFLEET_CONTROL_BACKUP_KEY")
    return MasterKeySource(file=Path(app.config["MAILFLEET_DATA_DIR"]) / KEY_FILE).load(create=create)


#: The archive member holding each kind of database.
MEMBERS = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}


def _database(app: Flask) -> tuple[str, URL]:
    """The kind of the app's database (a key of MEMBERS) and its URL."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    kind = url.get_backend_name()
    if kind not in MEMBERS or not url.database:
        raise ConfigError(
            f"the control plane's backup copies a SQLite or PostgreSQL database, not {url.render_as_string()}"
        )
    return kind, url


def _pg(tool: str, url: URL, args: list[str], data: bytes | None = None) -> bytes:
    """Run pg_dump or pg_restore against `url`; the connection goes through the libpq environment."""
    path = shutil.which(tool)
    if path is None:
        raise ConfigError(f"{tool} is not installed (Debian: apt-get install postgresql-client)")
    given = {
        "PGHOST": url.host or url.query.get("host"),
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    env = {**os.environ, **{k: str(v) for k, v in given.items() if v}}
    done = subprocess.run([path, *args], input=data, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"{tool} failed: {done.stderr.decode(errors='replace').strip()[-1000:]}")
    return done.stdout


def _dump(kind: str, url: URL) -> bytes:
    if kind == "postgresql":
        return _pg("pg_dump", url, ["--format=custom", "--no-owner", "--no-privileges"])
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / MEMBERS["sqlite"]
        live, target = sqlite3.connect(str(url.database)), sqlite3.connect(copy)
        try:
            live.backup(target)
        finally:
            target.close()
            live.close()
        return copy.read_bytes()


def _load(kind: str, url: URL, data: bytes) -> None:
    """Replace the (empty) database with the backup's, as one transaction or one file swap."""
    if kind == "postgresql":
        _pg("pg_restore", url, ["--clean", "--if-exists", "--no-owner", "--no-privileges",
                                "--single-transaction", "--exit-on-error", f"--dbname={url.database}"], data)
        return
    target = Path(str(url.database))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".restore-")  # 0600
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, target)


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    archive.addfile(info, io.BytesIO(data))


def create(app: Flask, dest: Path, keep: int | None = None) -> Path:
    """Write one backup file into `dest` (created 0700); keep the newest `keep` there."""
    kind, url = _database(app)
    store = secret_store(app)
    secrets = {path: store.get(path) for path in store.list("")}
    database = _dump(kind, url)
    now = utcnow()
    manifest = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "database": kind,
        "secrets": len(secrets),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        _add(archive, "manifest.json", json.dumps(manifest).encode())
        _add(archive, MEMBERS[kind], database)
        _add(archive, "secrets.json", json.dumps(secrets).encode())
    sealed = seal(backup_key(app, create=True), buffer.getvalue())
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = dest / f"{PREFIX}{now:%Y%m%dT%H%M%SZ}{SUFFIX}"
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=".partial-")  # 0600
    with os.fdopen(fd, "wb") as handle:
        handle.write(sealed)
    os.replace(tmp, path)
    if keep:
        for old in sorted(dest.glob(f"{PREFIX}*{SUFFIX}"))[:-keep]:
            old.unlink()
    return path


def restore(app: Flask, path: Path) -> dict[str, Any]:
    """Restore a backup file into this app's database and secrets store, which must both be fresh
    (no user, no tenant, no secret): a restore never overwrites a working control plane."""
    try:
        plain = open_sealed(backup_key(app, create=False), path.read_bytes(), str(path))
    except SecretsError:
        raise InvalidInput(
            f"{path} is not a control plane backup readable with this backup key "
            "(MAILFLEET_CONTROL_BACKUP_KEY(_FILE) or <data dir>/control-backup.key)"
        ) from None
    with tarfile.open(fileobj=io.BytesIO(plain)) as archive:

        def member(name: str) -> bytes:
            handle = archive.extractfile(name)
            if handle is None:
                raise InvalidInput(f"{path}: {name} is missing")
            return handle.read()

        manifest = json.loads(member("manifest.json"))
        if manifest.get("format") != FORMAT:
            raise InvalidInput(f"{path}: backup format {manifest.get('format')!r} is not {FORMAT}")
        kind, url = _database(app)
        if manifest.get("database", "sqlite") != kind:
            raise InvalidInput(
                f"{path} holds a {manifest.get('database')} database; this control plane uses {kind}"
            )
        database, secrets = member(MEMBERS[kind]), json.loads(member("secrets.json"))
    store = secret_store(app)
    users, tenants = (_count(model) for model in (User, Tenant))
    if users or tenants or store.list(""):
        raise InvalidInput(
            "restore into a fresh data directory: this database or secrets store is not empty "
            f"({users} users, {tenants} tenants)"
        )
    db.session.remove()
    db.engine.dispose()
    _load(kind, url, database)
    for secret_path, data in secrets.items():
        store.put(secret_path, data)
    return {"created_at": manifest["created_at"], "secrets": len(secrets)}


def _count(model: type[Any]) -> int:
    """Rows of `model`'s table; 0 while the table does not exist (a new, unmigrated database)."""
    if not inspect(db.engine).has_table(model.__tablename__):
        return 0
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()
