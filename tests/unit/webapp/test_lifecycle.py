"""Taking things away, through the pages and the API: each action names what will be lost, needs
the object's name typed back, runs a playbook where it touches a server, and is refused (404,
nothing changed) across tenants. Also: a domain's zone is checked before it is accepted, a domain
shows the status of its run, and the provisioning form offers the provider's locations and plans."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from mailfleet.clock import utcnow
from mailfleet.dns.zonecheck import ZoneNotWritable
from mailfleet.secrets import tenant_path, tenant_prefix
from testbed.doubles import mailu as mailu_double
from webapp.extensions import db
from webapp.integrations import secret_store
from webapp.models import (
    Domain,
    DomainStatus,
    HealthAlert,
    Mailbox,
    Run,
    RunEvent,
    RunStatus,
    Server,
    ServerStatus,
    Tenant,
    User,
)
from webapp.services import accounts, lifecycle
from webapp.services.scope import Scope
from webapp.testing import ServedApp, csrf_token, login

pytestmark = pytest.mark.unit

SERVED_ZONE = "acme-mail.example"


def refuse_unserved(name: str) -> str:
    """A DNS provider that serves acme-mail.example only."""
    if name == SERVED_ZONE or name.endswith("." + SERVED_ZONE):
        return SERVED_ZONE
    raise ZoneNotWritable(f"the DNS server 192.0.2.53 serves no zone that holds {name} (REFUSED)")


@pytest.fixture
def fleet(app, world, add_server):
    """acme: server mf-acme-1 (mail host mail.acme-mail.example) on the Mailu double, its main domain
    and a second one (shop) with a mailbox; the DNS provider serves acme-mail.example only."""
    app.config["DNS_ZONE_CHECKER"] = refuse_unserved
    state = mailu_double.MailuDoubleState()
    served = ServedApp(mailu_double.create_app(state))
    app.config["MAILFLEET_MAILU_URL"] = served.url + "/{host}/api/v1"
    token = secret_store().get_field(tenant_path("acme", "mailu"), "api_token")
    mailu = state.register("mail.acme-mail.example", {"api_token": token, "domain": SERVED_ZONE})
    server = add_server(world.acme, "mf-acme-1", "198.18.17.10", mail_hostname="mail.acme-mail.example")
    main = Domain(tenant_id=world.acme.id, server_id=server.id, name=SERVED_ZONE, status=DomainStatus.ACTIVE)
    shop = Domain(
        tenant_id=world.acme.id,
        server_id=server.id,
        name="shop.acme-mail.example",
        status=DomainStatus.ACTIVE,
    )
    db.session.add_all([main, shop])
    db.session.flush()
    for name in (SERVED_ZONE, shop.name):
        mailu.new_domain(name)
    box = Mailbox(
        tenant_id=world.acme.id, domain_id=shop.id, local_part="sales", email="sales@shop.acme-mail.example"
    )
    db.session.add(box)
    db.session.commit()
    mailu_client_post(served.url, token, "sales@shop.acme-mail.example")
    yield {"server": server, "main": main, "shop": shop, "mailbox": box, "mailu": mailu}
    served.stop()


def mailu_client_post(url: str, token: str, email: str) -> None:
    from mailfleet.mailu import MailuClient

    with MailuClient(f"{url}/mail.acme-mail.example/api/v1", token) as client:
        client.create_user(email, "a first password 123")


def confirm_page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def post_confirm(client, url: str, typed: str, **extra):
    token = csrf_token(client, url)
    response = client.post(
        url, data={"csrf_token": token, "confirm": typed, "submission_key": "k" * 16, **extra}
    )
    db.session.expire_all()  # the request wrote through its own session
    return response


def finish(run: Run, status: RunStatus, failed_task: str | None = None, message: str = "") -> None:
    """What the worker does at the end of a run, for the statuses it leaves behind."""
    run.status = status
    if failed_task:
        db.session.add(
            RunEvent(
                run_id=run.id,
                counter=1,
                event="runner_on_failed",
                task=failed_task,
                failed=True,
                host_name="mf-acme-1",
                event_data={"res": {"msg": message}},
            )
        )
        run.recap = {"mf-acme-1": {"failed": 1, "unreachable": 0}}
    db.session.commit()
    lifecycle.note_run_finished(run.id)
    db.session.expire_all()


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


# --- domains: zone check, status, removal -----------------------------------------------------------
def test_a_domain_whose_zone_dns_cannot_update_is_refused_and_nothing_changes(as_admin, fleet):
    token = csrf_token(as_admin, "/tenants/acme")
    before = (count(Domain), count(Run))
    response = as_admin.post(
        "/tenants/acme/domains",
        data={
            "csrf_token": token,
            "server_id": fleet["server"].id,
            "name": "elsewhere.invalid",
            "submission_key": "d" * 16,
        },
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert (
        'class="flash error"' in page
        and "elsewhere.invalid cannot be published" in page
        and "REFUSED" in page
    )
    assert (count(Domain), count(Run)) == before


def test_a_domain_shows_its_runs_outcome(as_admin, fleet, world):
    from webapp.services import fleet as fleet_service
    from webapp.services.scope import Scope

    run = fleet_service.add_domain(
        Scope(world.admin), world.acme, fleet["server"].id, "news.acme-mail.example"
    )
    domain = db.session.execute(select(Domain).where(Domain.name == "news.acme-mail.example")).scalar_one()
    assert domain.status == DomainStatus.PENDING
    assert "pending" in as_admin.get("/tenants/acme").get_data(as_text=True)

    finish(run, RunStatus.FAILED, "dns : Apply the updates", "NOTAUTH for news.acme-mail.example")
    domain = db.session.get(Domain, domain.id)
    assert domain.status == DomainStatus.FAILED
    assert (
        domain.status_reason == f"run {run.id}, dns : Apply the updates: NOTAUTH for news.acme-mail.example"
    )
    row = re.search(
        rf'<tr id="domain-{domain.id}">.*?</tr>', as_admin.get("/tenants/acme").get_data(as_text=True), re.S
    )
    assert row and "s-failed" in row.group(0) and "NOTAUTH for news.acme-mail.example" in row.group(0)
    # The earlier domains were configured before: they stay active.
    assert db.session.get(Domain, fleet["shop"].id).status == DomainStatus.ACTIVE

    again = fleet_service.add_domain(
        Scope(world.admin), world.acme, fleet["server"].id, "blog.acme-mail.example"
    )
    finish(again, RunStatus.SUCCESSFUL)
    assert {d.name: str(d.status) for d in db.session.execute(select(Domain)).scalars()} == {
        SERVED_ZONE: "active",
        "shop.acme-mail.example": "active",
        "news.acme-mail.example": "active",
        "blog.acme-mail.example": "active",
    }
    assert db.session.get(Domain, domain.id).status_reason is None


def test_a_failed_domain_says_what_its_run_page_says(as_admin, fleet, world):
    """One failure reason: the domain's is the failure at the top of its run's page, also when the
    failed task left no message field (only its output)."""
    from webapp.services import fleet as fleet_service
    from webapp.services.scope import Scope

    run = fleet_service.add_domain(
        Scope(world.admin), world.acme, fleet["server"].id, "news.acme-mail.example"
    )
    output = "fatal: [mf-acme-1]: FAILED! => the zone refused the update"
    run.failure_reason = "ansible-playbook exited with rc 2"
    db.session.add(
        RunEvent(run_id=run.id, counter=1, event="runner_on_failed", task="dns : Apply the updates",
                 failed=True, host_name="mf-acme-1", stdout=output, event_data={"res": {"changed": False}})
    )
    run.recap = {"mf-acme-1": {"failed": 1, "unreachable": 0}}
    finish(run, RunStatus.FAILED)
    domain = db.session.execute(select(Domain).where(Domain.name == "news.acme-mail.example")).scalar_one()
    assert domain.status_reason == f"run {run.id}, dns : Apply the updates: {output}"
    run_page = as_admin.get(f"/runs/{run.id}").get_data(as_text=True)
    message = re.search(r'<pre id="failure-message"[^>]*>(.*?)</pre>', run_page, re.S).group(1)
    assert message.replace("&gt;", ">") == output
    assert output.replace(">", "&gt;") in as_admin.get("/tenants/acme").get_data(as_text=True)


def test_remove_a_domain_confirmed_then_a_run_then_gone(as_admin, fleet):
    from jobs.inventory import tenant_inventory

    shop = fleet["shop"]
    url = f"/tenants/acme/remove-domain/{shop.id}"
    page = confirm_page(as_admin, url)
    assert "shop.acme-mail.example is removed from the Mailu of mf-acme-1, with its 1 mailbox(es)" in page
    assert "its DNS records" in page

    wrong = post_confirm(as_admin, url, "shop")
    assert wrong.status_code == 400 and "type shop.acme-mail.example to confirm" in wrong.get_data(
        as_text=True
    )
    assert count(Run) == 0 and db.session.get(Domain, shop.id).status == DomainStatus.ACTIVE

    response = post_confirm(as_admin, url, "shop.acme-mail.example")
    assert response.status_code == 302 and "/runs/" in response.headers["Location"]
    run = db.session.execute(select(Run)).scalar_one()
    assert run.playbook == "remove_domain.yml" and run.limit == "mf-acme-1"
    assert run.extravars == {
        "mailfleet_domains_absent": ["shop.acme-mail.example"],
        "remove_domain_dns": True,
    }
    assert db.session.get(Domain, shop.id).status == DomainStatus.REMOVING
    # No other run puts it back while it is being removed.
    host = tenant_inventory(db.session.get(Tenant, run.tenant_id))["all"]["children"]["mailfleet_servers"][
        "hosts"
    ]
    assert host["mf-acme-1"]["mailfleet_domains"] == [SERVED_ZONE]

    finish(run, RunStatus.SUCCESSFUL)
    assert db.session.get(Domain, shop.id) is None and count(Mailbox) == 0
    assert "shop.acme-mail.example" not in as_admin.get("/tenants/acme").get_data(as_text=True)


def test_a_domain_in_a_zone_dns_cannot_update_is_removed_without_touching_dns(as_admin, app, fleet, world):
    stray = Domain(
        tenant_id=world.acme.id, server_id=fleet["server"].id, name="old.invalid", status=DomainStatus.FAILED
    )
    db.session.add(stray)
    db.session.commit()
    assert post_confirm(as_admin, f"/tenants/acme/remove-domain/{stray.id}", "old.invalid").status_code == 302
    run = db.session.execute(select(Run)).scalar_one()
    assert run.extravars == {"mailfleet_domains_absent": ["old.invalid"], "remove_domain_dns": False}
    finish(run, RunStatus.FAILED, "mailu : The domains are gone from Mailu", "Mailu unavailable")
    stray = db.session.get(Domain, stray.id)
    assert stray.status == DomainStatus.FAILED and stray.status_reason.startswith("removal failed: run ")


def test_the_main_mailu_domain_goes_with_the_server_only(as_admin, fleet):
    response = post_confirm(as_admin, f"/tenants/acme/remove-domain/{fleet['main'].id}", SERVED_ZONE)
    assert response.status_code == 400 and "deprovision the server to remove it" in response.get_data(
        as_text=True
    )
    assert count(Run) == 0


# --- servers and tenants -------------------------------------------------------------------------------
def test_deprovision_then_delete_the_tenant(as_admin, fleet, world):
    server = fleet["server"]
    delete_url = f"/tenants/acme/delete-tenant/{world.acme.id}"
    early = post_confirm(as_admin, delete_url, "acme")
    assert (
        early.status_code == 400
        and "still has servers (mf-acme-1): deprovision them first" in early.get_data(as_text=True)
    )

    url = f"/tenants/acme/deprovision/{server.id}"
    page = confirm_page(as_admin, url)
    assert "the server mf-acme-1 is deleted at hostwinds" in page and "shop.acme-mail.example" in page
    assert post_confirm(as_admin, url, "mf-acme-1").status_code == 302
    run = db.session.execute(select(Run)).scalar_one()
    assert run.playbook == "deprovision.yml"
    assert run.extravars == {
        "mailfleet_tenant": "acme",
        "mailfleet_provider": "hostwinds",
        "server_index": 1,
        "mail_hostname": "mail.acme-mail.example",
        "deprovision_dns_host": True,
        "deprovision_dns_domains": [SERVED_ZONE, "shop.acme-mail.example"],
    }
    assert db.session.get(Server, server.id).status == ServerStatus.DEPROVISIONING
    finish(run, RunStatus.SUCCESSFUL)
    assert db.session.get(Server, server.id).status == ServerStatus.GONE
    assert count(Domain) == count(Mailbox) == 0
    assert "No servers yet." in as_admin.get("/tenants/acme").get_data(as_text=True)

    assert secret_store().list(tenant_prefix("acme"))
    response = post_confirm(as_admin, delete_url, "acme")
    assert response.status_code == 302
    assert db.session.execute(select(Tenant).where(Tenant.slug == "acme")).scalar_one_or_none() is None
    assert (
        db.session.execute(select(User).where(User.email == "alice@acme.example")).scalar_one_or_none()
        is None
    )
    assert secret_store().list(tenant_prefix("acme")) == []
    assert count(Run) == 0 and count(Server) == 0
    assert db.session.execute(select(Tenant).where(Tenant.slug == "globex")).scalar_one()


def test_deleting_a_tenant_takes_every_row_its_gone_servers_left(world, add_server):
    """A server's life leaves rows behind (its warm-up, caps, counts, backups, address changes, a
    rollout it was in, a listing's hold); once it is gone, deleting its tenant takes them all, and
    another tenant's rows stay."""
    from datetime import date

    from webapp.models import (
        IpChange,
        ListingHold,
        MailCount,
        Rollout,
        RolloutTarget,
        SendingCap,
        ServerBackup,
        WarmupPlan,
    )

    now = utcnow()
    gone = add_server(world.acme, "mf-acme-1", "198.18.17.10")
    kept = add_server(world.globex, "mf-globex-1", "198.18.17.11")
    rollout = Rollout(catalogue_key="site", share="1", in_flight=1, failure_threshold=0,
                      created_by_id=world.admin.id)
    db.session.add(rollout)
    db.session.flush()
    for server in (gone, kept):
        ids = {"server_id": server.id}
        owned = {**ids, "tenant_id": server.tenant_id}
        db.session.add_all([
            WarmupPlan(**owned, curve="standard", started_on=date(2026, 11, 1)),
            SendingCap(**owned, kind="domain", name="a.example", daily=10),
            ListingHold(**ids, daily=50, hourly=5, usual_daily=0, checks=["dnsbl:x"], since=now),
            MailCount(**ids, day=date(2026, 11, 2), collected_at=now),
            ServerBackup(**ids, collected_at=now, status={}),
            IpChange(**ids, old_ip="198.18.17.1", new_ip=server.public_ipv4),
            RolloutTarget(**owned, rollout_id=rollout.id, position=server.id),
        ])
    gone.status = ServerStatus.GONE
    db.session.commit()

    lifecycle.delete_tenant(Scope(world.admin), world.acme, "acme")

    for model in (WarmupPlan, SendingCap, ListingHold, MailCount, ServerBackup, IpChange, RolloutTarget):
        assert db.session.scalars(select(model.server_id)).all() == [kept.id], model.__name__
    assert db.session.scalars(select(Server.name)).all() == ["mf-globex-1"]


