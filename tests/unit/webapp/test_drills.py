"""Restore drills on a throwaway server, on a real database and the Hostwinds double: one request
orders a throwaway server (never a mail server's name, in no limit), and each finished step submits
the next through the hook that follows every run (the restore of the source server's latest
snapshot there, then the check of the restored data), and the server is deleted at the end,
whichever step failed. DNS and the source server are never touched. The drill reads back with its
outcome and times, and a failed or unfinished one is the source server's health check
backup:drill. Bad input changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from jobs.inventory import tenant_inventory
from mailfleet.clock import utcnow
from mailfleet.monitoring import CheckResult, Status
from webapp.errors import Conflict, Forbidden, InvalidInput, NotFound
from webapp.extensions import db
from webapp.models import Domain, DomainStatus, Run, RunEvent, RunStatus, Server, ServerBackup, ServerStatus
from webapp.services import drills, fleet
from webapp.services.scope import Scope
from webapp.testing import all_runs, end_run

pytestmark = pytest.mark.unit

SNAPSHOT = "7" * 64
SNAPSHOT_TIME = "2026-12-01T10:00:00Z"
MAX_AGE = timedelta(days=45)


@pytest.fixture
def source(world, hostwinds, add_server):
    """acme's mf-acme-1 in Dallas with its domain and one snapshot reported; globex's mf-globex-1."""
    server = add_server(
        world.acme, "mf-acme-1", "198.19.0.10", mail_hostname="mail.acme.test", location="Dallas"
    )
    add_server(world.globex, "mf-globex-1", "198.19.0.11", mail_hostname="mail.globex.test")
    db.session.add(
        Domain(tenant_id=world.acme.id, server_id=server.id, name="acme.test", status=DomainStatus.ACTIVE)
    )
    snapshots = [{"id": SNAPSHOT, "short_id": SNAPSHOT[:8], "time": SNAPSHOT_TIME}]
    db.session.add(
        ServerBackup(
            server_id=server.id,
            collected_at=utcnow(),
            status={"last_success": SNAPSHOT_TIME, "repository": {"snapshots": snapshots}},
        )
    )
    db.session.commit()
    return server


def _restored(run: Run) -> None:
    """restore.yml's set_stats for the throwaway server, as the runner's stats event carries it."""
    report = {"snapshot_id": SNAPSHOT, "source": "mf-acme-1", "snapshot_time": SNAPSHOT_TIME}
    data = {"artifact_data": {"mailfleet_restore": {run.limit: report}}}
    db.session.add(RunEvent(run_id=run.id, counter=1, event="playbook_on_stats", event_data=data))
    db.session.commit()


def _provisioned(run: Run) -> Server:
    """provision.yml succeeded: the provider's address is known (the inventory refresh)."""
    host = db.session.scalar(select(Server).where(Server.name == run.extravars["server_name"]))
    host.public_ipv4, host.status = "198.19.0.50", ServerStatus.ACTIVE
    end_run(run)
    return host


def _through(run: Run, last: str) -> Run:
    """Each step succeeds up to and including `last`; the run of `last`."""
    while True:
        if run.catalogue_key == drills.PROVISION:
            _provisioned(run)
        else:
            if run.catalogue_key == drills.RESTORE:
                _restored(run)
            end_run(run)
        if run.catalogue_key == last:
            return run
        run = all_runs()[-1]


