"""Backup storage per region, and where each server's second repository (the copy) goes.

The deployment names one storage per region, once, in the site variables file::

    mailfleet_backup_regions:
      eu: {type: sftp, host: backup.eu.example.net, user: restic, path: /srv/restic}
      us:
        type: s3
        endpoint: https://s3.us-east-1.example.net
        bucket: mailfleet-backups
        access_key_id: AKIA...
        secret_access_key: "{{ lookup('mailfleet.fleet.secret', 'global/backup-us', field='key') }}"

An SFTP storage takes ``host`` (required), ``port`` (22), ``user`` (root), ``path`` (the tenant's
repository is ``<path>/<tenant>``; default /srv/restic); the storage accepts each host's backup key
by the deployment's own means (a control plane run's inventory holds only the tenant's servers, so
the role cannot authorize it there). An S3 storage takes ``endpoint``
and ``bucket`` (required), ``path`` (a prefix, the tenant's repository under it) and both keys, the
secret one a secrets store lookup (the site file holds no secret).

Each server's copy goes by default to a storage outside its own region, in this fixed order: the
tenant's home region when it is another one and has a storage, else the nearest other region with a
storage (:data:`NEAREST`). A server with no storage outside its region, or whose location maps to
no region, keeps its backups where they are, and :func:`copy_placement` says so in plain words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailfleet.redact import is_secret_name, is_store_lookup
from mailfleet.regions import Region, UnknownRegion, parse_region

#: The site variable that holds the storages.
SITE_VARIABLE = "mailfleet_backup_regions"
#: For a server in each region, the other regions from nearest to farthest (by the usual
#: providers' data centres: the Atlantic is shorter than the Pacific from Europe, Asia's nearest
#: big one is Europe's over land fibre).
NEAREST: Mapping[Region, tuple[Region, ...]] = {
    Region.US: (Region.EU, Region.ASIA),
    Region.EU: (Region.US, Region.ASIA),
    Region.ASIA: (Region.EU, Region.US),
}
#: Per type: the required fields, and the optional ones with their defaults.
_FIELDS: dict[str, tuple[set[str], dict[str, Any]]] = {
    "sftp": ({"host"}, {"port": 22, "user": "root", "path": "/srv/restic"}),
    "s3": ({"endpoint", "bucket", "access_key_id", "secret_access_key"}, {"path": ""}),
}
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.:-]{0,252}[A-Za-z0-9])?$")
_PATH = re.compile(r"^/?[A-Za-z0-9._/-]{0,200}$")


class BackupRegionsError(ValueError):
    """The backup storage configuration is not acceptable; the message names the entry."""


@dataclass(frozen=True)
class Storage:
    """One region's backup storage, as the deployment configured it."""

    region: Region
    type: str
    fields: Mapping[str, Any]  # with the optional ones' defaults

    @property
    def where(self) -> str:
        """Where it is, for a person (no credentials)."""
        f = self.fields
        if self.type == "sftp":
            port = f":{f['port']}" if f["port"] != 22 else ""
            return f"sftp://{f['user']}@{f['host']}{port}{f['path']}"
        return f"s3 {f['endpoint']}/{f['bucket']}/{f['path']}".rstrip("/")

    def role_vars(self, tenant: str) -> dict[str, Any]:
        """The backup role's variables that make this storage a tenant's second repository."""
        f = self.fields
        if self.type == "sftp":
            return {
                "backup_copy_repository_type": "sftp",
                "backup_copy_sftp_host": f["host"],
                "backup_copy_sftp_port": f["port"],
                "backup_copy_sftp_user": f["user"],
                "backup_copy_sftp_path": f"{str(f['path']).rstrip('/')}/{tenant}",
            }
        prefix = str(f["path"]).strip("/")
        return {
            "backup_copy_repository_type": "s3",
            "backup_copy_s3_endpoint": f["endpoint"],
            "backup_copy_s3_bucket": f["bucket"],
            "backup_copy_s3_path": f"{prefix}/{tenant}" if prefix else tenant,
            # restic reads one pair of S3 keys per process: the copy's are the run's.
            "backup_s3_access_key_id": f["access_key_id"],
            "backup_s3_secret_access_key": f["secret_access_key"],
        }