def test_the_inventory_refresh_leaves_a_server_being_deprovisioned_alone(as_admin, fleet):
    from jobs.servers import apply_inventory
    from mailfleet.hostwinds.instances import inventory_record
    from mailfleet.providers.hostwinds import server_record

    server = fleet["server"]
    post_confirm(as_admin, f"/tenants/acme/deprovision/{server.id}", "mf-acme-1")
    instance = {"serviceid": 4242, "srvrname": "mf-acme-1", "status": "ACTIVE"}
    apply_inventory([server_record(inventory_record(instance, [], {}))], "hostwinds")
    db.session.expire_all()
    assert db.session.get(Server, server.id).status == ServerStatus.DEPROVISIONING
    assert "Deprovision</a>" not in as_admin.get("/tenants/acme").get_data(as_text=True)


def open_alert(server: Server) -> HealthAlert:
    """A failing check of ``server`` until its alert opens (through the state machine)."""
    from mailfleet.monitoring import AlertPolicies, AlertPolicy, CheckResult, Status, record_results
    from webapp.models import SqlHealthStore

    failing = CheckResult(server.name, "port:25@198.18.17.10", Status.ERROR, None, "refused", utcnow())
    record_results(SqlHealthStore(), [failing], AlertPolicies(AlertPolicy(fail_after=1)))
    return db.session.execute(select(HealthAlert).where(HealthAlert.server_id == server.id)).scalar_one()


