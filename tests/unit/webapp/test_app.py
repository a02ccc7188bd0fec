"""Configuration from the environment, the CLI, migrations matching the models."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from webapp.config import load_config
from webapp.errors import ConfigError
from webapp.extensions import db
from webapp.models import Run, RunStatus, Tenant, User

pytestmark = pytest.mark.unit


def test_config_reads_files_and_types(tmp_path):
    secret = tmp_path / "db_url"
    secret.write_text("postgresql+psycopg://u:p@127.0.0.1:5433/mf\n")
    config = load_config(
        {
            "MAILFLEET_DATA_DIR": str(tmp_path),
            "DATABASE_URL_FILE": str(secret),
            "MAILFLEET_SECRET_KEY": "k" * 40,
            "MAILFLEET_RUN_TIMEOUT": "600",
        }
    )
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@127.0.0.1:5433/mf"
    assert config["MAILFLEET_RUN_TIMEOUT"] == 600 and config["MAILFLEET_JOB_TIMEOUT"] > 600
    assert config["SECRET_KEY"] == "k" * 40
    default = load_config({"MAILFLEET_DATA_DIR": str(tmp_path)})
    assert default["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'mailfleet.db'}"
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert load_config({"MAILFLEET_DATA_DIR": str(tmp_path)})["SECRET_KEY"] == default["SECRET_KEY"]
    for bad in (
        {"MAILFLEET_RUN_TIMEOUT": "ten"},
        {"MAILFLEET_INSECURE_COOKIES": "maybe"},
        {"DATABASE_URL_FILE": str(tmp_path / "missing")},
        {"MAILFLEET_USAGE_KEEP_DAILY_DAYS": "30"},  # the 90-day charts read daily rows
        {"MAILFLEET_DISK_FORECAST_WARNING_DAYS": "1", "MAILFLEET_DISK_FORECAST_CRITICAL_DAYS": "3"},
    ):
        with pytest.raises(ConfigError):
            load_config({"MAILFLEET_DATA_DIR": str(tmp_path), **bad})


def test_migrations_match_the_models(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == []


def test_cli_create_admin_and_enqueue_run(runner, monkeypatch):
    monkeypatch.setenv("MAILFLEET_ADMIN_PASSWORD", "a long admin password")
    result = runner.invoke(args=["create-admin", "--email", "Root@Example.com"])
    assert result.exit_code == 0, result.output
    assert db.session.execute(select(User.email)).scalar_one() == "root@example.com"
    assert runner.invoke(args=["create-tenant", "--slug", "acme", "--name", "Acme"]).exit_code == 0
    result = runner.invoke(args=["enqueue-run", "--tenant", "acme", "--playbook", "site"])
    assert result.exit_code == 0, result.output
    run = db.session.get(Run, int(result.output.strip()))
    assert run.status == RunStatus.QUEUED and run.playbook == "site.yml"
    bad = runner.invoke(args=["enqueue-run", "--tenant", "nope", "--playbook", "site"])
    assert bad.exit_code != 0 and "not found" in bad.output
    assert runner.invoke(args=["upgrade"]).exit_code == 0



def test_recorded_runs_name_their_server_the_provider_neutral_way_after_the_migration(app):
    """Runs recorded with hostwinds_* names find their server after the upgrade, and back again."""
    from flask_migrate import downgrade, upgrade

    downgrade(revision="b8c3e5f17a2d")
    tenant = Tenant(slug="acme", name="Acme")
    db.session.add(tenant)
    db.session.flush()
    run = Run(tenant_id=tenant.id, playbook="resize.yml", extravars={
        "mailfleet_tenant": "acme", "hostwinds_index": 2, "hostwinds_plan": "103"})
    db.session.add(run)
    db.session.commit()
    upgrade()
    db.session.expire_all()
    assert db.session.get(Run, run.id).extravars == {
        "mailfleet_tenant": "acme", "server_index": 2, "server_plan": "103"}
    downgrade(revision="b8c3e5f17a2d")
    db.session.expire_all()
    assert db.session.get(Run, run.id).extravars["hostwinds_index"] == 2
    upgrade()