def test_a_drill_orders_a_throwaway_server_restores_checks_and_deletes_it(world, source):
    first = drills.start_drill(Scope(world.alice), world.acme, source.id)
    host = db.session.scalar(select(Server).where(Server.drill_of_id == source.id))
    # A name no mail server has, in the source's location, on the cheapest plan; its PTR nowhere.
    assert (host.name, host.status, host.location, host.mail_hostname) == (
        "drill-acme-1",
        ServerStatus.REQUESTED,
        "Dallas",
        None,
    )
    assert (first.catalogue_key, first.playbook) == ("drill_provision", "provision.yml")
    assert first.extravars["server_name"] == "drill-acme-1"
    assert first.extravars["mail_hostname"] == "drill-acme-1.invalid"
    assert first.extravars["drill_of_host"] == "mf-acme-1" and "recover_from_host" not in first.extravars

    _provisioned(first)
    restore = all_runs()[-1]
    assert (restore.catalogue_key, restore.playbook, restore.limit) == (
        "drill_restore",
        "restore.yml",
        host.name,
    )
    assert restore.extravars == {"restore_from_host": "mf-acme-1"}  # the latest snapshot

    _restored(restore)
    end_run(restore)
    check = all_runs()[-1]
    assert (check.catalogue_key, check.playbook, check.limit) == (
        "drill_check",
        "restore_check.yml",
        host.name,
    )
    assert check.extravars == {"restore_snapshot_id": SNAPSHOT, "restore_from_host": "mf-acme-1"}

    end_run(check)
    teardown = all_runs()[-1]
    assert (teardown.catalogue_key, teardown.playbook, teardown.limit) == (
        "drill_teardown",
        "deprovision.yml",
        None,
    )
    assert teardown.extravars == {
        "mailfleet_tenant": "acme",
        "mailfleet_provider": "hostwinds",
        "server_index": 1,
        "server_name": "drill-acme-1",
        "deprovision_dns_host": False,  # and no domain: DNS is not touched
        "deprovision_revoke_backup_key_on": source.name,  # its backup key goes with it
    }
    assert db.session.get(Server, host.id).status == ServerStatus.DEPROVISIONING
    end_run(teardown)
    assert db.session.get(Server, host.id).status == ServerStatus.GONE
    # The source server and its domain are as they were; no DNS run was ever submitted.
    assert db.session.get(Server, source.id).status == ServerStatus.ACTIVE
    assert db.session.scalar(select(Domain.server_id).where(Domain.name == "acme.test")) == source.id
    assert [r.catalogue_key for r in all_runs()] == [
        "drill_provision",
        "drill_restore",
        "drill_check",
        "drill_teardown",
    ]

    [drill] = drills.drills(Scope(world.alice), world.acme)
    assert (drill.status, drill.torn_down, drill.source, drill.host, drill.problem) == (
        "passed",
        True,
        "mf-acme-1",
        "drill-acme-1",
        None,
    )
    assert drill.snapshot_id == SNAPSHOT and drill.rpo == first.created_at - drill.snapshot_time
    assert drill.rto == check.finished_at - first.created_at


@pytest.mark.parametrize("failing", ["drill_provision", "drill_restore", "drill_check"])
def test_a_failed_step_still_deletes_the_throwaway_server_and_fails_the_drill(world, source, failing):
    run = drills.start_drill(Scope(world.alice), world.acme, source.id)
    while run.catalogue_key != failing:
        _through(run, run.catalogue_key)
        run = all_runs()[-1]
    end_run(run, RunStatus.FAILED)
    teardown = all_runs()[-1]
    assert (teardown.catalogue_key, teardown.follows_id) == ("drill_teardown", run.id)
    end_run(teardown)
    assert all_runs()[-1].id == teardown.id  # nothing follows the teardown
    host = db.session.scalar(select(Server).where(Server.drill_of_id == source.id))
    assert host.status == ServerStatus.GONE
    [drill] = drills.drills(Scope(world.alice), world.acme)
    assert drill.status == "failed" and drill.torn_down and drill.rto is None
    assert drill.failed_step.key == failing and "failed" in drill.problem


def test_a_restore_that_reported_no_snapshot_is_not_checked_and_the_server_goes(world, source):
    first = drills.start_drill(Scope(world.alice), world.acme, source.id)
    restore = _through(first, "drill_provision") and all_runs()[-1]
    end_run(restore)  # successful, but no snapshot reported
    assert all_runs()[-1].catalogue_key == "drill_teardown"
    [drill] = drills.drills(Scope(world.alice), world.acme)
    assert drill.status == "failed" and drill.problem == "the restore reported no snapshot"


