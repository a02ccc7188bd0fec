"""Disaster recovery on a real database and the Hostwinds double: one request orders the new server,
and each finished step submits the next through the hook that follows every run (provision, then
the restore of the lost server's latest snapshot onto the new one, then the check of the restored
data, and only then the DNS switch: the domains move and the domain run republishes them from the
new server). A failed step switches nothing; bad input changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mailfleet.clock import utcnow
from webapp.errors import Conflict, InvalidInput, NotFound
from webapp.extensions import db
from webapp.models import Domain, DomainStatus, Run, RunEvent, RunStatus, Server, ServerBackup, ServerStatus
from webapp.services import recovery
from webapp.services.lifecycle import note_run_finished
from webapp.services.scope import Scope

pytestmark = pytest.mark.unit

SNAPSHOT = "5" * 64


@pytest.fixture
def lost(world, hostwinds):
    """acme's mf-acme-1 with its domain and one snapshot reported; globex's mf-globex-1."""
    server = Server(
        tenant_id=world.acme.id,
        name="mf-acme-1",
        mail_hostname="mail.acme.test",
        public_ipv4="198.19.0.10",
        status=ServerStatus.ACTIVE,
    )
    other = Server(
        tenant_id=world.globex.id,
        name="mf-globex-1",
        mail_hostname="mail.globex.test",
        public_ipv4="198.19.0.11",
        status=ServerStatus.ACTIVE,
    )
    db.session.add_all([server, other])
    db.session.flush()
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


def _runs() -> list[Run]:
    db.session.expire_all()
    return list(db.session.scalars(select(Run).order_by(Run.id)))


def _ended(run: Run, status: RunStatus = RunStatus.SUCCESSFUL) -> None:
    """The worker's end of a run: its status, then the hook."""
    run.status, run.finished_at = status, utcnow()
    db.session.commit()
    note_run_finished(run.id)


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
    _ended(run)
    return new


def test_restore_then_check_then_dns_each_after_the_last_succeeded(world, lost):
    provision = recovery.start_recovery(Scope(world.alice), world.acme, lost.id, "Seattle", "101")
    assert (provision.catalogue_key, provision.extravars["recover_from_host"]) == ("provision", "mf-acme-1")
    new = db.session.scalar(select(Server).where(Server.name == "mf-acme-2"))
    assert (new.status, new.mail_hostname) == (ServerStatus.REQUESTED, "mail.acme.test")

    _provisioned(provision)
    restore = _runs()[-1]
    assert (restore.catalogue_key, restore.playbook, restore.limit) == ("recover", "restore.yml", "mf-acme-2")
    assert restore.extravars == {"restore_from_host": "mf-acme-1"}  # the latest snapshot

    _restored(restore, "mf-acme-2")
    _ended(restore)
    check = _runs()[-1]
    assert (check.catalogue_key, check.playbook, check.limit) == (
        "restore_check",
        "restore_check.yml",
        "mf-acme-2",
    )
    assert check.extravars == {"restore_snapshot_id": SNAPSHOT, "restore_from_host": "mf-acme-1"}
    # Until the check passed, DNS stays with the lost server: its domain, no domain run.
    assert db.session.scalar(select(Domain.server_id).where(Domain.name == "acme.test")) == lost.id
    assert "domain" not in [r.catalogue_key for r in _runs()]

    _ended(check)
    publish = _runs()[-1]
    assert (publish.catalogue_key, publish.limit) == ("domain", "mf-acme-2")
    assert publish.extravars == {"mailfleet_domains": ["acme.test"]}
    assert db.session.scalar(select(Domain.server_id).where(Domain.name == "acme.test")) == new.id
    assert db.session.get(Server, lost.id).status == ServerStatus.ERROR  # no run addresses it any more
    assert len(_runs()) == 4


@pytest.mark.parametrize("failing", ["provision", "recover", "restore_check"])
def test_a_failed_step_ends_the_recovery_with_dns_on_the_lost_server(world, lost, failing):
    run = recovery.start_recovery(Scope(world.alice), world.acme, lost.id, "Seattle", "101")
    while run.catalogue_key != failing:
        if run.catalogue_key == "provision":
            _provisioned(run)
        else:
            _restored(run, "mf-acme-2")
            _ended(run)
        run = _runs()[-1]
    _ended(run, RunStatus.FAILED)
    assert _runs()[-1].id == run.id  # nothing follows
    assert db.session.scalar(select(Domain.server_id).where(Domain.name == "acme.test")) == lost.id
    assert db.session.get(Server, lost.id).status == ServerStatus.ACTIVE


def test_bad_requests_are_refused_and_change_nothing(world, lost):
    scope = Scope(world.alice)
    other = db.session.scalar(select(Server).where(Server.name == "mf-globex-1"))
    with pytest.raises(NotFound):  # another tenant's server, as a missing one
        recovery.start_recovery(scope, world.acme, other.id, "Seattle", "101")
    with pytest.raises(InvalidInput, match="location"):
        recovery.start_recovery(scope, world.acme, lost.id, "Mars", "101")
    db.session.get(ServerBackup, lost.id).status = {"repository": {"snapshots": []}}
    db.session.commit()
    with pytest.raises(InvalidInput, match="mf-acme-1 has no backup snapshot yet"):
        recovery.start_recovery(scope, world.acme, lost.id, "Seattle", "101")
    lost.status = ServerStatus.GONE
    db.session.commit()
    with pytest.raises(Conflict, match="mf-acme-1 is gone"):
        recovery.start_recovery(scope, world.acme, lost.id, "Seattle", "101")
    assert _runs() == []
    assert db.session.scalar(select(func.count()).select_from(Server)) == 2


def test_the_recovery_page_starts_it_from_the_restore_page(client, world, lost):
    from webapp.testing import TEST_PASSWORD, csrf_token, login

    login(client, world.alice.email, TEST_PASSWORD)
    restore_page = client.get(f"/tenants/acme/actions/restore?server_id={lost.id}").get_data(as_text=True)
    link = restore_page.split('id="recover-link"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    page = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert (
        "only once the one before succeeded" in page
        and f'<option selected value="{lost.id}">mf-acme-1' in page
    )
    url = "/tenants/acme/recover"
    form = {
        "csrf_token": csrf_token(client, url),
        "server_id": lost.id,
        "location": "Seattle",
        "plan": "101",
        "submission_key": "recover-0001",
    }
    unticked = client.post(url, data=form, follow_redirects=True).get_data(as_text=True)
    assert "Tick the box" in unticked and _runs() == []
    elsewhere = client.post(url, data={**form, "location": "Mars", "confirm": "y"}, follow_redirects=True)
    assert 'class="flash error"' in elsewhere.get_data(as_text=True) and _runs() == []
    response = client.post(url, data={**form, "confirm": "y"})
    assert response.status_code == 302
    [run] = _runs()
    assert response.headers["Location"] == f"/runs/{run.id}"
    assert (run.catalogue_key, run.extravars["recover_from_host"]) == ("provision", "mf-acme-1")