def test_deprovisioning_resolves_the_servers_alerts_and_drops_it_from_the_health_pages(as_admin, fleet):
    server = fleet["server"]
    alert = open_alert(server)
    board = as_admin.get("/health").get_data(as_text=True)
    assert "mf-acme-1" in board and "refused" in board
    post_confirm(as_admin, f"/tenants/acme/deprovision/{server.id}", "mf-acme-1")
    run = db.session.execute(select(Run)).scalar_one()
    finish(run, RunStatus.SUCCESSFUL)
    board = as_admin.get("/health").get_data(as_text=True)
    assert "mf-acme-1" not in board, board
    assert as_admin.get("/health/alerts?state=open").get_data(as_text=True).count("mf-acme-1") == 0
    page = as_admin.get(f"/health/alerts/{alert.id}").get_data(as_text=True)
    assert "resolved" in page and f"mf-acme-1 was deprovisioned (run {run.id})" in page, page
    assert db.session.get(HealthAlert, alert.id).state == "resolved"


def test_a_server_gone_from_the_provider_resolves_its_alerts(fleet):
    from jobs.servers import apply_inventory

    server = fleet["server"]
    server.provider_id = 4242
    db.session.commit()
    alert = open_alert(server)
    apply_inventory([], "hostwinds")
    db.session.expire_all()
    assert db.session.get(Server, server.id).status == ServerStatus.GONE
    resolved = db.session.get(HealthAlert, alert.id)
    assert resolved.state == "resolved"
    assert resolved.events[-1].detail == "mf-acme-1 is no longer at the provider"


