"""``flask --app webapp <command>``: create-admin, upgrade, create-tenant, add-member, enqueue-run,
backup-control-plane, restore-control-plane, secrets (put, get, list, import)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask_migrate import upgrade as migrate_upgrade
from sqlalchemy import select

from mailfleet.settings import Settings
from webapp import playbooks
from webapp.errors import MailfleetWebError
from webapp.extensions import db
from webapp.models import Role, User
from webapp.secrets_cli import secrets_group
from webapp.services import accounts, control_backup, runs, tenants
from webapp.services.scope import Scope


def _password(env_name: str) -> str:
    """From ``<env_name>`` or ``<env_name>_FILE``, else a prompt: never from argv (visible in ps)."""
    password = Settings(error=click.ClickException)[env_name]
    if password:
        return password
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _admin_scope() -> Scope:
    admin = db.session.execute(select(User).where(User.role == Role.ADMIN).limit(1)).scalar_one_or_none()
    if admin is None:
        raise click.ClickException("create an admin first: flask --app webapp create-admin --email ...")
    return Scope(admin)


def _fail(exc: MailfleetWebError) -> None:
    raise click.ClickException(str(exc))


@click.command("upgrade")
def upgrade_command() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    migrate_upgrade()
    click.echo("database is up to date")


@click.command("create-admin")
@click.option("--email", required=True)
def create_admin_command(email: str) -> None:
    """Create an administrator; the password comes from MAILFLEET_ADMIN_PASSWORD(_FILE) or a prompt."""
    try:
        user = accounts.create_user(email, _password("MAILFLEET_ADMIN_PASSWORD"), Role.ADMIN, None)
    except MailfleetWebError as exc:
        _fail(exc)
    click.echo(f"admin {user.email} created")


@click.command("create-tenant")
@click.option("--slug", required=True)
@click.option("--name", required=True)
def create_tenant_command(slug: str, name: str) -> None:
    """Create a tenant (and its secrets)."""
    try:
        tenant = tenants.create_tenant(_admin_scope(), slug, name)
    except MailfleetWebError as exc:
        _fail(exc)
    click.echo(f"tenant {tenant.slug} created")


@click.command("add-member")
@click.option("--tenant", "tenant_slug", required=True)
@click.option("--email", required=True)
def add_member_command(tenant_slug: str, email: str) -> None:
    """Add a member to a tenant; the password comes from MAILFLEET_MEMBER_PASSWORD(_FILE) or a prompt."""
    scope = _admin_scope()
    try:
        user = accounts.add_member(
            scope, scope.tenant(tenant_slug), email, _password("MAILFLEET_MEMBER_PASSWORD")
        )
    except MailfleetWebError as exc:
        _fail(exc)
    click.echo(f"member {user.email} of {tenant_slug} created")


@click.command("enqueue-run")
@click.option("--tenant", "tenant_slug", required=True)
@click.option(
    "--playbook",
    "playbook_key",
    required=True,
    type=click.Choice(sorted(p.key for p in playbooks.direct())),
)
@click.option("--limit", default=None, help="comma-separated server names of this tenant")
def enqueue_run_command(tenant_slug: str, playbook_key: str, limit: str | None) -> None:
    """Queue a playbook run for a tenant (as the first admin); prints the run id."""
    scope = _admin_scope()
    try:
        run = runs.submit_run(scope, scope.tenant(tenant_slug), playbook_key, limit=limit)
    except MailfleetWebError as exc:
        _fail(exc)
    click.echo(run.id)
    sys.stdout.flush()


@click.command("backup-control-plane")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="directory for the file (default MAILFLEET_CONTROL_BACKUP_DIR)",
)
def backup_control_plane_command(dest: Path | None) -> None:
    """Back up the database and the secrets store into one encrypted file; prints its path."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    dest = dest or app.config["MAILFLEET_CONTROL_BACKUP_DIR"]
    if dest is None:
        raise click.ClickException("give --dest DIR or set MAILFLEET_CONTROL_BACKUP_DIR")
    try:
        path = control_backup.create(app, dest, app.config["MAILFLEET_CONTROL_BACKUP_KEEP"])
    except MailfleetWebError as exc:
        _fail(exc)
    click.echo(path)


@click.command("restore-control-plane")
@click.argument("backup_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def restore_control_plane_command(backup_file: Path) -> None:
    """Restore a control plane backup into this (fresh) data directory and secrets store."""
    try:
        done = control_backup.restore(current_app._get_current_object(), backup_file)  # type: ignore[attr-defined]
    except MailfleetWebError as exc:
        _fail(exc)
    click.echo(
        f"restored the backup of {done['created_at']}: database and {done['secrets']} secrets; "
        "now run: flask --app webapp upgrade"
    )


def register(app: Flask) -> None:
    for command in (
        upgrade_command,
        create_admin_command,
        create_tenant_command,
        add_member_command,
        enqueue_run_command,
        backup_control_plane_command,
        restore_control_plane_command,
        secrets_group,
    ):
        app.cli.add_command(command)