def test_a_throwaway_server_is_in_no_limit_no_sweep_and_only_its_own_runs_inventory(
    world, source, add_server
):
    world.acme.max_servers = 1  # mf-acme-1 alone fills it
    db.session.commit()
    first = drills.start_drill(Scope.system(), world.acme, source.id)
    host = _provisioned(first)
    with pytest.raises(Forbidden, match="has 1"):  # the throwaway server is not counted
        fleet.provision_server(Scope(world.alice), world.acme, "Dallas", "101", "mail2.acme.test")
    from jobs.health import targets

    assert [t.name for t in targets()] == ["mf-acme-1", "mf-globex-1"]

    def hosts(limit):
        return set(tenant_inventory(world.acme, limit)["all"]["children"]["mailfleet_servers"]["hosts"])

    assert hosts(None) == {"mf-acme-1"}  # a run of the tenant's servers never reaches it
    assert hosts(host.name) == {"mf-acme-1", "drill-acme-1"}  # the drill's steps (and the source)


def test_bad_requests_are_refused_and_change_nothing(world, source):
    scope = Scope(world.alice)
    other = db.session.scalar(select(Server).where(Server.name == "mf-globex-1"))
    with pytest.raises(NotFound):  # another tenant's server, to its member, as a missing one
        drills.start_drill(scope, world.acme, other.id)
    with pytest.raises(InvalidInput, match="mf-globex-1 is a server of globex, not of acme"):
        drills.start_drill(Scope(world.admin), world.acme, other.id)
    with pytest.raises(NotFound):
        drills.start_drill(Scope(world.bob), world.acme, source.id)
    db.session.get(ServerBackup, source.id).status = {"repository": {"snapshots": []}}
    db.session.commit()
    with pytest.raises(InvalidInput, match="mf-acme-1 has no backup snapshot yet"):
        drills.start_drill(scope, world.acme, source.id)
    db.session.delete(db.session.get(ServerBackup, source.id))
    db.session.commit()
    with pytest.raises(InvalidInput, match="mf-acme-1 has no backup snapshot yet"):
        drills.start_drill(scope, world.acme, source.id)
    source.status = ServerStatus.GONE
    db.session.commit()
    with pytest.raises(Conflict, match="mf-acme-1 is gone"):
        drills.start_drill(scope, world.acme, source.id)
    assert all_runs() == []
    assert db.session.scalar(select(func.count()).select_from(Server)) == 2


def test_one_drill_of_a_server_at_a_time(world, source):
    first = drills.start_drill(Scope(world.alice), world.acme, source.id)
    with pytest.raises(Conflict, match=f"under way \\(run {first.id}\\)"):
        drills.start_drill(Scope(world.alice), world.acme, source.id)
    host = db.session.scalar(select(Server).where(Server.drill_of_id == source.id))
    with pytest.raises(InvalidInput, match="drill-acme-1 is a restore drill's throwaway server"):
        drills.start_drill(Scope(world.alice), world.acme, host.id)
    _through(first, "drill_teardown")
    again = drills.start_drill(Scope(world.alice), world.acme, source.id)
    assert again.extravars["server_name"] == "drill-acme-2"  # names are never reused


def _drill_check(results: list[CheckResult], now=None) -> CheckResult:
    [found] = [
        r
        for r in drills.drill_results(results, ["mf-acme-1"], MAX_AGE, now or utcnow())
        if r.check == "backup:drill"
    ]
    return found


def test_a_failed_drill_is_the_source_servers_backup_drill_error_and_a_pass_clears_it(world, source):
    scratch_pass = CheckResult("mf-acme-1", "backup:drill", Status.OK, 1, "restore drill passed 1 d ago")
    first = drills.start_drill(Scope.system(), world.acme, source.id)
    assert _drill_check([scratch_pass]) is scratch_pass  # running: the scratch drill's result stands
    _through(first, "drill_provision")
    end_run(all_runs()[-1], RunStatus.FAILED)
    end_run(all_runs()[-1])  # the teardown
    failed = _drill_check([scratch_pass])
    assert failed.status == Status.ERROR
    assert (
        "the restore drill on drill-acme-1" in failed.detail
        and "restore of the latest snapshot failed" in failed.detail
    )

    second = drills.start_drill(Scope.system(), world.acme, source.id)
    _through(second, "drill_teardown")
    passed = _drill_check([scratch_pass])
    assert passed.status == Status.OK and "throwaway server passed" in passed.detail
    assert _drill_check([scratch_pass], utcnow() + MAX_AGE + timedelta(days=1)).status == Status.WARNING