def test_a_failed_deprovision_leaves_the_server_in_error_and_can_be_retried(as_admin, fleet):
    server = fleet["server"]
    post_confirm(as_admin, f"/tenants/acme/deprovision/{server.id}", "mf-acme-1")
    run = db.session.execute(select(Run)).scalar_one()
    finish(run, RunStatus.FAILED, "The instance is cancelled", "Not Authorized")
    assert db.session.get(Server, server.id).status == ServerStatus.ERROR
    assert post_confirm(as_admin, f"/tenants/acme/deprovision/{server.id}", "mf-acme-1").status_code == 302


# --- mailboxes ----------------------------------------------------------------------------------------
def test_delete_a_mailbox_and_reset_a_password(as_admin, fleet):
    box, mailu = fleet["mailbox"], fleet["mailu"]
    url = f"/tenants/acme/reset-password/{box.id}"
    assert "the current password of sales@shop.acme-mail.example stops working" in confirm_page(as_admin, url)
    before = mailu.users["sales@shop.acme-mail.example"]["password"]
    response = post_confirm(as_admin, url, "sales@shop.acme-mail.example")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = re.search(r"<td><code>([^<]+)</code></td>", response.get_data(as_text=True)).group(1)
    assert len(password) >= 16
    assert mailu.users["sales@shop.acme-mail.example"]["password"] != before  # Mailu has the new one
    assert password not in as_admin.get("/tenants/acme").get_data(as_text=True)

    url = f"/tenants/acme/delete-mailbox/{box.id}"
    assert "the mailbox sales@shop.acme-mail.example and all its mail are deleted" in confirm_page(
        as_admin, url
    )
    assert post_confirm(as_admin, url, "sales@shop.acme-mail.example").status_code == 302
    assert "sales@shop.acme-mail.example" not in mailu.users and count(Mailbox) == 0


