"""The DNS zone check that adding a domain runs first, against the testbed's real BIND primary:
the prerequisite-only RFC 2136 UPDATE the control plane sends before it records a domain.
(Removing a domain and deprovisioning a server on a real host are the new-admin journey's last
step: tests/journeys/test_new_admin.py.)
"""

from __future__ import annotations

import dns.message
import dns.query
import dns.rcode
import pytest
from controlplane import scope_of_admin
from sqlalchemy import select

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


def test_a_domain_in_no_zone_the_primary_serves_is_refused_and_not_recorded(testbed, control_plane):
    """The session plane's site file names the testbed's RFC 2136 primary; a server row is enough
    (the check runs before any run is queued)."""
    from decimal import Decimal

    from webapp.errors import InvalidInput
    from webapp.extensions import db
    from webapp.models import Domain, Server, ServerStatus
    from webapp.services import fleet, tenants

    scope = scope_of_admin()
    tenant = tenants.create_tenant(scope, "zonecheck", "Zone check")
    server = Server(
        tenant_id=tenant.id,
        name="mf-zonecheck-1",
        location="Seattle",
        plan="101",
        monthly_price=Decimal("5.00"),
        status=ServerStatus.ACTIVE,
        mail_hostname="mail.zonecheck.example.test",
    )
    db.session.add(server)
    db.session.commit()
    before = db.session.execute(select(Domain.name)).scalars().all()
    try:
        with pytest.raises(
            InvalidInput, match="shop.nowhere.invalid cannot be published: the DNS server .* serves no zone"
        ):
            fleet.add_domain(scope, tenant, server.id, "shop.nowhere.invalid")
        db.session.rollback()
        assert db.session.execute(select(Domain.name)).scalars().all() == before
    finally:  # the session's plane serves other files' tests: no server row without a host
        db.session.rollback()
        db.session.delete(server)
        db.session.delete(tenant)
        db.session.commit()


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