def test_a_never_finished_drill_or_a_server_left_behind_alerts(world, source):
    first = drills.start_drill(Scope.system(), world.acme, source.id)
    _through(first, "drill_check")
    later = utcnow() + drills.UNFINISHED_AFTER + timedelta(minutes=1)
    unfinished = _drill_check([], later)  # the teardown never ran
    assert unfinished.status == Status.ERROR and "has not ended in 12 h" in unfinished.detail
    teardown = all_runs()[-1]
    end_run(teardown, RunStatus.FAILED)
    assert db.session.scalar(select(Server.status).where(Server.name == "drill-acme-1")) == ServerStatus.ERROR
    left = _drill_check([])
    assert left.status == Status.ERROR and "drill-acme-1 was not deleted" in left.detail
    assert f"retry run {teardown.id}" in left.detail


def test_a_newer_scratch_drill_keeps_its_own_result(world, source):
    first = drills.start_drill(Scope.system(), world.acme, source.id)
    _through(first, "drill_provision")
    end_run(all_runs()[-1], RunStatus.FAILED)
    end_run(all_runs()[-1])
    later = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    db.session.get(ServerBackup, source.id).status = {
        **db.session.get(ServerBackup, source.id).status,
        "drill": {"at": later, "ok": True},
    }
    db.session.commit()
    scratch = CheckResult("mf-acme-1", "backup:drill", Status.OK, 0, "restore drill passed 0 d ago")
    assert _drill_check([scratch]) is scratch


def test_the_scheduler_drills_each_backed_up_server_on_a_throwaway_server_when_asked(app, world, source):
    from jobs import drills as drill_jobs

    app.config["MAILFLEET_BACKUP_DRILL_TARGET"] = "host"
    due = drill_jobs.due_tenants(timedelta(days=30), utcnow())
    assert due == {world.acme.id}
    assert drill_jobs.start_host_drills(due) == {"tenants": 1, "drills": 1, "refused": 0}
    [run] = all_runs()
    assert (run.catalogue_key, run.extravars["drill_of_host"]) == ("drill_provision", "mf-acme-1")
    # A drill of either kind dates the tenant's last one.
    assert drill_jobs.due_tenants(timedelta(days=30), utcnow()) == set()
    assert drill_jobs.start_host_drills({world.acme.id}) == {"tenants": 1, "drills": 0, "refused": 1}


def _bearer(user) -> dict[str, str]:
    from webapp.services import accounts

    return {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}


def test_the_api_starts_a_drill_and_the_api_and_tenant_page_show_its_outcome(client, world, source):
    from webapp.testing import TEST_PASSWORD, login

    alice, url = _bearer(world.alice), "/api/v1/backups/tenants/acme/drills"
    other = db.session.scalar(select(Server.id).where(Server.name == "mf-globex-1"))
    assert client.post(url, json={"server_id": other}, headers=alice).status_code == 404
    assert client.post(url, json={"server_id": source.id}, headers=_bearer(world.bob)).status_code == 404
    assert client.post(url, json={}, headers=alice).status_code == 422
    assert all_runs() == []
    started = client.post(url, json={"server_id": source.id}, headers=alice)
    assert started.status_code == 202
    got = started.get_json()
    assert (got["status"], got["server"], got["throwaway_server"], got["deleted"]) == (
        "running",
        "mf-acme-1",
        "drill-acme-1",
        False,
    )
    assert client.post(url, json={"server_id": source.id}, headers=alice).status_code == 409

    _through(all_runs()[0], "drill_teardown")
    [done] = client.get(url, headers=alice).get_json()["drills"]
    assert (done["run_id"], done["status"], done["deleted"], done["snapshot_id"]) == (
        got["run_id"],
        "passed",
        True,
        SNAPSHOT,
    )
    assert done["rto_seconds"] is not None and done["rpo_seconds"] > 0
    assert [s["status"] for s in done["steps"]] == ["successful"] * 4
    assert client.get(url, headers=_bearer(world.bob)).status_code == 404

    login(client, world.alice.email, TEST_PASSWORD)
    page = client.get("/tenants/acme").get_data(as_text=True)
    row = page[page.index('id="drills"') :].split("</tr>", 2)[1]
    assert "drill-acme-1" in row and "passed" in row and 'data-field="deleted">yes<' in row
    assert row.split('data-field="rto"')[1].split("</td>")[0] != ">—"