def test_mailboxes_through_the_api(client, fleet, world):
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    box = fleet["mailbox"]
    url = f"/api/v1/tenants/acme/mailboxes/{box.id}"
    unconfirmed = client.post(url + "/password", headers=alice, json={})
    assert unconfirmed.status_code == 400 and "stops working" in unconfirmed.get_json()["error"]
    before = fleet["mailu"].users[box.email]["password"]
    reset = client.post(url + "/password", headers=alice, json={"confirm": box.email})
    assert reset.status_code == 200 and reset.headers["Cache-Control"] == "no-store"
    assert len(reset.get_json()["password"]) >= 16 and fleet["mailu"].users[box.email]["password"] != before
    assert client.delete(url, headers=alice, json={"confirm": box.email}).get_json() == {"deleted": box.email}
    assert box.email not in fleet["mailu"].users and count(Mailbox) == 0


# --- people -------------------------------------------------------------------------------------------
def test_remove_a_member_and_revoke_tokens(as_admin, client, fleet, world):
    alice_token = accounts.issue_api_token(world.alice)
    alice = {"Authorization": f"Bearer {alice_token}"}
    assert client.get("/api/v1/tenants/acme/servers", headers=alice).status_code == 200
    url = f"/tenants/acme/revoke-token/{world.alice.id}"
    assert "stops working at once" in confirm_page(as_admin, url)
    assert post_confirm(as_admin, url, "alice@acme.example").status_code == 302
    assert client.get("/api/v1/tenants/acme/servers", headers=alice).status_code == 401

    url = f"/tenants/acme/remove-member/{world.alice.id}"
    assert "alice@acme.example can no longer log in" in confirm_page(as_admin, url)
    assert post_confirm(as_admin, url, "alice@acme.example").status_code == 302
    assert (
        db.session.execute(select(User).where(User.email == "alice@acme.example")).scalar_one_or_none()
        is None
    )


