"""The DNS doctor's Fix, end to end on a converged server (the session's "ma", shared). Behind
mailfleet's back, in the testbed's BIND: someone adds a second SPF record, the DKIM record mailfleet
owns carries a key Mailu does not sign with (as after Mailu's key changed), and the DMARC record is
removed. The doctor's check job, run by an RQ worker of the control plane, finds the domain failing
with each finding and the record that fixes it, and offers the Fix. The Fix runs the DNS part of
the server's domain run only (site.yml's letsencrypt, mailu_api, mailu_mta_sts and dns tags: the
dns role publishes every record mailfleet owns again through RFC 2136 and deletes the foreign SPF
in its way; nothing else on the server changes). The next check job finds the domain ready again,
both name servers serve exactly the records mailfleet published, and running the Fix's playbook
again changes nothing. The same reports carry the TLSA check, run in the job."""

from __future__ import annotations

import base64
import time

import dns.message
import dns.query
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest
from controlplane import scope_of_admin, work
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from mailfleet.dns.ownership import manifest_value
from mailfleet.dns.rdata import Record

pytestmark = pytest.mark.testbed

OTHER_KEY = base64.b64encode(b"a-key-mailu-does-not-sign-with-0123456789").decode()


def broken_names(zone: str) -> dict[str, tuple[str, str]]:
    """Finding code -> (the name it is about, what its TXT records start with)."""
    return {"spf.multiple": (zone, "v=spf1"), "dkim.mismatch": (f"dkim._domainkey.{zone}", "v=dkim1"),
            "dmarc.missing": (f"_dmarc.{zone}", "v=dmarc1")}


def txt_at(server: str, name: str, prefix: str) -> set[dns.rdata.Rdata]:
    """The TXT records one name server serves at ``name`` that start with ``prefix`` (asked
    directly, no cache)."""
    answer = dns.query.tcp(dns.message.make_query(name, "TXT"), server, timeout=5)
    rrset = answer.get_rrset(answer.answer, dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.TXT)
    return {r for r in rrset or () if b"".join(r.strings).lower().startswith(prefix.encode())}


def text_of(record: dns.rdata.Rdata) -> str:
    return b"".join(record.strings).decode()


def txt(value: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, '"' + value + '"')


def owned(name: str, record: dns.rdata.Rdata) -> dns.rdata.Rdata:
    """The entry of mailfleet's ownership manifest that says it published ``record`` at ``name``."""
    return txt(manifest_value(Record.make(name, "TXT", text_of(record))))


def serial(server: str, zone: str) -> int:
    return dns.query.tcp(dns.message.make_query(zone, "SOA"), server, timeout=5).answer[0][0].serial


