"""Back up now, restore and key rotation as actions: a confirmation page, then a run of the right
playbook with validated choices only, on the tenant's own servers (pages and API)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Run, Server, ServerStatus
from webapp.services import accounts, actions
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, csrf_token, login

pytestmark = pytest.mark.unit


@pytest.fixture
def fleet(world):
    def server(tenant, name, status=ServerStatus.ACTIVE, ip="198.18.12.10"):
        row = Server(tenant_id=tenant.id, name=name, public_ipv4=ip, status=status)
        db.session.add(row)
        return row

    servers = {
        "acme1": server(world.acme, "mf-acme-1"),
        "acme2": server(world.acme, "mf-acme-2", ip="198.18.12.11"),
        "acme_gone": server(world.acme, "mf-acme-3", ServerStatus.GONE, None),
        "globex1": server(world.globex, "mf-globex-1", ip="198.18.12.20"),
    }
    db.session.commit()
    return servers


def run_count() -> int:
    return db.session.execute(select(func.count()).select_from(Run)).scalar_one()


def confirm_and_post(client, slug, key, **fields):
    page = client.get(f"/tenants/{slug}/actions/{key}")
    token = csrf_token(client, f"/tenants/{slug}/actions/{key}")
    data = {"csrf_token": token, "submission_key": fields.pop("submission_key", "k" * 16), **fields}
    return page, client.post(f"/tenants/{slug}/actions/{key}", data=data)


def test_tenant_and_servers_pages_offer_the_actions(client, world, fleet):
    login(client, world.alice.email, TEST_PASSWORD)
    page = client.get("/tenants/acme").get_data(as_text=True)
    block = page[page.index('id="actions"') :]
    for key in ("backup", "restore", "rotate_ssh_key", "rotate_mailu_token"):
        assert f"/tenants/acme/actions/{key}" in block
    assert "mf-acme-1" in block and "mf-acme-3" not in block.split("</select>")[0]  # gone: not a target
    servers = client.get("/servers").get_data(as_text=True)
    backup_link, restore_link = (
        f"/tenants/acme/actions/{k}?server_id={fleet['acme2'].id}" for k in ("backup", "restore")
    )
    assert backup_link in servers and restore_link in servers
    assert f"server_id={fleet['acme_gone'].id}" not in servers
    confirm = client.get(backup_link).get_data(as_text=True)
    assert f'<option selected value="{fleet["acme2"].id}">mf-acme-2</option>' in confirm


def test_backup_now_is_confirmed_then_runs_backup_yml_on_that_server(client, world, fleet):
    login(client, world.alice.email, TEST_PASSWORD)
    page, response = confirm_and_post(client, "acme", "backup", server_id=fleet["acme2"].id)
    assert "restic snapshot" in page.get_data(as_text=True) and run_count() == 1
    run = db.session.execute(select(Run)).scalar_one()
    assert response.headers["Location"] == f"/runs/{run.id}"
    assert (run.playbook, run.limit, run.extravars) == ("backup.yml", "mf-acme-2", {})


def test_restore_takes_a_time_and_a_source_and_needs_the_tick(client, world, fleet):
    login(client, world.alice.email, TEST_PASSWORD)
    choices = {
        "server_id": fleet["acme1"].id,
        "source_server_id": fleet["acme_gone"].id,
        "restore_before": "2026-11-25T14:00",
    }
    _, unticked = confirm_and_post(client, "acme", "restore", **choices)
    assert unticked.status_code == 302 and run_count() == 0
    _, response = confirm_and_post(client, "acme", "restore", confirm="y", **choices)
    run = db.session.execute(select(Run)).scalar_one()
    assert response.headers["Location"] == f"/runs/{run.id}"
    assert run.playbook == "restore.yml" and run.limit == "mf-acme-1"
    assert run.extravars == {"restore_before": "2026-11-25 14:00:00", "restore_from_host": "mf-acme-3"}
    # The latest snapshot: no restore_before at all (restore.yml's default; an empty one fails its check).
    latest = actions.start_action(Scope(world.alice), world.acme, "restore", server_id=fleet["acme1"].id)
    assert latest.extravars == {"restore_from_host": "mf-acme-1"}


@pytest.mark.parametrize(
    "before, message",
    [
        ("yesterday", "YYYY-MM-DD HH:MM:SS"),
        ("2999-01-01 00:00:00", "in the future"),
        ("2026-01-01 00:00:00{{ lookup('pipe','id') }}", "YYYY-MM-DD HH:MM:SS"),
    ],
)
def test_restore_refuses_a_bad_time_and_changes_nothing(client, world, fleet, before, message):
    login(client, world.alice.email, TEST_PASSWORD)
    _, response = confirm_and_post(
        client, "acme", "restore", server_id=fleet["acme1"].id, restore_before=before, confirm="y"
    )
    assert response.status_code == 302 and run_count() == 0
    assert message in client.get(response.headers["Location"]).get_data(as_text=True)


def test_rotations_address_every_server_of_the_tenant(client, world, fleet):
    login(client, world.alice.email, TEST_PASSWORD)
    page, _ = confirm_and_post(client, "acme", "rotate_ssh_key")
    assert "mf-acme-1, mf-acme-2" in page.get_data(as_text=True)
    _, _ = confirm_and_post(client, "acme", "rotate_mailu_token", submission_key="m" * 16)
    ssh, mailu = db.session.execute(select(Run).order_by(Run.id)).scalars()
    assert (ssh.playbook, ssh.limit) == ("rotate_ssh_key.yml", None)
    assert ssh.extravars == {"tenant": "acme", "rotate_ssh_key_hosts": "mailfleet_servers"}
    assert mailu.extravars == {"tenant": "acme", "rotate_mailu_token_hosts": "mailfleet_servers"}


def test_a_tenant_cannot_act_on_another_tenants_servers(client, world, fleet):
    login(client, world.bob.email, TEST_PASSWORD)
    assert client.get("/tenants/acme/actions/backup").status_code == 404
    token = csrf_token(client, "/tenants/globex/actions/backup")
    other = {"csrf_token": token, "submission_key": "b" * 16, "server_id": fleet["acme1"].id}
    assert client.post("/tenants/acme/actions/backup", data=other).status_code == 404
    # Through their own tenant's form, with acme's server as target or as restore source.
    response = client.post("/tenants/globex/actions/backup", data=other)
    assert response.status_code == 302 and "not found" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    source = {
        **other,
        "server_id": fleet["globex1"].id,
        "source_server_id": fleet["acme1"].id,
        "confirm": "y",
    }
    client.post("/tenants/globex/actions/restore", data=source)
    assert run_count() == 0

    bob = {"Authorization": f"Bearer {accounts.issue_api_token(world.bob)}"}
    for slug, body in (
        ("acme", {"server_id": fleet["acme1"].id}),
        ("globex", {"server_id": fleet["acme1"].id}),
        ("globex", {"server_id": fleet["globex1"].id, "source_server_id": fleet["acme1"].id}),
    ):
        key = "restore" if "source_server_id" in body else "backup"
        assert client.post(f"/api/v1/tenants/{slug}/actions/{key}", json=body, headers=bob).status_code == 404
    assert client.post("/api/v1/tenants/acme/actions/rotate_ssh_key", json={}, headers=bob).status_code == 404
    assert run_count() == 0


def test_an_admin_cannot_restore_onto_or_from_another_tenants_server(as_admin, world, fleet):
    """An administrator sees every tenant's servers: the refusal names the server and its tenant."""
    acme1, globex1 = fleet["acme1"], fleet["globex1"]
    onto = {"server_id": globex1.id, "source_server_id": acme1.id, "confirm": "y"}
    _, response = confirm_and_post(as_admin, "acme", "restore", **onto)
    page = as_admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "mf-globex-1 is a server of globex, not of acme" in page
    api = {"Authorization": f"Bearer {accounts.issue_api_token(world.admin)}"}
    for slug, body in (
        ("acme", {"server_id": globex1.id}),  # acme's backups onto globex's server
        ("globex", {"server_id": globex1.id, "source_server_id": acme1.id}),  # from acme's
    ):
        answer = as_admin.post(f"/api/v1/tenants/{slug}/actions/restore", json=body, headers=api)
        assert answer.status_code == 400, answer.get_json()
        assert "only within one tenant" in answer.get_json()["error"]
    assert run_count() == 0