def test_a_person_revokes_their_own_token(client, world):
    from webapp.testing import TEST_PASSWORD

    token = accounts.issue_api_token(world.bob)
    bob = {"Authorization": f"Bearer {token}"}
    assert client.delete(f"/api/v1/users/{world.bob.id}/token", headers=bob, json={}).status_code == 400
    revoked = client.delete(
        f"/api/v1/users/{world.bob.id}/token", headers=bob, json={"confirm": "bob@globex.example"}
    )
    assert revoked.get_json() == {"revoked": "bob@globex.example"}
    assert client.get("/api/v1/tenants/globex/servers", headers=bob).status_code == 401
    # In the browser: the account page's own link.
    accounts.issue_api_token(world.bob)
    login(client, "bob@globex.example", TEST_PASSWORD)
    assert "Revoke it" in client.get("/account").get_data(as_text=True)
    assert post_confirm(client, "/account/revoke-token", "bob@globex.example").status_code == 302
    assert db.session.get(User, world.bob.id).api_token_hash is None


# --- roles -------------------------------------------------------------------------------------------
def test_a_mailbox_manager_may_neither_deprovision_nor_remove_a_domain(client, fleet, world):
    from webapp.errors import Forbidden
    from webapp.models import Role
    from webapp.services.scope import Scope
    from webapp.testing import TEST_PASSWORD

    carol = accounts.add_member(Scope(world.admin), world.acme, "carol@acme.example", TEST_PASSWORD,
                                Role.MAILBOX_MANAGER)
    server, shop = fleet["server"], fleet["shop"]
    with pytest.raises(Forbidden, match="deprovisioning a server or removing a domain takes a member"):
        lifecycle.deprovision_server(Scope(carol), world.acme, server.id, "mf-acme-1")
    with pytest.raises(Forbidden, match="takes a member or admin"):
        lifecycle.remove_domain(Scope(carol), world.acme, shop.id, shop.name)

    login(client, carol.email, TEST_PASSWORD)
    page = client.get("/tenants/acme").get_data(as_text=True)
    assert "mf-acme-1" in page and shop.name in page and "sales@shop.acme-mail.example" in page
    assert "Deprovision</a>" not in page and "/remove-domain/" not in page, page
    assert "/delete-mailbox/" in page  # mailboxes are theirs to manage
    for url, typed in ((f"/tenants/acme/deprovision/{server.id}", "mf-acme-1"),
                       (f"/tenants/acme/remove-domain/{shop.id}", shop.name)):
        assert client.get(url).status_code == 403, url
        token = csrf_token(client, "/account")
        response = client.post(url, data={"csrf_token": token, "confirm": typed, "submission_key": "c" * 16})
        assert response.status_code == 403, url
    accounts_token = accounts.issue_api_token(carol)
    bearer = {"Authorization": f"Bearer {accounts_token}"}
    for url, typed in ((f"/api/v1/tenants/acme/servers/{server.id}", "mf-acme-1"),
                       (f"/api/v1/tenants/acme/domains/{shop.id}", shop.name)):
        assert client.delete(url, headers=bearer, json={"confirm": typed}).status_code == 403, url
    db.session.expire_all()
    assert count(Run) == 0
    assert db.session.get(Server, server.id).status == ServerStatus.ACTIVE
    assert db.session.get(Domain, shop.id).status == DomainStatus.ACTIVE

    alice = as_member_page(client, "alice@acme.example")  # a member still sees both
    assert "Deprovision</a>" in alice and "/remove-domain/" in alice


