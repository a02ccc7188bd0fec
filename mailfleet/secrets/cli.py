"""`python -m mailfleet.secrets ...`: operator and playbook commands that never print a secret.

Output is one JSON object per command (paths, versions, flags); errors go to stderr, exit code 2.
Values are never taken from or printed to the command line: read them with the lookup or the API.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from .base import SecretStore
from .config import get_store
from .errors import SecretsError
from .generators import GENERATORS, generator_by_name
from .paths import SSH_KEY, tenant_path
from .rotation import promote, stage
from .tenant import ensure_tenant_secrets


def _list(store: SecretStore, args: argparse.Namespace) -> dict[str, Any]:
    return {"prefix": args.prefix, "paths": store.list(args.prefix)}


def _versions(store: SecretStore, args: argparse.Namespace) -> dict[str, Any]:
    return {"path": args.path, "versions": [vars(v) for v in store.versions(args.path)]}


def _ensure_tenant(store: SecretStore, args: argparse.Namespace) -> dict[str, Any]:
    created = ensure_tenant_secrets(args.tenant, store)
    return {"tenant": args.tenant, "created": created, "changed": bool(created)}


def _rotate(store: SecretStore, args: argparse.Namespace) -> dict[str, Any]:
    store.rotate(args.path, generator_by_name(args.generator))
    return {"path": args.path, "version": store.read(args.path).version, "changed": True}


def _delete(store: SecretStore, args: argparse.Namespace) -> dict[str, Any]:
    store.delete(args.path)
    return {"path": args.path, "deleted": True, "changed": True}


def _stage(store: SecretStore, args: argparse.Namespace) -> dict[str, Any]:
    return {"tenant": args.tenant, "kind": args.kind, "changed": stage(args.tenant, args.kind, store)}


def _promote(store: SecretStore, args: argparse.Namespace) -> dict[str, Any]:
    version = promote(args.tenant, args.kind, store)
    return {"tenant": args.tenant, "kind": args.kind, "version": version, "changed": True}


def _ssh_add(store: SecretStore, args: argparse.Namespace) -> dict[str, Any]:
    """The tenant's private key into the running ssh-agent, through a pipe (never a file)."""
    key = store.get_field(tenant_path(args.tenant, SSH_KEY), "private_key")
    added = subprocess.run(  # noqa: S603 - fixed argv; the key goes over stdin
        ["ssh-add", "-t", "3600", "-"],  # noqa: S607 - the user's own ssh-add from PATH
        input=key.rstrip("\n") + "\n", capture_output=True, text=True, check=False,
    )
    if added.returncode != 0:
        raise SecretsError(f"ssh-add failed (is ssh-agent running?): {added.stderr.strip()[:200]}")
    return {"tenant": args.tenant, "added": True, "lifetime_seconds": 3600}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mailfleet.secrets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, tuple[Callable[..., dict[str, Any]], list[str], str]] = {
        "list": (_list, ["prefix"], "paths below a folder ('' for all)"),
        "versions": (_versions, ["path"], "version metadata of a path"),
        "ensure-tenant": (_ensure_tenant, ["tenant"], "create a tenant's missing secrets"),
        "rotate": (_rotate, ["path", "generator"], f"new version from a generator ({', '.join(GENERATORS)})"),
        "delete": (_delete, ["path"], "delete a path and all its versions"),
        "stage": (_stage, ["tenant", "kind"], "stage a new ssh_key or mailu api_token (kept if staged)"),
        "promote": (_promote, ["tenant", "kind"], "make the staged value the live one"),
        "ssh-add": (_ssh_add, ["tenant"], "add the tenant's SSH key to ssh-agent for an hour"),
    }
    for name, (handler, positionals, help_text) in commands.items():
        command = sub.add_parser(name, help=help_text)
        for positional in positionals:
            command.add_argument(positional)
        command.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.handler(get_store(), args)
    except SecretsError as exc:
        print(f"mailfleet.secrets: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, sort_keys=True))
    return 0
