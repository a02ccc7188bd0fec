"""Where each server's backup copy goes: the deployment's backup storage per region (the site
variables file's ``mailfleet_backup_regions``, :mod:`mailfleet.backupregions`) applied to the server's
region and its tenant's home region. The run inventory gives each server the backup role's
variables of its copy; the tenant page and the API show it; the health check ``backup:region`` names
a server whose backups stay in one region.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import select

from mailfleet.backupregions import (
    SITE_VARIABLE,
    BackupRegionsError,
    CopyPlacement,
    Storage,
    copy_placement,
    parse_storages,
)
from mailfleet.monitoring import CheckResult, Status
from mailfleet.regions import Region
from webapp.extensions import db
from webapp.integrations import site_vars
from webapp.models import Server

CHECK_NAME = "backup:region"


def storages(app: Flask | None = None) -> dict[Region, Storage]:
    """The deployment's backup storage per region (none without a site file or the variable);
    BackupRegionsError when it is malformed."""
    return parse_storages((site_vars(app) or {}).get(SITE_VARIABLE))


def placement(server: Server, by_region: Mapping[Region, Storage]) -> CopyPlacement:
    """Where this server's copy goes (its tenant's home region first, when that is another one)."""
    home = server.tenant.home_region if server.tenant is not None else None
    return copy_placement(server.region, home, by_region)


def copy_vars(server: Server, by_region: Mapping[Region, Storage]) -> dict[str, Any]:
    """The backup role's variables of the server's copy; none when it has no storage elsewhere (the
    site file's own backup_copy_* then apply)."""
    found = placement(server, by_region)
    if found.storage is None or server.tenant is None:
        return {}
    return {"mailfleet_backup_copy_region": found.storage.region.value,
            **found.storage.role_vars(server.tenant.slug)}


def placements(servers: Iterable[Server], app: Flask | None = None) -> dict[int, dict[str, Any]]:
    """Per server id, what a person reads: the copy's region and storage, or why there is none.
    Without any storage configured the answer says so once per server; a malformed configuration
    gives its error for each."""
    try:
        by_region = storages(app)
    except BackupRegionsError as exc:
        return {s.id: {"region": None, "where": None, "detail": f"backup storage configuration: {exc}"}
                for s in servers}
    out = {}
    for server in servers:
        if not by_region:
            out[server.id] = {"region": None, "where": None,
                              "detail": "no backup storage per region is configured"}
            continue
        found = placement(server, by_region)
        out[server.id] = {
            "region": found.region.value if found.region else None,
            "where": found.storage.where if found.storage else None,
            "detail": found.reason,
        }
    return out


def region_results(names: Iterable[str], now: datetime, app: Flask | None = None) -> list[CheckResult]:
    """The check ``backup:region`` of each named server, once the deployment configured backup
    storage per region: ok with the copy's region, a warning for a server whose backups stay in one
    region, an error for every server when the configuration is malformed (its runs are refused)."""
    try:
        by_region = storages(app)
    except BackupRegionsError as exc:
        return [CheckResult(n, CHECK_NAME, Status.ERROR, None, f"backup storage configuration: {exc}", now)
                for n in names]
    if not by_region:
        return []
    servers = db.session.scalars(select(Server).where(Server.name.in_(list(names))))
    results = []
    for server in servers:
        found = placement(server, by_region)
        status = Status.OK if found.storage is not None else Status.WARNING
        results.append(CheckResult(server.name, CHECK_NAME, status, None, found.reason, now))
    return results