def as_member_page(client, email: str) -> str:
    from webapp.testing import TEST_PASSWORD

    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    login(client, email, TEST_PASSWORD)
    return client.get("/tenants/acme").get_data(as_text=True)


# --- crossing tenants ---------------------------------------------------------------------------------
def test_another_tenants_member_can_do_none_of_it(client, fleet, world):
    from webapp.testing import TEST_PASSWORD

    accounts.issue_api_token(world.alice)
    token = accounts.issue_api_token(world.bob)
    bob = {"Authorization": f"Bearer {token}"}
    ids = {
        "remove-domain": fleet["shop"].id,
        "deprovision": fleet["server"].id,
        "delete-mailbox": fleet["mailbox"].id,
        "reset-password": fleet["mailbox"].id,
        "remove-member": world.alice.id,
        "revoke-token": world.alice.id,
        "delete-tenant": world.acme.id,
    }
    api_calls = [
        ("DELETE", f"/api/v1/tenants/acme/domains/{fleet['shop'].id}", "shop.acme-mail.example"),
        ("DELETE", f"/api/v1/tenants/acme/servers/{fleet['server'].id}", "mf-acme-1"),
        ("DELETE", f"/api/v1/tenants/acme/mailboxes/{fleet['mailbox'].id}", fleet["mailbox"].email),
        ("POST", f"/api/v1/tenants/acme/mailboxes/{fleet['mailbox'].id}/password", fleet["mailbox"].email),
        ("DELETE", f"/api/v1/tenants/acme/members/{world.alice.id}", "alice@acme.example"),
        ("DELETE", f"/api/v1/users/{world.alice.id}/token", "alice@acme.example"),
        ("DELETE", "/api/v1/tenants/acme", "acme"),
        # Their own tenant's URL with acme's objects: still nothing.
        ("DELETE", f"/api/v1/tenants/globex/domains/{fleet['shop'].id}", "shop.acme-mail.example"),
        ("DELETE", f"/api/v1/tenants/globex/servers/{fleet['server'].id}", "mf-acme-1"),
        ("DELETE", f"/api/v1/tenants/globex/mailboxes/{fleet['mailbox'].id}", fleet["mailbox"].email),
    ]
    snapshot = lambda: (  # noqa: E731
        count(Run),
        count(Domain),
        count(Mailbox),
        count(User),
        count(Tenant),
        db.session.get(User, world.alice.id).api_token_hash,
        str(db.session.get(Server, fleet["server"].id).status),
        dict(fleet["mailu"].users).keys(),
    )
    before = snapshot()
    for method, url, typed in api_calls:
        response = client.open(url, method=method, headers=bob, json={"confirm": typed})
        assert response.status_code == 404, (method, url, response.status_code)
    login(client, "bob@globex.example", TEST_PASSWORD)
    for kind, object_id in ids.items():
        for slug in ("acme", "globex"):
            url = f"/tenants/{slug}/{kind}/{object_id}"
            if (slug, kind) == ("globex", "delete-tenant"):
                continue  # globex's own id differs; its member may not delete it anyway (below)
            assert client.get(url).status_code == 404, url
            token = csrf_token(client, "/account")
            response = client.post(
                url, data={"csrf_token": token, "confirm": "x", "submission_key": "b" * 16}
            )
            assert response.status_code == 404, url
    db.session.expire_all()
    assert snapshot() == before


