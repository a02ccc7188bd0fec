"""Disaster recovery on a real database and the Hostwinds double: one request orders the new server,
and each finished step submits the next through the hook that follows every run (provision, then
the restore of the lost server's latest snapshot onto the new one, then the check of the restored
data, and only then the DNS switch: the domains move and the domain run republishes them from the
new server). A failed step switches nothing; bad input changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mailfleet.clock import utcnow
from webapp.errors import Conflict, Forbidden, InvalidInput, NotFound
from webapp.extensions import db
from webapp.models import Domain, DomainStatus, Run, RunEvent, RunStatus, Server, ServerBackup, ServerStatus
from webapp.services import accounts, fleet, quotas, recovery, runs
from webapp.services.scope import Scope
from webapp.testing import all_runs, end_run

pytestmark = pytest.mark.unit

SNAPSHOT = "5" * 64


@pytest.fixture
def lost(world, hostwinds, add_server):
    """acme's mf-acme-1 with its domain and one snapshot reported; globex's mf-globex-1."""
    server = add_server(world.acme, "mf-acme-1", "198.19.0.10", mail_hostname="mail.acme.test")
    add_server(world.globex, "mf-globex-1", "198.19.0.11", mail_hostname="mail.globex.test")
    db.session.add(
        Domain(tenant_id=world.acme.id, server_id=server.id, name="acme.test", status=DomainStatus.ACTIVE)
    )
    snapshots = [{"id": SNAPSHOT, "short_id": SNAPSHOT[:8], "time": "2026-12-01T10:00:00.5Z"}]
    db.session.add(
        ServerBackup(
            server_id=server.id, collected_at=utcnow(), status={"repository": {"snapshots": snapshots}}
        )
    )
    db.session.commit()
    return server


def _restored(run: Run, host: str) -> None:
    """restore.yml's set_stats, as the runner's stats event carries it."""
    data = {
        "artifact_data": {
            "mailfleet_restore": {
                host: {
                    "snapshot_id": SNAPSHOT,
                    "source": "mf-acme-1",
                    "snapshot_time": "2026-12-01T10:00:00.5Z",
                }
            }
        }
    }
    db.session.add(RunEvent(run_id=run.id, counter=1, event="playbook_on_stats", event_data=data))
    db.session.commit()


def _provisioned(run: Run) -> Server:
    """provision.yml succeeded: the provider's address is known (the inventory refresh)."""
    new = db.session.scalar(select(Server).where(Server.name == "mf-acme-2"))
    new.public_ipv4, new.status = "198.19.0.12", ServerStatus.ACTIVE
    end_run(run)
    return new


def test_restore_then_check_then_dns_each_after_the_last_succeeded(world, lost):
    provision = recovery.start_recovery(
        Scope(world.alice), world.acme, lost.id, "Seattle", "101", confirmed=True
    )
    assert (provision.catalogue_key, provision.extravars["recover_from_host"]) == ("provision", "mf-acme-1")
    new = db.session.scalar(select(Server).where(Server.name == "mf-acme-2"))
    assert (new.status, new.mail_hostname) == (ServerStatus.REQUESTED, "mail.acme.test")

    _provisioned(provision)
    restore = all_runs()[-1]
    assert (restore.catalogue_key, restore.playbook, restore.limit) == ("recover", "restore.yml", "mf-acme-2")
    assert restore.extravars == {"restore_from_host": "mf-acme-1"}  # the latest snapshot

    _restored(restore, "mf-acme-2")
    end_run(restore)
    check = all_runs()[-1]
    assert (check.catalogue_key, check.playbook, check.limit) == (
        "restore_check",
        "restore_check.yml",
        "mf-acme-2",
    )
    assert check.extravars == {"restore_snapshot_id": SNAPSHOT, "restore_from_host": "mf-acme-1"}
    # Until the check passed, DNS stays with the lost server: its domain, no domain run.
    assert db.session.scalar(select(Domain.server_id).where(Domain.name == "acme.test")) == lost.id
    assert "domain" not in [r.catalogue_key for r in all_runs()]

    end_run(check)
    publish = all_runs()[-1]
    assert (publish.catalogue_key, publish.limit) == ("domain", "mf-acme-2")
    assert publish.extravars == {}  # its domains come from the run's inventory, now the new server's
    assert db.session.scalar(select(Domain.server_id).where(Domain.name == "acme.test")) == new.id
    assert db.session.get(Server, lost.id).status == ServerStatus.ERROR  # no run addresses it any more
    assert len(all_runs()) == 4