def test_api_starts_actions_with_validated_input(client, world, fleet):
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}

    def post(key, body):
        return client.post(f"/api/v1/tenants/acme/actions/{key}", json=body, headers=alice)

    assert post("backup", {}).status_code == 400  # which server?
    assert post("backup", {"server_id": "1"}).status_code == 422  # not a number
    assert post("backup", {"server_id": fleet["acme_gone"].id}).status_code == 400  # not active
    assert (
        post("backup", {"server_id": fleet["acme1"].id, "before": "2026-01-01 00:00:00"}).status_code == 400
    )
    assert post("nuke", {"server_id": fleet["acme1"].id}).status_code == 404
    assert post("restore", {"server_id": fleet["acme1"].id, "before": "soon"}).status_code == 400
    assert run_count() == 0

    restored = post("restore", {"server_id": fleet["acme2"].id, "before": "2026-11-25 14:00:00"})
    assert restored.status_code == 202
    assert restored.get_json()["extravars"] == {
        "restore_before": "2026-11-25 14:00:00",
        "restore_from_host": "mf-acme-2",
    }
    rotated = post("rotate_mailu_token", {})
    assert rotated.status_code == 202 and rotated.get_json()["playbook"] == "rotate_mailu_token.yml"
    # The generic run endpoint does not take them (they need their own checks).
    assert (
        client.post("/api/v1/tenants/acme/runs", json={"playbook": "backup"}, headers=alice).status_code
        == 400
    )
