"""``flask --app webapp secrets put|get|list|import``: the operator's hands on the secrets store the
app and its jobs read (the backend and its settings as everywhere: MAILFLEET_SECRETS_BACKEND ...).

Values never come from the command line (a process list shows it): ``put`` reads one from a
hidden prompt or standard input, ``import`` from a JSON file. ``get`` shows fields masked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from mailfleet.secrets import SecretNotFound, SecretsError
from mailfleet.secrets.base import validate_data
from mailfleet.secrets.paths import validate_field, validate_path
from webapp.integrations import secret_store

__all__ = ["mask", "secrets_group"]

SHOWN = 4  # trailing characters a masked value keeps, for telling two values apart


def mask(value: str) -> str:
    """``********wxyz (32 characters)``; values too short to keep anything are masked whole."""
    kept = value[-SHOWN:] if len(value) >= 4 * SHOWN else ""
    return f"{'*' * 8}{kept} ({len(value)} characters)"


def _store_call(action: Any) -> Any:
    try:
        return action()
    except SecretsError as exc:
        raise click.ClickException(str(exc)) from None


def _merged(path: str, fields: dict[str, str]) -> tuple[dict[str, str], int]:
    """The path's current fields with ``fields`` on top, and the version to check-and-set against."""
    store = secret_store()
    try:
        current = store.read(path)
    except SecretNotFound:
        return dict(fields), 0
    return {**current.data, **fields}, current.version


@click.group("secrets")
def secrets_group() -> None:
    """Put, show (masked), list and import the secrets store's entries."""


@secrets_group.command("put")
@click.argument("path")
@click.argument("field")
def put_command(path: str, field: str) -> None:
    """Set FIELD of PATH (other fields kept); the value from a hidden prompt or standard input."""
    _store_call(lambda: (validate_path(path), validate_field(field)))
    if sys.stdin.isatty():
        value = click.prompt(f"{path} {field}", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read().rstrip("\n")
    if not value:
        raise click.ClickException("the value is empty; nothing was written")
    data, version = _merged(path, {field: value})
    written = _store_call(lambda: secret_store().put(path, data, cas=version))
    click.echo(f"{path}: {field} written (version {written})")


@secrets_group.command("get")
@click.argument("path")
def get_command(path: str) -> None:
    """Show PATH's fields, masked."""
    data = _store_call(lambda: secret_store().get(path))
    for field, value in sorted(data.items()):
        click.echo(f"{field}: {mask(value)}")


@secrets_group.command("list")
@click.argument("prefix", default="")
def list_command(prefix: str) -> None:
    """The paths below PREFIX (all without one)."""
    for path in _store_call(lambda: secret_store().list(prefix)):
        click.echo(path)


@secrets_group.command("import")
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def import_command(source: Path) -> None:
    """Write every entry of a JSON file {"path": {"field": "value"}}, fields merged into what is
    there. The whole file is checked first: one bad entry and nothing is written."""
    try:
        entries = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{source}: not a JSON file ({exc})") from None
    if not isinstance(entries, dict) or not entries:
        raise click.ClickException(f'{source}: expected {{"path": {{"field": "value"}}, ...}}')
    _store_call(lambda: [(validate_path(path), validate_data(data)) for path, data in entries.items()])
    for path, data in entries.items():
        merged, version = _merged(path, data)
        written = _store_call(lambda p=path, m=merged, v=version: secret_store().put(p, m, cas=v))
        click.echo(f"{path}: {', '.join(sorted(data))} written (version {written})")