def test_a_recovery_at_a_point_in_time_restores_the_snapshot_at_or_before_it(world, lost):
    # The snapshot was taken at 10:00:00.5: the second a page shows for it picks it.
    provision = recovery.start_recovery(
        Scope(world.alice), world.acme, lost.id, "Dallas", "101", restore_before="2026-12-01T10:00",
        confirmed=True,
    )
    assert provision.extravars["recover_before"] == "2026-12-01 10:00:00"
    assert provision.extravars["server_location"] == "Dallas"
    _provisioned(provision)
    restore = all_runs()[-1]
    assert restore.catalogue_key == "recover"
    assert restore.extravars == {"restore_from_host": "mf-acme-1", "restore_before": "2026-12-01 10:00:00"}


@pytest.mark.parametrize("failing", ["provision", "recover", "restore_check"])
def test_a_failed_step_ends_the_recovery_with_dns_on_the_lost_server(world, lost, failing):
    run = recovery.start_recovery(Scope(world.alice), world.acme, lost.id, "Seattle", "101", confirmed=True)
    while run.catalogue_key != failing:
        if run.catalogue_key == "provision":
            _provisioned(run)
        else:
            _restored(run, "mf-acme-2")
            end_run(run)
        run = all_runs()[-1]
    end_run(run, RunStatus.FAILED)
    assert all_runs()[-1].id == run.id  # nothing follows
    assert db.session.scalar(select(Domain.server_id).where(Domain.name == "acme.test")) == lost.id
    assert db.session.get(Server, lost.id).status == ServerStatus.ACTIVE


def test_bad_requests_are_refused_and_change_nothing(world, lost):
    scope = Scope(world.alice)
    other = db.session.scalar(select(Server).where(Server.name == "mf-globex-1"))
    with pytest.raises(NotFound):  # another tenant's server, as a missing one
        recovery.start_recovery(scope, world.acme, other.id, "Seattle", "101", confirmed=True)
    with pytest.raises(InvalidInput, match="location"):
        recovery.start_recovery(scope, world.acme, lost.id, "Mars", "101", confirmed=True)
    first = "its first is from 2026-12-01 10:00:00"
    with pytest.raises(InvalidInput, match=f"no snapshot at or before 2026-12-01 09:59:59 UTC; {first}"):
        recovery.start_recovery(
            scope, world.acme, lost.id, "Dallas", "101", restore_before="2026-12-01 09:59:59", confirmed=True
        )
    for malformed in ("yesterday", "2026-12-01 10:00:00; rm -rf /", "2999-01-01 00:00:00"):
        with pytest.raises(InvalidInput, match="restore time"):
            recovery.start_recovery(
                scope, world.acme, lost.id, "Dallas", "101", restore_before=malformed, confirmed=True
            )
    db.session.get(ServerBackup, lost.id).status = {"repository": {"snapshots": []}}
    db.session.commit()
    with pytest.raises(InvalidInput, match="mf-acme-1 has no backup snapshot yet"):
        recovery.start_recovery(scope, world.acme, lost.id, "Seattle", "101", confirmed=True)
    lost.status = ServerStatus.GONE
    db.session.commit()
    with pytest.raises(Conflict, match="mf-acme-1 is gone"):
        recovery.start_recovery(scope, world.acme, lost.id, "Seattle", "101", confirmed=True)
    assert all_runs() == []
    assert db.session.scalar(select(func.count()).select_from(Server)) == 2


