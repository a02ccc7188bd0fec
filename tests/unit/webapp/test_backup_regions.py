"""Backups copied to another region by default: the deployment's storage per region (site file)
gives each server's run the variables of its copy outside the server's region (the tenant's home
region first); the tenant page and the API show where each copy goes; the health check names a
server whose backups stay in one region. (A recovery from the copy: test_recovery.py.)"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from jobs.inventory import tenant_inventory
from mailfleet.regions import Region
from webapp.extensions import db
from webapp.services import accounts, backupregions

pytestmark = pytest.mark.unit

KEY = "{{ lookup('mailfleet.fleet.secret', 'global/backup-asia', field='secret_access_key') }}"
STORAGE = {
    "eu": {"type": "sftp", "host": "backup.eu.example.net", "user": "restic", "path": "/srv/restic"},
    "asia": {"type": "s3", "endpoint": "https://s3.asia.example.net", "bucket": "mf",
             "access_key_id": "AKIAASIA", "secret_access_key": KEY},
}


@pytest.fixture
def site(app, tmp_path):
    """Writes the site file with this storage per region; the app reads it as every run does."""

    def write(storage: object) -> None:
        path = tmp_path / "site-vars.yml"
        path.write_text(yaml.safe_dump({"dns_provider": "rfc2136", "mailfleet_backup_regions": storage}))
        app.config["MAILFLEET_SITE_VARS_FILE"] = str(path)

    write(STORAGE)
    return write


@pytest.fixture
def fleet_of_acme(world, add_server):
    """acme: one server in the US (Seattle), one in Europe (Amsterdam), one in no region."""
    us = add_server(world.acme, "mf-acme-1", "198.19.0.10", location="Seattle", mail_hostname="m1.a.test")
    eu = add_server(world.acme, "mf-acme-2", "198.19.0.11", location="Amsterdam", mail_hostname="m2.a.test")
    add_server(world.acme, "mf-acme-3", "198.19.0.12", location="Atlantis", mail_hostname="m3.a.test")
    db.session.commit()
    return us, eu


def _hosts(tenant) -> dict[str, dict]:
    return tenant_inventory(tenant)["all"]["children"]["mailfleet_servers"]["hosts"]


@pytest.mark.usefixtures("site", "fleet_of_acme")
def test_each_server_run_gets_its_copy_in_another_region(world):
    hosts = _hosts(world.acme)
    # US: the nearest other region with storage is Europe's SFTP host.
    assert {k: v for k, v in hosts["mf-acme-1"].items() if "backup" in k} == {
        "mailfleet_backup_copy_region": "eu",
        "backup_copy_repository_type": "sftp",
        "backup_copy_sftp_host": "backup.eu.example.net",
        "backup_copy_sftp_port": 22,
        "backup_copy_sftp_user": "restic",
        "backup_copy_sftp_path": "/srv/restic/acme",
    }
    # Europe: no storage in the US, so Asia's S3 bucket, with its keys as the store lookup.
    eu = hosts["mf-acme-2"]
    assert (eu["mailfleet_backup_copy_region"], eu["backup_copy_repository_type"]) == ("asia", "s3")
    assert eu["backup_copy_s3_path"] == "acme" and eu["backup_s3_secret_access_key"] == KEY
    # No region: nothing set, the site's own backup variables apply.
    assert not [k for k in hosts["mf-acme-3"] if "backup" in k]

    # The tenant's home region comes first when it is another region with storage.
    world.acme.home_region = Region.ASIA
    db.session.commit()
    assert _hosts(world.acme)["mf-acme-1"]["mailfleet_backup_copy_region"] == "asia"


@pytest.mark.usefixtures("fleet_of_acme")
def test_without_storage_per_region_runs_get_nothing_new(world, site):
    site(None)
    assert not [k for h in _hosts(world.acme).values() for k in h if "backup" in k]


def _bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}


@pytest.mark.usefixtures("fleet_of_acme")
def test_the_api_and_the_tenant_page_show_where_each_copy_goes(client, world, site):
    from webapp.testing import TEST_PASSWORD, login

    site({"eu": STORAGE["eu"]})
    got = client.get("/api/v1/backups/tenants/acme/copies", headers=_bearer(world.alice))
    assert got.status_code == 200
    copies = {c["server"]: c for c in got.get_json()["copies"]}
    assert copies["mf-acme-1"] == {
        "server": "mf-acme-1", "region": "us", "copy_region": "eu",
        "copy_where": "sftp://restic@backup.eu.example.net/srv/restic",
        "detail": "copied to Europe (the nearest other with storage)",
    }
    assert copies["mf-acme-2"]["copy_region"] is None
    assert copies["mf-acme-2"]["detail"] == "no backup storage outside Europe: its backups stay in one region"
    assert "in no region" in copies["mf-acme-3"]["detail"]
    other = client.get("/api/v1/backups/tenants/globex/copies", headers=_bearer(world.alice))
    assert other.status_code == 404

    login(client, world.alice.email, TEST_PASSWORD)
    page = client.get("/tenants/acme").get_data(as_text=True)
    table = page[page.index('id="backup-copies"'):].split("</table>")[0]
    rows = {row.split("<td>")[1].split("<")[0]: row for row in table.split("<tr>")[2:]}
    assert "sftp://restic@backup.eu.example.net/srv/restic" in rows["mf-acme-1"]
    assert "stays in one region" in rows["mf-acme-2"]
    assert "no backup storage outside Europe" in rows["mf-acme-2"]


@pytest.mark.usefixtures("fleet_of_acme")
def test_the_health_check_names_a_server_whose_backups_stay_in_one_region(site):
    now = dt.datetime.now(dt.UTC)
    names = ["mf-acme-1", "mf-acme-2", "mf-acme-3"]
    site({"eu": STORAGE["eu"]})
    got = {r.server: r for r in backupregions.region_results(names, now)}
    assert {n: r.status.value for n, r in got.items()} == {
        "mf-acme-1": "ok", "mf-acme-2": "warning", "mf-acme-3": "warning"
    }
    assert got["mf-acme-2"].check == "backup:region" and "stay in one region" in got["mf-acme-2"].detail
    site(None)  # nothing configured: no check at all
    assert backupregions.region_results(names, now) == []
    site({"mars": STORAGE["eu"]})  # malformed: an error on every server, saying why
    bad = backupregions.region_results(names, now)
    assert {r.status.value for r in bad} == {"error"} and "unknown region 'mars'" in bad[0].detail
