"""The control plane's own backup: its database and every secret of its store in one encrypted file.

    flask --app webapp backup-control-plane [--dest DIR]   also daily from rq cron (jobs.control_backup)
                                                           when MAILFLEET_CONTROL_BACKUP_DIR is set
    flask --app webapp restore-control-plane FILE          into a fresh data directory and store

The file (``mailfleet-control-plane-<UTC time>.mfcp``, mode 0600) is a tar of the SQLite database,
copied with SQLite's online backup (consistent while the app writes), and the current version of
every secret, read through the store's API (so a local store can be restored into Vault and back),
sealed with AES-256-GCM (mailfleet.secrets.envelope) under the backup key:
MAILFLEET_CONTROL_BACKUP_KEY(_FILE) (URL-safe base64 of 32 bytes), else ``<data dir>/control-backup.key``
created on first use. Keep a copy of that key away from this machine: the file is unreadable
without it. The newest MAILFLEET_CONTROL_BACKUP_KEEP files of the directory are kept.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

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


def _sqlite_path(app: Flask) -> Path:
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite" or not url.database:
        raise ConfigError(
            "the control plane's backup copies a SQLite database; for PostgreSQL use pg_dump "
            f"(this database is {url.get_backend_name()})"
        )
    return Path(url.database)


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    archive.addfile(info, io.BytesIO(data))


def create(app: Flask, dest: Path, keep: int | None = None) -> Path:
    """Write one backup file into `dest` (created 0700); keep the newest `keep` there."""
    source = _sqlite_path(app)
    store = secret_store(app)
    secrets = {path: store.get(path) for path in store.list("")}
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "database.sqlite"
        live, target = sqlite3.connect(source), sqlite3.connect(copy)
        try:
            live.backup(target)
        finally:
            target.close()
            live.close()
        database = copy.read_bytes()
    now = utcnow()
    manifest = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "database": "sqlite",
        "secrets": len(secrets),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        _add(archive, "manifest.json", json.dumps(manifest).encode())
        _add(archive, "database.sqlite", database)
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
        database, secrets = member("database.sqlite"), json.loads(member("secrets.json"))
    target = _sqlite_path(app)
    store = secret_store(app)
    users = db.session.execute(select(func.count()).select_from(User)).scalar_one()
    tenants = db.session.execute(select(func.count()).select_from(Tenant)).scalar_one()
    if users or tenants or store.list(""):
        raise InvalidInput(
            "restore into a fresh data directory: this database or secrets store is not empty "
            f"({users} users, {tenants} tenants)"
        )
    db.session.remove()
    db.engine.dispose()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".restore-")  # 0600
    with os.fdopen(fd, "wb") as handle:
        handle.write(database)
    os.replace(tmp, target)
    for secret_path, data in secrets.items():
        store.put(secret_path, data)
    return {"created_at": manifest["created_at"], "secrets": len(secrets)}