def in_sync(tb, zone: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while serial(tb.dns.secondary, zone) != serial(tb.dns.primary, zone):
        assert time.monotonic() < end, f"the secondary did not catch up on {zone}"
        time.sleep(0.2)


def send_update(tb, zone: str, changes: list[tuple[str, str, set[dns.rdata.Rdata]]]) -> None:
    """One RFC 2136 update (TSIG-signed): per (name, "delete" or "add", records). Records are
    deleted by their rdata, never by a value re-typed as text: an unquoted "v=spf1 mx -all" would be
    three character strings, match nothing, and BIND would delete nothing without saying so."""
    info = tb.dns
    keyring = dns.tsigkeyring.from_text({info.tsig_name: info.tsig_secret})
    update = dns.update.UpdateMessage(zone, keyring=keyring, keyalgorithm=info.tsig_algorithm)
    for name, action, records in changes:
        for record in records:
            getattr(update, action)(name + ".", *((300,) if action == "add" else ()), record)
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


def changed_roles(run_id: int) -> set[str | None]:
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import RunEvent

    return set(db.session.scalars(select(RunEvent.role).where(RunEvent.run_id == run_id, RunEvent.changed)))


def test_fix_repairs_spf_dkim_and_dmarc_and_changes_nothing_else(testbed, control_plane, converged_servers):
    from webapp.extensions import db
    from webapp.models import Domain, RunStatus
    from webapp.services import dnsdoctor, fleet

    server = converged_servers("ma")
    app, zone = control_plane["app"], server.zone
    primary, secondary = testbed.dns.primary, testbed.dns.secondary
    broken = broken_names(zone)
    published = {code: txt_at(primary, name, prefix) for code, (name, prefix) in broken.items()}
    assert all(len(records) == 1 for records in published.values()), f"site.yml published {published}"
    (spf,), (dkim,), (dmarc,) = published.values()
    dkim_name, manifest = broken["dkim.mismatch"][0], f"_mailfleet.{zone}"
    foreign_spf, stale = txt("v=spf1 include:_spf.elsewhere.test -all"), txt(f"v=DKIM1; k=rsa; p={OTHER_KEY}")
    ownership = {owned(dkim_name, dkim)}
    assert ownership <= txt_at(primary, manifest, "mailfleet1"), "the manifest lacks the DKIM record"

    def served(at: str) -> dict[str, set[dns.rdata.Rdata]]:
        return {code: txt_at(at, name, prefix) for code, (name, prefix) in broken.items()}

    # a second SPF record by someone else; the DKIM record mailfleet published (and still owns)
    # holds an older key than Mailu's; no DMARC record
    send_update(testbed, zone, [(zone, "add", {foreign_spf}), (dkim_name, "delete", {dkim}),
                                (dkim_name, "add", {stale}), (manifest, "delete", ownership),
                                (manifest, "add", {owned(dkim_name, stale)}),
                                (broken["dmarc.missing"][0], "delete", {dmarc})])
    try:
        in_sync(testbed, zone)
        broken_now = {"spf.multiple": {spf, foreign_spf}, "dkim.mismatch": {stale}, "dmarc.missing": set()}
        assert served(primary) == broken_now == served(secondary)
        for name, _ in broken.values():
            testbed.flush_cache(name, "TXT")
        report = check(app, server.domain_id)
        findings = {f["code"]: f for f in report["findings"]}
        assert report["status"] == "failing" and set(broken) <= set(findings), report["reasons"]
        for code, (name, _) in broken.items():
            # each says the record to set: the one mailfleet published
            records = findings[code]["records"]
            assert [(r["name"], r["type"]) for r in records] == [(name, "TXT")], (code, records)
            assert records[0]["value"] == text_of(next(iter(published[code]))), code
        domain = db.session.get(Domain, server.domain_id)
        assert dnsdoctor.fixable(domain)
        assert "SPF" in (dnsdoctor.readiness_refusal(domain) or "")

        run = dnsdoctor.fix(scope_of_admin(), domain.tenant, server.domain_id)
        work(app)
        db.session.refresh(run)
        assert run.status == RunStatus.SUCCESSFUL, (run.failure_reason, run.recap)
        # only the DNS part of the domain run: the records were published again, nothing else changed
        assert (run.catalogue_key, run.playbook) == ("dns", "site.yml")
        assert changed_roles(run.id) == {"dns"}
    finally:
        now = served(primary)
        if now != published:  # the Fix failed: the server is shared, put its records back
            send_update(testbed, zone, [(name, "delete", now[code]) for code, (name, _) in broken.items()]
                        + [(name, "add", published[code]) for code, (name, _) in broken.items()]
                        + [(manifest, "delete", {owned(dkim_name, stale)}), (manifest, "add", ownership)])

    in_sync(testbed, zone)
    assert served(primary) == published == served(secondary)
    assert ownership <= txt_at(primary, manifest, "mailfleet1")
    for name, _ in broken.values():
        testbed.flush_cache(name, "TXT")
    report = check(app, server.domain_id)
    assert report["status"] == "ready", report["reasons"]
    assert {report["checks"][each]["status"] for each in ("spf", "dkim", "dmarc")} == {"ok"}, report["checks"]
    # TLSA/DANE is asked in the job too: the testbed's zones are unsigned, so DANE does not apply
    # (a TLSA record published there is named as ignored, not as a blocking problem)
    assert report["checks"]["tlsa"]["code"] in (None, "tlsa.unsigned-zone"), report["checks"]["tlsa"]
    domain = db.session.get(Domain, server.domain_id)
    assert domain.dns_status == "ready" and dnsdoctor.readiness_refusal(domain) is None

    # idempotent: the Fix's playbook run again on the repaired zone changes nothing
    again = fleet.publish_domains(scope_of_admin(), domain.tenant, domain.server, dns_only=True)
    work(app)
    db.session.refresh(again)
    assert again.status == RunStatus.SUCCESSFUL, (again.failure_reason, again.recap)
    assert again.recap and all(stats["changed"] == 0 for stats in again.recap.values()), again.recap
