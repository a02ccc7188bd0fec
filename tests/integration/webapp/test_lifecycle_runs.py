"""Removing a domain and deprovisioning a server on the testbed, through the control plane's job
path (an RQ SimpleWorker calling jobs.execute.execute_run, as the worker pool does).

One host for the module: tenant -> provision (Hostwinds double booting a real host) -> a second mail
domain (site.yml, every role) -> the zone check against the real BIND -> remove that domain
(remove_domain.yml) -> deprovision the server (deprovision.yml) -> delete the tenant. Each step
asserts what a user sees: the page, Mailu (the double's API), the DNS primary's answers, the
Hostwinds double's instance list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest
import requests
from controlplane import ADMIN_EMAIL, ADMIN_PASSWORD, provision_tenant, scope_of_admin, work
from sqlalchemy import select

from mailfleet.secrets import tenant_path

pytestmark = pytest.mark.testbed


def ask(testbed, name: str, rtype: str) -> tuple[str, list[str]]:
    """(rcode, values) of the DNS primary's answer."""
    answer = dns.query.udp(dns.message.make_query(name, rtype), testbed.dns.primary, timeout=5)
    values = [
        r.to_text()
        for rrset in answer.answer
        for r in rrset
        if rrset.rdtype == dns.rdatatype.from_text(rtype)
    ]
    return dns.rcode.to_text(answer.rcode()), values


@pytest.fixture(scope="module")
def plane(control_plane) -> dict[str, Any]:
    """The session's control plane (tests/controlplane.py)."""
    return control_plane


@pytest.fixture(scope="module")
def world(testbed, plane) -> Iterator[dict[str, Any]]:
    """A tenant with a provisioned server and a second mail domain, configured by site.yml."""
    from webapp.models import DomainStatus, RunStatus
    from webapp.services import fleet

    made = provision_tenant(testbed, plane["app"], "life", converge=False)
    zone, mail_host, server_name = made.zone, made.mail_host, made.host.name
    shop = f"shop.{zone}"
    try:
        scope = scope_of_admin()
        site = fleet.add_domain(scope, made.tenant, made.server_id, shop)
        work(plane["app"])
        assert site.status == RunStatus.SUCCESSFUL, (site.failure_reason, site.recap)
        domain = next(d for d in fleet.list_domains(scope, made.tenant) if d.name == shop)
        assert domain.status == DomainStatus.ACTIVE
        yield {
            "scope": scope,
            "tenant": made.tenant,
            "zone": zone,
            "mail_host": mail_host,
            "shop": shop,
            "server": plane_db_server(server_name),
            "server_name": server_name,
            "mailu_token": plane["store"].get(tenant_path(made.tenant.slug, "mailu"))["api_token"],
        }
    finally:
        if server_name in testbed.state.read()["hosts"]:  # deprovisioning stops it
            testbed.stop_host(server_name)


def plane_db_server(name: str):
    from webapp.extensions import db
    from webapp.models import Server

    return db.session.execute(select(Server).where(Server.name == name)).scalar_one()


def mailu_domains(testbed, world) -> set[str]:
    answer = requests.get(
        f"{testbed.double_url('mailu')}/{world['mail_host']}/api/v1/domain",
        headers={"Authorization": f"Bearer {world['mailu_token']}"},
        timeout=5,
    )
    answer.raise_for_status()
    return {d["name"] for d in answer.json()}


def test_the_zone_check_asks_the_real_primary(testbed, world):
    from webapp.errors import InvalidInput
    from webapp.extensions import db
    from webapp.models import Domain
    from webapp.services import fleet

    before = db.session.execute(select(Domain.name)).scalars().all()
    with pytest.raises(
        InvalidInput, match="shop.nowhere.invalid cannot be published: the DNS server .* serves no zone"
    ):
        fleet.add_domain(world["scope"], world["tenant"], world["server"].id, "shop.nowhere.invalid")
    db.session.rollback()
    assert db.session.execute(select(Domain.name)).scalars().all() == before