def _storage(key: object, entry: object) -> Storage:
    try:
        region = parse_region(str(key))
    except UnknownRegion as exc:
        raise BackupRegionsError(f"{SITE_VARIABLE}: {exc}") from None
    where = f"{SITE_VARIABLE}.{key}"
    if not isinstance(entry, Mapping):
        raise BackupRegionsError(f"{where}: must be a mapping with a type (sftp or s3)")
    kind = entry.get("type")
    if kind not in _FIELDS:
        raise BackupRegionsError(f"{where}: type must be sftp or s3, not {kind!r}")
    required, optional = _FIELDS[kind]
    fields = {k: v for k, v in entry.items() if k != "type"}
    if unknown := sorted(set(fields) - required - set(optional), key=str):
        raise BackupRegionsError(f"{where}: unknown field(s) {', '.join(map(str, unknown))} for {kind}")
    if missing := sorted(name for name in required if fields.get(name) in (None, "")):
        what = "credentials" if {"access_key_id", "secret_access_key"} & set(missing) else "field(s)"
        raise BackupRegionsError(f"{where}: {kind} storage without {what} {', '.join(missing)}")
    for name, value in fields.items():
        if is_secret_name(name) and not is_store_lookup(value):
            raise BackupRegionsError(
                f"{where}.{name} looks secret; put it in the secrets store and write "
                f"\"{{{{ lookup('mailfleet.fleet.secret', '<path>', field='<field>') }}}}\""
            )
    if "host" in fields and not _HOST.match(str(fields["host"])):
        raise BackupRegionsError(f"{where}.host: {fields['host']!r} is not a host name or address")
    if "path" in fields and not _PATH.match(str(fields["path"])):
        raise BackupRegionsError(f"{where}.path: {fields['path']!r} is not a plain path")
    if "port" in fields and not (isinstance(fields["port"], int) and 0 < fields["port"] < 65536):
        raise BackupRegionsError(f"{where}.port: {fields['port']!r} is not a port number")
    return Storage(region, kind, {**optional, **fields})


def parse_storages(value: object) -> dict[Region, Storage]:
    """The storages of the site variable's value (None: none), or BackupRegionsError."""
    if value in (None, {}):
        return {}
    if not isinstance(value, Mapping):
        raise BackupRegionsError(f"{SITE_VARIABLE}: must map regions ({', '.join(Region)}) to storages")
    storages: dict[Region, Storage] = {}
    for key, entry in value.items():
        storage = _storage(key, entry)
        if storage.region in storages:
            raise BackupRegionsError(f"{SITE_VARIABLE}: {storage.region.value} is named twice")
        storages[storage.region] = storage
    return storages


@dataclass(frozen=True)
class CopyPlacement:
    """Where a server's second repository goes, or why it has none elsewhere."""

    storage: Storage | None
    reason: str

    @property
    def region(self) -> Region | None:
        return self.storage.region if self.storage else None


def copy_placement(
    server_region: Region | None, home_region: Region | None, storages: Mapping[Region, Storage]
) -> CopyPlacement:
    """The storage of a server's copy: the tenant's home region if it is another region with a
    storage, else the nearest other region with one; none (with the reason) otherwise."""
    if server_region is None:
        return CopyPlacement(None, "its location is in no region: its backups stay where they are")
    order = ([home_region] if home_region not in (None, server_region) else []) + list(NEAREST[server_region])
    for region in order:
        if region is not None and region in storages:
            why = "the tenant's home region" if region == home_region else "the nearest other with storage"
            return CopyPlacement(storages[region], f"copied to {region.label} ({why})")
    return CopyPlacement(
        None, f"no backup storage outside {server_region.label}: its backups stay in one region"
    )
