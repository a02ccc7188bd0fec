"""Backup storage per region: which storage a server's copy goes to (every region, none elsewhere,
the tenant's home region), the backup role's variables it gives, and configurations refused with a
clear message."""

from __future__ import annotations

import re

import pytest

from mailfleet.backupregions import BackupRegionsError, copy_placement, parse_storages
from mailfleet.regions import Region

pytestmark = pytest.mark.unit

KEY = "{{ lookup('mailfleet.fleet.secret', 'global/backup-eu', field='secret_access_key') }}"
SFTP_US = {"type": "sftp", "host": "backup.us.example.net", "user": "restic", "path": "/srv/restic/"}
S3_EU = {"type": "s3", "endpoint": "https://s3.eu.example.net", "bucket": "mf", "path": "copies",
         "access_key_id": "AKIAEU", "secret_access_key": KEY}
SFTP_ASIA = {"type": "sftp", "host": "198.51.100.7", "port": 2222}
ALL = parse_storages({"us": SFTP_US, "Europe": S3_EU, "ASIA": SFTP_ASIA})


@pytest.mark.parametrize(
    ("server", "home", "configured", "expected"),
    [
        # Nearest other region, in the fixed order, for a server in each region.
        (Region.US, None, ALL, Region.EU),
        (Region.EU, None, ALL, Region.US),
        (Region.ASIA, None, ALL, Region.EU),
        # The tenant's home region first when it is another region with storage.
        (Region.US, Region.ASIA, ALL, Region.ASIA),
        (Region.EU, Region.EU, ALL, Region.US),  # home is the server's own: the nearest other
        # Only what is configured counts.
        (Region.EU, None, {Region.ASIA: ALL[Region.ASIA], Region.EU: ALL[Region.EU]}, Region.ASIA),
        (Region.US, Region.EU, {Region.ASIA: ALL[Region.ASIA]}, Region.ASIA),
    ],
)
def test_the_copy_goes_to_another_region(server, home, configured, expected):
    found = copy_placement(server, home, configured)
    assert found.region is expected and found.region is not server
    assert expected.label in found.reason


def test_no_storage_elsewhere_or_no_region_says_so():
    alone = copy_placement(Region.EU, Region.US, {Region.EU: ALL[Region.EU]})
    assert alone.storage is None
    assert alone.reason == "no backup storage outside Europe: its backups stay in one region"
    assert copy_placement(Region.EU, None, {}).storage is None
    unmapped = copy_placement(None, Region.US, ALL)
    assert unmapped.storage is None and "in no region" in unmapped.reason


def test_the_role_variables_of_each_kind_of_storage():
    assert ALL[Region.US].role_vars("acme") == {
        "backup_copy_repository_type": "sftp",
        "backup_copy_sftp_host": "backup.us.example.net",
        "backup_copy_sftp_port": 22,
        "backup_copy_sftp_user": "restic",
        "backup_copy_sftp_path": "/srv/restic/acme",
    }
    assert ALL[Region.ASIA].role_vars("acme")["backup_copy_sftp_path"] == "/srv/restic/acme"
    assert ALL[Region.EU].role_vars("acme") == {
        "backup_copy_repository_type": "s3",
        "backup_copy_s3_endpoint": "https://s3.eu.example.net",
        "backup_copy_s3_bucket": "mf",
        "backup_copy_s3_path": "copies/acme",
        "backup_s3_access_key_id": "AKIAEU",
        "backup_s3_secret_access_key": KEY,  # the lookup, read by Ansible at run time
    }
    # Where it is, for a person: never a credential.
    assert ALL[Region.US].where == "sftp://restic@backup.us.example.net/srv/restic/"
    assert ALL[Region.ASIA].where == "sftp://root@198.51.100.7:2222/srv/restic"
    assert ALL[Region.EU].where == "s3 https://s3.eu.example.net/mf/copies"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"mars": SFTP_US}, "unknown region 'mars'; regions are us, eu, asia"),
        ({"eu": {**S3_EU, "secret_access_key": ""}}, "eu: s3 storage without credentials secret_access_key"),
        ({"eu": {k: v for k, v in S3_EU.items() if "key" not in k}},
         "s3 storage without credentials access_key_id, secret_access_key"),
        ({"eu": {**S3_EU, "secret_access_key": "wJalrXUtnFEMI"}}, "eu.secret_access_key looks secret"),
        ({"us": {"type": "sftp"}}, "us: sftp storage without field(s) host"),
        ({"us": {"type": "ftp", "host": "x"}}, "type must be sftp or s3, not 'ftp'"),
        ({"us": {**SFTP_US, "password": "x"}}, "unknown field(s) password for sftp"),
        ({"us": {**SFTP_US, "inventory_host": "store-us"}}, "unknown field(s) inventory_host for sftp"),
        ({"us": {**SFTP_US, "port": 70000}}, "us.port: 70000 is not a port number"),
        ({"us": {**SFTP_US, "host": "a b; rm -rf /"}}, "is not a host name or address"),
        ({"us": {**SFTP_US, "path": "/srv/$(id)"}}, "is not a plain path"),
        ({"us": SFTP_US, "US": SFTP_US}, "us is named twice"),
        ({"us": "backup.us.example.net"}, "must be a mapping with a type"),
        (["us"], "must map regions (us, eu, asia) to storages"),
    ],
)
def test_bad_configurations_are_refused_with_the_reason(config, message):
    with pytest.raises(BackupRegionsError, match=re.escape(message)):
        parse_storages(config)


def test_nothing_configured_is_no_storage():
    assert parse_storages(None) == {} and parse_storages({}) == {}
