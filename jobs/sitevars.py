"""The group variables every run's inventory gets: the mapping of the control plane's words to the
roles' variables (inventory/group_vars/all/mailfleet.yml, shared with engineers' inventories) and
the deployment's site variables file (``MAILFLEET_SITE_VARS_FILE``: DNS provider, ACME directory,
Mailu API address, ...; the testbed's is written by testbed/site_file.py).

The site file is settings, never secrets: a variable whose name says secret must be a
``mailfleet.fleet.secret`` lookup (read by Ansible from the store at run time), or the file is refused
with a clear error and the run does not start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mailfleet.backupregions import SITE_VARIABLE as BACKUP_REGIONS
from mailfleet.backupregions import BackupRegionsError, parse_storages
from mailfleet.redact import is_secret_name, is_store_lookup
from mailfleet.settings import Settings

SITE_VARS_ENV = "MAILFLEET_SITE_VARS_FILE"
#: Under the repository: the one place where mailfleet_tenant, mail_hostname and mailfleet_domains
#: become mailu_*, dns_*, letsencrypt_* and backup_* variables.
MAPPING_FILE = Path("inventory") / "group_vars" / "all" / "mailfleet.yml"
#: File names inside a run's inventory/group_vars/all/: loaded in this (sorted) order, so the site
#: file may override a mapped default.
MAPPING_NAME = "10-mailfleet.yml"
SITE_NAME = "20-site.yml"

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,99}$")
#: Set per run by the control plane; a site file cannot change whose run it is.
_RESERVED = re.compile(r"^(mailfleet_tenant|mailfleet_domains|mail_hostname|ansible_.*)$")


class SiteVarsError(Exception):
    """The site variables file is missing, unreadable or not acceptable."""


def _check(path: Path, data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SiteVarsError(f"{SITE_VARS_ENV}={path}: must be a mapping of variable names to values")
    for name, value in data.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise SiteVarsError(f"{SITE_VARS_ENV}={path}: {name!r} is not a variable name")
        if _RESERVED.match(name):
            raise SiteVarsError(f"{SITE_VARS_ENV}={path}: {name} is set by the control plane per run")
        if is_secret_name(name) and value not in ("", None) and not is_store_lookup(value):
            raise SiteVarsError(
                f"{SITE_VARS_ENV}={path}: {name} looks secret; put the value in the secrets store "
                f"and write {name}: \"{{{{ lookup('mailfleet.fleet.secret', '<path>', field='<field>') }}}}\""
            )
    try:
        parse_storages(data.get(BACKUP_REGIONS))
    except BackupRegionsError as exc:
        raise SiteVarsError(f"{SITE_VARS_ENV}={path}: {exc}") from None
    return data


def load_site_vars(path: Path) -> tuple[dict[str, Any], str]:
    """The checked variables and the file's text (copied as is, so its Jinja stays Ansible's)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SiteVarsError(f"{SITE_VARS_ENV}={path}: cannot read it ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SiteVarsError(f"{SITE_VARS_ENV}={path}: not valid YAML ({exc})") from None
    return _check(path, data), text


def run_group_vars(repo_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """File name -> text of the group_vars/all files for one run's private inventory."""
    files = {MAPPING_NAME: (repo_dir / MAPPING_FILE).read_text(encoding="utf-8")}
    site = Settings(env, error=SiteVarsError)[SITE_VARS_ENV]
    if site:
        _, files[SITE_NAME] = load_site_vars(site)
    return files