def test_remove_domain_takes_it_off_mailu_and_dns(testbed, plane, world):
    from webapp.extensions import db
    from webapp.models import Domain, RunStatus
    from webapp.services import lifecycle, runs

    shop, zone = world["shop"], world["zone"]
    assert shop in mailu_domains(testbed, world)
    assert ask(testbed, shop, "MX") == ("NOERROR", [f"10 {world['mail_host']}."])
    domain = db.session.execute(select(Domain).where(Domain.name == shop)).scalar_one()

    run = lifecycle.remove_domain(world["scope"], world["tenant"], domain.id, shop)
    work(plane["app"])
    assert run.status == RunStatus.SUCCESSFUL, (run.failure_reason, run.recap)
    assert db.session.execute(select(Domain).where(Domain.name == shop)).scalar_one_or_none() is None
    assert shop not in mailu_domains(testbed, world)
    assert zone in mailu_domains(testbed, world)  # the main domain stays
    assert ask(testbed, shop, "MX")[0] == "NXDOMAIN"
    assert ask(testbed, f"_dmarc.{shop}", "TXT")[0] == "NXDOMAIN"
    assert ask(testbed, zone, "MX") == ("NOERROR", [f"10 {world['mail_host']}."])  # untouched

    # Again, by hand (the engineer's path): nothing left to change.
    again = runs.submit_run(
        world["scope"],
        world["tenant"],
        "remove_domain",
        limit=world["server_name"],
        extravars={"mailfleet_domains_absent": [shop], "remove_domain_dns": True},
    )
    work(plane["app"])
    assert again.status == RunStatus.SUCCESSFUL, again.failure_reason
    assert again.recap[world["server_name"]]["changed"] == 0


def test_deprovision_cancels_the_instance_and_removes_its_records(testbed, plane, world):
    from webapp.extensions import db
    from webapp.models import Domain, RunStatus, ServerStatus, Tenant
    from webapp.services import lifecycle

    zone, mail_host = world["zone"], world["mail_host"]
    assert ask(testbed, mail_host, "A")[1]  # published by site.yml
    run = lifecycle.deprovision_server(
        world["scope"], world["tenant"], world["server"].id, world["server_name"]
    )
    work(plane["app"])
    assert run.status == RunStatus.SUCCESSFUL, (run.failure_reason, run.recap)

    server = plane_db_server(world["server_name"])
    assert server.status == ServerStatus.GONE
    assert db.session.execute(select(Domain).where(Domain.server_id == server.id)).first() is None
    from webapp.integrations import hostwinds_client

    assert hostwinds_client().find_instance(world["server_name"]) is None  # cancelled at the provider
    assert world["server_name"] not in testbed.state.read()["hosts"]  # the double stopped the host
    assert ask(testbed, mail_host, "A")[0] == "NXDOMAIN"
    assert ask(testbed, zone, "MX")[1] == []
    assert ask(testbed, f"_dmarc.{zone}", "TXT")[0] == "NXDOMAIN"

    # The tenant page shows no server, and the tenant can now be deleted.
    client = plane["app"].test_client()
    from webapp.testing import csrf_token, login

    login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert "No servers yet." in client.get(f"/tenants/{world['tenant'].slug}").get_data(as_text=True)
    url = f"/tenants/{world['tenant'].slug}/delete-tenant/{world['tenant'].id}"
    token = csrf_token(client, url)
    response = client.post(
        url, data={"csrf_token": token, "confirm": world["tenant"].slug, "submission_key": "z" * 16}
    )
    assert response.status_code == 302
    assert db.session.execute(select(Tenant).where(Tenant.slug == world["tenant"].slug)).first() is None


def test_the_zone_check_refuses_a_key_the_primary_does_not_know(testbed):
    """The prerequisite-only UPDATE really reaches BIND's key check (and changes nothing)."""
    from mailfleet.dns.zonecheck import ZoneNotWritable, rfc2136_zone

    dns_info = testbed.dns
    zone = rfc2136_zone(
        "anything.example.test",
        dns_info.primary,
        key_name=dns_info.tsig_name,
        key_secret=dns_info.tsig_secret,
        key_algorithm=dns_info.tsig_algorithm,
    )
    assert zone == "example.test"
    serial = ask(testbed, "example.test", "SOA")[1]
    with pytest.raises(ZoneNotWritable, match="did not accept an update of example.test|refused an update"):
        rfc2136_zone(
            "anything.example.test",
            dns_info.primary,
            key_name=dns_info.tsig_name,
            key_secret="c2VjcmV0LXRoYXQtaXMtbm90LXRoZS1rZXk=",
            key_algorithm=dns_info.tsig_algorithm,
        )
    assert ask(testbed, "example.test", "SOA")[1] == serial  # neither check changed the zone
