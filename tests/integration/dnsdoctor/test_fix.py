"""The DNS doctor's Fix, end to end on a converged server (the session's "ma", shared): its SPF
record is removed from the testbed's BIND behind mailfleet's back; the doctor's check job, run by an
RQ worker of the control plane, finds the domain failing with the SPF finding and offers the Fix;
the Fix runs the server's domain run (site.yml, whose dns role publishes every record mailfleet
owns again through RFC 2136); the next check job finds the domain ready again, and the same SPF
record is served by both name servers. The same reports carry the TLSA check, run in the job."""

from __future__ import annotations

import time

import dns.message
import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest
from controlplane import scope_of_admin, work
from rq import SimpleWorker
from rq.serializers import JSONSerializer

pytestmark = pytest.mark.testbed


def spf_at(server: str, name: str) -> list[dns.rdata.Rdata]:
    """The v=spf1 TXT records one name server serves at ``name`` (asked directly, no cache)."""
    answer = dns.query.tcp(dns.message.make_query(name, "TXT"), server, timeout=5)
    rrset = answer.get_rrset(answer.answer, dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.TXT)
    return [r for r in rrset or () if b"".join(r.strings).lower().startswith(b"v=spf1")]


def serial(server: str, zone: str) -> int:
    return dns.query.tcp(dns.message.make_query(zone, "SOA"), server, timeout=5).answer[0][0].serial


def in_sync(tb, zone: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while serial(tb.dns.secondary, zone) != serial(tb.dns.primary, zone):
        assert time.monotonic() < end, f"the secondary did not catch up on {zone}"
        time.sleep(0.2)


def remove(tb, zone: str, name: str, records: list[dns.rdata.Rdata]) -> None:
    """Delete exactly these TXT records (RFC 2136, TSIG-signed). Each is deleted by its rdata, not
    by a value re-typed as text: an unquoted "v=spf1 mx -all" would be three character strings,
    match nothing, and BIND would delete nothing without saying so."""
    info = tb.dns
    keyring = dns.tsigkeyring.from_text({info.tsig_name: info.tsig_secret})
    update = dns.update.UpdateMessage(zone, keyring=keyring, keyalgorithm=info.tsig_algorithm)
    for record in records:
        update.delete(name + ".", record)
    assert dns.query.tcp(update, info.primary, timeout=10).rcode() == 0


def check(app, domain_id: int) -> dict:
    """The wizard's "Check again": the job queued as the view does, run by a worker of the system
    queue as the Procfile's system pool does."""
    from webapp.extensions import db
    from webapp.models import Domain
    from webapp.queue import get_system_queue
    from webapp.services import dnsdoctor

    domain = db.session.get(Domain, domain_id)
    dnsdoctor.request_check(scope_of_admin(), domain.tenant, domain_id)
    queue = get_system_queue(app)
    assert queue.count == 1
    SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
    db.session.expire_all()
    report = db.session.get(Domain, domain_id).dns_report
    assert report is not None, "the check job kept no report (see the system queue's failed jobs)"
    return report


def test_fix_publishes_a_removed_spf_again_and_the_domain_is_ready(testbed, control_plane, converged_servers):
    from webapp.extensions import db
    from webapp.models import Domain, RunStatus
    from webapp.services import dnsdoctor

    server = converged_servers("ma")
    app, zone = control_plane["app"], server.zone
    published = spf_at(testbed.dns.primary, zone)
    assert len(published) == 1, f"site.yml published {len(published)} SPF records at {zone}"

    remove(testbed, zone, zone, published)
    try:
        in_sync(testbed, zone)
        assert spf_at(testbed.dns.primary, zone) == [] and spf_at(testbed.dns.secondary, zone) == []
        testbed.flush_cache(zone, "TXT")
        report = check(app, server.domain_id)
        codes = [f["code"] for f in report["findings"]]
        assert report["status"] == "failing" and "spf.missing" in codes, report["reasons"]
        spf = next(f for f in report["findings"] if f["code"] == "spf.missing")
        # the record to set is the one mailfleet published
        assert [(r["name"], r["type"]) for r in spf["records"]] == [(zone, "TXT")]
        assert spf["records"][0]["value"] == b"".join(published[0].strings).decode()
        domain = db.session.get(Domain, server.domain_id)
        assert dnsdoctor.fixable(domain)
        assert "No SPF record" in (dnsdoctor.readiness_refusal(domain) or "")

        run = dnsdoctor.fix(scope_of_admin(), domain.tenant, server.domain_id)
        work(app)
        db.session.refresh(run)
        assert run.status == RunStatus.SUCCESSFUL, (run.failure_reason, run.recap)
    finally:
        if not spf_at(testbed.dns.primary, zone):  # the Fix failed: the server is shared, put it back
            info = testbed.dns
            keyring = dns.tsigkeyring.from_text({info.tsig_name: info.tsig_secret})
            update = dns.update.UpdateMessage(zone, keyring=keyring, keyalgorithm=info.tsig_algorithm)
            for record in published:
                update.add(zone + ".", 300, record)
            dns.query.tcp(update, info.primary, timeout=10)

    in_sync(testbed, zone)
    assert spf_at(testbed.dns.primary, zone) == published == spf_at(testbed.dns.secondary, zone)
    testbed.flush_cache(zone, "TXT")
    report = check(app, server.domain_id)
    assert report["status"] == "ready", report["reasons"]
    assert report["checks"]["spf"]["status"] == "ok"
    # TLSA/DANE is asked in the job too: the testbed's zones are unsigned, so DANE does not apply
    # (a TLSA record published there is named as ignored, not as a blocking problem)
    assert report["checks"]["tlsa"]["code"] in (None, "tlsa.unsigned-zone"), report["checks"]["tlsa"]
    domain = db.session.get(Domain, server.domain_id)
    assert domain.dns_status == "ready" and dnsdoctor.readiness_refusal(domain) is None