def test_the_recovery_page_starts_it_from_the_restore_page(client, world, lost):
    from webapp.testing import TEST_PASSWORD, csrf_token, login

    login(client, world.alice.email, TEST_PASSWORD)
    # The snapshot picked on the restore page: the recovery link carries its server and time.
    picked = f"server_id={lost.id}&source_server_id={lost.id}&restore_before=2026-12-01+10:00:00"
    restore_page = client.get(f"/tenants/acme/actions/restore?{picked}").get_data(as_text=True)
    link = restore_page.split('id="recover-link"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    page = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert (
        "only once the one before succeeded" in page
        and f'<option selected value="{lost.id}">mf-acme-1' in page
        and 'value="2026-12-01 10:00:00"' in page
    )
    url = "/tenants/acme/recover"
    form = {
        "csrf_token": csrf_token(client, url),
        "server_id": lost.id,
        "location": "Seattle",
        "plan": "101",
        "restore_before": "2026-12-01 10:00:00",
        "submission_key": "recover-0001",
    }
    unticked = client.post(url, data=form, follow_redirects=True).get_data(as_text=True)
    assert "Confirm that a new server is ordered" in unticked and all_runs() == []
    elsewhere = client.post(url, data={**form, "location": "Mars", "confirm": "y"}, follow_redirects=True)
    assert 'class="flash error"' in elsewhere.get_data(as_text=True) and all_runs() == []
    too_early = {**form, "restore_before": "2026-11-30 10:00:00", "confirm": "y"}
    early = client.post(url, data=too_early, follow_redirects=True).get_data(as_text=True)
    assert "no snapshot at or before 2026-11-30 10:00:00 UTC" in early and all_runs() == []
    response = client.post(url, data={**form, "confirm": "y"})
    assert response.status_code == 302
    [run] = all_runs()
    assert response.headers["Location"] == f"/runs/{run.id}"
    assert (run.catalogue_key, run.extravars["recover_from_host"]) == ("provision", "mf-acme-1")
    assert run.extravars["recover_before"] == "2026-12-01 10:00:00"


def _through(run: Run, last: str) -> Run:
    """Each step of the recovery succeeds up to and including `last`; the run of `last`."""
    while True:
        if run.catalogue_key == "provision":
            _provisioned(run)
        elif run.catalogue_key == "recover":
            _restored(run, "mf-acme-2")
            end_run(run)
        else:
            end_run(run)
        if run.catalogue_key == last:
            return run
        run = all_runs()[-1]


def test_a_recovery_reads_back_as_its_steps_with_rpo_and_rto(world, lost):
    scope = Scope(world.alice)
    first = recovery.start_recovery(scope, world.acme, lost.id, "Seattle", "101", confirmed=True)
    started = recovery.recovery(scope, world.acme, first.id)
    assert (started.status, started.lost_server, started.new_server) == ("running", "mf-acme-1", "mf-acme-2")
    assert [(s.key, s.run.id if s.run else None) for s in started.steps] == [
        ("provision", first.id),
        ("recover", None),
        ("restore_check", None),
        ("domain", None),
    ]
    assert (started.rpo, started.rto) == (None, None)

    _through(first, "restore_check")
    midway = recovery.recovery(scope, world.acme, first.id)
    assert midway.status == "running" and midway.snapshot_id == SNAPSHOT
    assert midway.rpo == first.created_at - midway.snapshot_time and midway.rto is None

    _through(all_runs()[-1], "domain")
    done = recovery.recovery(scope, world.acme, first.id)
    assert done.status == "successful"
    assert [s.run.catalogue_key for s in done.steps] == ["provision", "recover", "restore_check", "domain"]
    assert done.rto == done.steps[-1].run.finished_at - first.created_at
    # Among the tenant's restores, with the same figures.
    [record] = recovery.restores_and_recoveries(scope, world.acme)
    assert (record.kind, record.run.id, record.target, record.source) == (
        "recovery",
        first.id,
        "mf-acme-2",
        "mf-acme-1",
    )
    assert (record.rpo, record.rto, record.status) == (done.rpo, done.rto, "successful")


def test_a_failed_step_fails_the_recovery_and_its_retry_takes_its_place(world, lost):
    scope = Scope(world.alice)
    first = recovery.start_recovery(scope, world.acme, lost.id, "Seattle", "101", confirmed=True)
    _through(first, "provision")
    restore = all_runs()[-1]
    end_run(restore, RunStatus.FAILED)
    failed = recovery.recovery(scope, world.acme, first.id)
    assert failed.status == "failed" and failed.steps[1].run.id == restore.id and failed.rto is None
    assert failed.steps[2].run is None

    retry = runs.retry_run(scope, restore.id)
    assert retry.follows_id == first.id
    _through(retry, "domain")
    done = recovery.recovery(scope, world.acme, first.id)
    assert done.status == "successful" and done.steps[1].run.id == retry.id


