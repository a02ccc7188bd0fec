"""A submission key (the API's Idempotency-Key, the forms' hidden key) answers a repeat of the same
kind of request with its run; reused for another kind of request of the tenant, it is refused with
409 and nothing is written, instead of answering with the other request's run."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Domain, DomainStatus, Run, RunStatus, Server, ServerStatus
from webapp.services import accounts, runs, runstate
from webapp.services.scope import Scope

pytestmark = pytest.mark.unit

KEY = "shared-key-0001"


def _bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}


@pytest.fixture
def fleet(world, add_server):
    """acme's active server and its second domain (not the Mailu's main one)."""
    server = add_server(world.acme, "mf-acme-1", "198.18.17.10", mail_hostname="mail.acme-mail.example")
    domain = Domain(
        tenant_id=world.acme.id, server_id=server.id, name="second.example", status=DomainStatus.ACTIVE
    )
    db.session.add(domain)
    db.session.commit()
    return server, domain


def _requests(server: Server, domain: Domain, retried: Run) -> dict[str, tuple[str, str, dict]]:
    tenant = "/api/v1/tenants/acme"
    return {
        "order a server": ("POST", f"{tenant}/servers", {"plan": "101", "mail_hostname": "mx.acme.example"}),
        "an action": ("POST", f"{tenant}/actions/backup", {"server_id": server.id}),
        "an IP switch": ("POST", f"{tenant}/servers/{server.id}/switch-ip", {"confirm": server.name}),
        "a resize": ("POST", f"{tenant}/servers/{server.id}/resize", {"plan": "103", "confirm": server.name}),
        "a domain removal": ("DELETE", f"{tenant}/domains/{domain.id}", {"confirm": domain.name}),
        "a deprovisioning": ("DELETE", f"{tenant}/servers/{server.id}", {"confirm": server.name}),
        "a domain added": ("POST", f"{tenant}/domains", {"server_id": server.id, "name": "third.example"}),
        "a retry": ("POST", f"/api/v1/runs/{retried.id}/retry", {}),
        "a recovery": (
            "POST",
            f"{tenant}/recoveries",
            {"server_id": server.id, "location": "Seattle", "plan": "101", "confirm": True},
        ),
        "another playbook": ("POST", f"{tenant}/runs", {"playbook": "renew_certificates"}),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "order a server",
        "an action",
        "an IP switch",
        "a resize",
        "a domain removal",
        "a deprovisioning",
        "a domain added",
        "a retry",
        "a recovery",
        "another playbook",
    ],
)
def test_a_key_another_kind_of_request_used_is_refused_and_nothing_is_written(client, world, fleet, kind):
    server, domain = fleet
    alice = _bearer(world.alice)
    retried = runs.submit_run(Scope(world.alice), world.acme, "site")
    assert runstate.advance(retried.id, RunStatus.CANCELED)
    db.session.commit()
    first = client.post(
        "/api/v1/tenants/acme/runs", json={"playbook": "site"}, headers={**alice, "Idempotency-Key": KEY}
    )
    assert first.status_code == 202
    site = first.get_json()["id"]
    method, path, body = _requests(server, domain, retried)[kind]

    answer = client.open(path, method=method, json=body, headers={**alice, "Idempotency-Key": KEY})

    assert answer.status_code == 409, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert f"already used for run {site}" in error and "Configure the tenant's servers" in error
    assert db.session.scalar(select(func.count(Run.id))) == 2  # the retried run and the site run
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Server.id))) == 1
    assert (server.status, domain.status) == (ServerStatus.ACTIVE, DomainStatus.ACTIVE)
    assert db.session.scalar(select(func.count(Domain.id))) == 1


def test_the_same_kind_of_request_repeated_gets_its_run_and_the_key_stays_its_own(client, world, fleet):
    server, _ = fleet
    alice = {**_bearer(world.alice), "Idempotency-Key": KEY}
    backup = client.post("/api/v1/tenants/acme/actions/backup", json={"server_id": server.id}, headers=alice)
    assert backup.status_code == 202
    again = client.post("/api/v1/tenants/acme/actions/backup", json={"server_id": server.id}, headers=alice)
    assert again.status_code == 202 and again.get_json()["id"] == backup.get_json()["id"]

    for path, body in (
        ("/api/v1/tenants/acme/actions/rotate_ssh_key", {}),  # another action
        ("/api/v1/tenants/acme/runs", {"playbook": "site"}),
    ):
        refused = client.post(path, json=body, headers=alice)
        assert refused.status_code == 409 and "(Back up now)" in refused.get_json()["error"]
    assert db.session.scalar(select(func.count(Run.id))) == 1
