"""The control plane's own backup: one encrypted file with the database and every secret, restored
into a fresh data directory where the app logs in and sees the same tenants, runs and secrets."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from webapp.extensions import db
from webapp.integrations import secret_store
from webapp.models import Run, RunStatus, Tenant
from webapp.services.runs import RunFilters, list_runs
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, login, make_app

pytestmark = pytest.mark.unit


def test_backup_wipe_and_restore_into_a_fresh_data_directory(app, world, tmp_path):
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    app.config["MAILFLEET_CONTROL_BACKUP_KEY"] = key
    secret_store(app).put("tenants/acme/restic", {"password": "restic-password-of-acme"})
    db.session.add(
        Run(tenant_id=world.acme.id, playbook="site.yml", catalogue_key="site", status=RunStatus.SUCCESSFUL)
    )
    db.session.commit()
    made = app.test_cli_runner().invoke(args=["backup-control-plane", "--dest", str(tmp_path / "backups")])
    assert made.exit_code == 0, made.output
    backup = Path(made.output.strip())
    assert backup.parent == tmp_path / "backups" and (backup.stat().st_mode & 0o777) == 0o600
    sealed = backup.read_bytes()
    for clear in (b"acme", b"restic-password-of-acme", b"alice@acme.example"):
        assert clear not in sealed  # encrypted as a whole

    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    fresh = make_app(fresh_dir, MAILFLEET_CONTROL_BACKUP_KEY=key)
    with fresh.app_context():
        cli = fresh.test_cli_runner()
        (tmp_path / "wrong").mkdir()
        wrong = make_app(
            tmp_path / "wrong", MAILFLEET_CONTROL_BACKUP_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode()
        )
        with wrong.app_context():
            refused = wrong.test_cli_runner().invoke(args=["restore-control-plane", str(backup)])
            assert refused.exit_code != 0 and "not a control plane backup readable" in refused.output
        restored = cli.invoke(args=["restore-control-plane", str(backup)])
        assert restored.exit_code == 0, restored.output
        assert {t.slug for t in db.session.scalars(db.select(Tenant))} == {"acme", "globex"}
        assert secret_store(fresh).get("tenants/acme/restic") == {"password": "restic-password-of-acme"}
        admin_runs = list_runs(Scope.system(), RunFilters(tenant_slug="acme"), limit=10)
        assert [(r.playbook, r.status) for r in admin_runs] == [("site.yml", RunStatus.SUCCESSFUL)]
        client = fresh.test_client()
        assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
        assert "Acme Corp" in client.get("/tenants/acme").get_data(as_text=True)
        again = cli.invoke(args=["restore-control-plane", str(backup)])
        assert again.exit_code != 0 and "fresh data directory" in again.output  # never over a working one


def test_a_live_control_plane_is_never_overwritten(app, world, tmp_path):
    made = app.test_cli_runner().invoke(args=["backup-control-plane", "--dest", str(tmp_path / "b")])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "control-backup.key").stat().st_mode & 0o777 == 0o600  # made on first use
    refused = app.test_cli_runner().invoke(args=["restore-control-plane", made.output.strip()])
    assert refused.exit_code != 0 and "not empty" in refused.output
    assert {t.slug for t in db.session.scalars(db.select(Tenant))} == {"acme", "globex"}
