"""A restore drill on a throwaway server, on the testbed, through the session's control plane: a
tenant's server (provisioned by the control plane, not converged: the backup role alone, as site.yml
applies it, with mail data written into Mailu's folders) is backed up, then the drill orders a
throwaway server (the Hostwinds double boots a real testbed host), restores the server's latest
snapshot there from its local repository (read over SFTP from the server), checks it, and deletes
the throwaway server. What a user sees: the drill passed with its snapshot and times, the
throwaway server is gone (from the provider, the testbed and the tenant's servers), the server's
health check backup:drill is green from the drill, and the server itself still has its data. With
the repository unreadable (its keys gone), the next drill fails at its restore, its throwaway server
is deleted all the same, and backup:drill is an error (an alert)."""

from __future__ import annotations

import json
import time

import pytest
from roletest import run_playbook, write_inventory
from sqlalchemy import select
from test_backup import MANIFEST, PLAY, SEED

pytestmark = [pytest.mark.testbed, pytest.mark.timeout(1500)]

REPOSITORY = "/var/backups/restic"  # the role's local repository (the testbed's site settings)


def test_a_drill_restores_onto_a_throwaway_server_checks_it_and_deletes_it(testbed, control_plane, tmp_path):
    from controlplane import provision_tenant, scope_of_admin, work

    from mailfleet.clock import utcnow
    from mailfleet.monitoring import Status
    from webapp.extensions import db
    from webapp.models import Server, ServerBackup, ServerStatus
    from webapp.services import drills, runs

    app = control_plane["app"]
    made = provision_tenant(testbed, app, "dr", converge=False)
    tenant, source, host = made.tenant, db.session.get(Server, made.server_id), made.host
    try:
        started = time.monotonic()
        play = tmp_path / "play.yml"
        play.write_text(PLAY)
        inventory = write_inventory(tmp_path, [host], group_vars={"backup_tenant": tenant.slug})
        run_playbook(play, inventory).assert_ok()  # the role, with the plane's secrets store
        host.ssh(SEED)  # known mail data (the role installed sqlite3)
        before = host.ssh(MANIFEST).stdout
        scope = scope_of_admin()
        backup = runs.submit_run(scope, tenant, "backup", limit=source.name)
        work(app)
        db.session.refresh(backup)
        assert backup.status == "successful", runs.failure_summary(backup)
        # The snapshot as the health sweep records it from the host's status.
        latest = json.loads(host.ssh(f"/usr/local/sbin/mailfleet-backup pick '' {source.name}").stdout)
        db.session.merge(
            ServerBackup(
                server_id=source.id,
                collected_at=utcnow(),
                status={"last_success": latest["time"], "repository": {"snapshots": [latest]}},
            )
        )
        db.session.commit()
        prepared = time.monotonic()

        first = drills.start_drill(scope, tenant, source.id)
        work(app)
        drill = drills.drill(scope, tenant, first.id)
        ran = {step.key: (step.run.status if step.run else None) for step in drill.steps}
        assert drill.status == "passed", (ran, drill.problem)
        assert drill.torn_down and ran == dict.fromkeys(ran, "successful")
        assert drill.snapshot_id == latest["id"] and drill.rpo is not None and drill.rto is not None
        throwaway = db.session.scalar(select(Server).where(Server.name == drill.host))
        assert throwaway.status == ServerStatus.GONE and throwaway.drill_of_id == source.id
        assert drill.host not in testbed.state.read()["hosts"]
        # The server itself: still its data (and no longer the throwaway server's backup key, which
        # read its repository), and its backup:drill green from the drill.
        assert host.ssh(MANIFEST).stdout == before
        assert f"mailfleet-backup@{drill.host}" not in host.ssh("cat /root/.ssh/authorized_keys").stdout
        [check] = [
            r
            for r in drills.drill_results([], [source.name], drills.UNFINISHED_AFTER * 60, utcnow())
            if r.check == "backup:drill"
        ]
        assert check.status == Status.OK, check.detail
        steps = ", ".join(
            f"{s.key} {(s.run.finished_at - s.run.created_at).total_seconds():.0f} s"
            for s in drill.steps
            if s.run is not None
        )
        drilled = time.monotonic() - prepared
        print(f"\nthrowaway drill: prepared in {prepared - started:.0f} s, drill {drilled:.0f} s; {steps}")

        # The repository's keys gone (unreadable): the next drill fails at its restore, its
        # throwaway server is deleted all the same, and the server's backup:drill is an error. (Its
        # data gone instead, restic retries each missing pack for minutes before it gives up.)
        host.ssh(f"mv {REPOSITORY}/keys {REPOSITORY}/keys.away")
        try:
            second = drills.start_drill(scope, tenant, source.id)
            work(app)
        finally:
            host.ssh(f"rm -rf {REPOSITORY}/keys && mv {REPOSITORY}/keys.away {REPOSITORY}/keys")
        failed = drills.drill(scope, tenant, second.id)
        assert failed.status == "failed" and failed.failed_step.key == "drill_restore", failed.problem
        assert failed.torn_down and failed.host != drill.host
        assert db.session.scalar(select(Server.status).where(Server.name == failed.host)) == ServerStatus.GONE
        assert failed.host not in testbed.state.read()["hosts"]
        [alert] = [
            r
            for r in drills.drill_results([], [source.name], drills.UNFINISHED_AFTER * 60, utcnow())
            if r.check == "backup:drill"
        ]
        assert alert.status == Status.ERROR and "restore of the latest snapshot failed" in alert.detail
        took = ", ".join(
            f"{s.key} {(s.run.finished_at - s.run.created_at).total_seconds():.0f} s"
            for s in failed.steps
            if s.run is not None
        )
        print(f"failed drill: {took}")
    finally:
        left = db.session.scalars(select(Server.name).where(Server.drill_of_id == source.id))
        for name in (source.name, *left):
            if name in testbed.state.read()["hosts"]:
                testbed.stop_host(name)