def test_other_runs_and_other_tenants_are_not_recoveries(world, lost):
    first = recovery.start_recovery(Scope(world.alice), world.acme, lost.id, "Seattle", "101", confirmed=True)
    site = runs.submit_run(Scope(world.alice), world.acme, "site")
    with pytest.raises(NotFound):
        recovery.recovery(Scope(world.alice), world.acme, site.id)
    with pytest.raises(NotFound):  # globex's member, even naming acme
        recovery.recovery(Scope(world.bob), world.acme, first.id)
    with pytest.raises(NotFound):
        recovery.recovery(Scope(world.admin), world.globex, first.id)


def _bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}


def test_the_api_starts_a_recovery_with_the_pages_checks_and_follows_its_steps(client, world, lost):
    alice, url = _bearer(world.alice), "/api/v1/tenants/acme/recoveries"
    body = {"server_id": lost.id, "location": "Seattle", "plan": "101"}
    unconfirmed = client.post(url, json=body, headers=alice)
    assert unconfirmed.status_code == 400 and "Confirm" in unconfirmed.get_json()["error"]
    assert (
        client.post(url, json={**body, "location": "Mars", "confirm": True}, headers=alice).status_code == 400
    )
    other = db.session.scalar(select(Server.id).where(Server.name == "mf-globex-1"))
    assert (
        client.post(url, json={**body, "server_id": other, "confirm": True}, headers=alice).status_code == 404
    )
    assert client.post(url, json={**body, "confirm": True}, headers=_bearer(world.bob)).status_code == 404
    early = client.post(url, json={**body, "before": "2026-12-01 09:00:00", "confirm": True}, headers=alice)
    assert early.status_code == 400 and "no snapshot at or before" in early.get_json()["error"]
    assert all_runs() == []

    started = client.post(
        url, json={**body, "confirm": True}, headers={**alice, "Idempotency-Key": "recover-api-1"}
    )
    assert started.status_code == 202
    got = started.get_json()
    assert (got["status"], got["lost_server"], got["new_server"]) == ("running", "mf-acme-1", "mf-acme-2")
    assert [(s["key"], s["run"]["status"] if s["run"] else None) for s in got["steps"]] == [
        ("provision", "queued"),
        ("recover", None),
        ("restore_check", None),
        ("domain", None),
    ]
    again = client.post(
        url, json={**body, "confirm": True}, headers={**alice, "Idempotency-Key": "recover-api-1"}
    )
    assert again.get_json()["id"] == got["id"] and len(all_runs()) == 1
    site = runs.submit_run(Scope(world.alice), world.acme, "site", submission_key="site-api-1")
    reused = client.post(
        url, json={**body, "confirm": True}, headers={**alice, "Idempotency-Key": "site-api-1"}
    )
    assert reused.status_code == 409 and f"already used for run {site.id}" in reused.get_json()["error"]
    assert len(all_runs()) == 2  # the recovery's and the site run's; nothing ordered

    _through(all_runs()[0], "domain")
    done = client.get(f"{url}/{got['id']}", headers=alice).get_json()
    assert done["status"] == "successful" and done["rto_seconds"] is not None and done["rpo_seconds"] > 0
    assert [s["run"]["status"] for s in done["steps"]] == ["successful"] * 4
    assert [r["id"] for r in client.get(url, headers=alice).get_json()] == [got["id"]]
    assert client.get(url, headers=_bearer(world.bob)).status_code == 404
    assert (
        client.get(f"/api/v1/tenants/globex/recoveries/{got['id']}", headers=_bearer(world.bob)).status_code
        == 404
    )
    [listed] = client.get("/api/v1/backups/tenants/acme/restores", headers=alice).get_json()["restores"]
    assert (listed["kind"], listed["run_id"], listed["rto_seconds"]) == (
        "recovery",
        got["id"],
        done["rto_seconds"],
    )


def test_the_tenant_page_lists_a_recovery_among_the_restores(client, world, lost):
    from webapp.testing import TEST_PASSWORD, login

    first = recovery.start_recovery(Scope(world.alice), world.acme, lost.id, "Seattle", "101", confirmed=True)
    _through(first, "domain")
    login(client, world.alice.email, TEST_PASSWORD)
    page = client.get("/tenants/acme").get_data(as_text=True)
    row = page[page.index('id="restores"') :].split("</tr>", 2)[1]
    assert 'data-field="kind">recovery<' in row and "mf-acme-2" in row and "successful" in row
    assert row.split('data-field="rto"')[1].split("</td>")[0] != ">—"