# --- the provisioning form ------------------------------------------------------------------------------
def test_the_provision_form_offers_the_providers_locations_and_plans(as_admin, app, hostwinds):
    app.config["MAILFLEET_MAIL_ZONE"] = "example.test"
    page = as_admin.get("/tenants/acme").get_data(as_text=True)
    form = re.search(r'<form[^>]*id="provision-form".*?</form>', page, re.S).group(0)
    assert (
        '<option value="Seattle">Seattle (United States)</option>' in form
        and '<option value="Amsterdam">Amsterdam (Europe)</option>' in form
    )
    assert '<option value="101">Unmetered SSD VPS 1 GB ($4.99/month)</option>' in form
    assert 'placeholder="mail.acme.example.test"' in form
    assert 'placeholder="acme.example.test"' in page or "Provision a server first" in page
    # Cached: the provider is not asked again for the next page view.
    calls = dict(hostwinds.calls)
    as_admin.get("/tenants/acme")
    assert dict(hostwinds.calls) == calls


def test_the_api_refuses_a_plan_the_provider_does_not_offer(client, world, hostwinds):
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    body = {"location": "Dallas", "plan": "7", "mail_hostname": "mail.acme.example.test"}
    response = client.post("/api/v1/tenants/acme/servers", headers=alice, json=body)
    assert response.status_code == 400 and "unknown plan '7'" in response.get_json()["error"]
    assert count(Run) == count(Server) == 0
    body["plan"] = "102"
    assert client.post("/api/v1/tenants/acme/servers", headers=alice, json=body).status_code == 202


def test_when_the_provider_cannot_be_read_the_form_says_so(as_admin, app):
    from mailfleet.hostwinds import HostwindsClient

    app.config["HOSTWINDS_CLIENT"] = HostwindsClient(
        "k", "http://127.0.0.1:9/cloud/api.php", attempts=1, timeout=2
    )
    page = as_admin.get("/tenants/acme").get_data(as_text=True)
    assert 'id="offers-error"' in page and "cannot read the provider&#39;s locations and plans" in page
    assert re.search(r'<button class="primary" type="submit" disabled>Provision</button>', page)