def test_a_tenant_at_its_server_limit_recovers_but_orders_nothing_else(world, lost):
    scope = Scope(world.alice)
    price = quotas.plan_price("101")
    lost.monthly_price = price
    world.acme.max_servers, world.acme.max_monthly_spend = 1, price
    db.session.commit()
    with pytest.raises(Forbidden, match="at most 1 server"):
        fleet.provision_server(scope, world.acme, "Seattle", "101", "mail2.acme.test")
    first = recovery.start_recovery(scope, world.acme, lost.id, "Seattle", "101", confirmed=True)
    assert first.catalogue_key == "provision"
    # The lost server counts again for any other order until it is deprovisioned.
    with pytest.raises(Forbidden, match="at most 1 server"):
        fleet.provision_server(scope, world.acme, "Seattle", "101", "mail3.acme.test")
    world.acme.max_servers = 3  # the lost server and its replacement, and one more
    db.session.commit()
    with pytest.raises(Forbidden, match="may spend at most"):
        fleet.provision_server(scope, world.acme, "Seattle", "101", "mail3.acme.test")
    assert len(all_runs()) == 1


def test_a_replacement_over_the_limit_without_the_lost_server_is_refused(world, lost):
    world.acme.max_servers = 1
    db.session.add(
        Server(
            tenant_id=world.acme.id,
            name="mf-acme-3",
            mail_hostname="mail3.acme.test",
            status=ServerStatus.ACTIVE,
        )
    )
    db.session.commit()
    with pytest.raises(Forbidden, match="at most 1 server"):
        recovery.start_recovery(Scope(world.alice), world.acme, lost.id, "Seattle", "101", confirmed=True)
    assert all_runs() == []


def test_the_recovery_page_explains_the_limits(client, world, lost):
    from webapp.testing import TEST_PASSWORD, login

    login(client, world.alice.email, TEST_PASSWORD)
    page = client.get(f"/tenants/acme/recover?server_id={lost.id}").get_data(as_text=True)
    limits = page.split('id="recover-limits"', 1)[1].split("</p>", 1)[0]
    assert "takes the lost server's place" in limits and "counts again" in limits


def test_a_recovery_can_restore_from_the_copy_in_another_region(app, world, lost, tmp_path):
    """The lost server's region is gone: the restore reads its copy (restore.yml restore_from_copy);
    a server with no copy in another region is refused, nothing ordered."""
    site = tmp_path / "site-vars.yml"
    site.write_text("mailfleet_backup_regions:\n  mars: {type: sftp, host: backup.eu.example.net}\n")
    app.config["MAILFLEET_SITE_VARS_FILE"] = str(site)
    servers = db.session.scalar(select(func.count()).select_from(Server))
    with pytest.raises(InvalidInput, match="backup storage configuration: .*unknown region 'mars'"):
        recovery.start_recovery(Scope(world.alice), world.acme, lost.id, "Seattle", "101", from_copy=True,
                                confirmed=True)
    site.write_text("mailfleet_backup_regions:\n  eu: {type: sftp, host: backup.eu.example.net}\n")
    with pytest.raises(InvalidInput, match="mf-acme-1 has no backup copy in another region: its location"):
        recovery.start_recovery(Scope(world.alice), world.acme, lost.id, "Seattle", "101", from_copy=True,
                                confirmed=True)
    assert db.session.scalar(select(func.count()).select_from(Server)) == servers and all_runs() == []

    lost.location = "Seattle"  # the US: its copy goes to Europe
    db.session.commit()
    provision = recovery.start_recovery(
        Scope(world.alice), world.acme, lost.id, "Dallas", "101", from_copy=True, confirmed=True
    )
    assert provision.extravars["recover_from_copy"] is True
    _provisioned(provision)
    restore = all_runs()[-1]
    assert (restore.catalogue_key, restore.limit) == ("recover", "mf-acme-2")
    assert restore.extravars == {"restore_from_host": "mf-acme-1", "restore_from_copy": True}
