"""The DNS doctor against the testbed's real BIND primary + secondary and Unbound (no host booted):
mailfleet's own records make a domain ready; each setup broken on purpose is found with its code,
the record to set and the steps; a secondary held back is named as lagging while the domain is
propagating, and the domain becomes ready once it catches up; a lame name server is named."""

from __future__ import annotations

import base64
import time

import dns.message
import dns.query
import dns.tsigkeyring
import dns.update
import pytest

from mailfleet.dns import build_units
from mailfleet.dnsdoctor import Doctor, DoctorConfig, Readiness
from mailfleet.monitoring import MailDomain, ServerTarget
from mailfleet.monitoring.errors import MonitoringConfigError
from mailfleet.monitoring.results import Status

pytestmark = pytest.mark.testbed

KEY = base64.b64encode(b"testbed-dkim-key-of-the-doctor-0123456789").decode()
OTHER_KEY = base64.b64encode(b"a-key-mailu-does-not-sign-with-0123456789").decode()
ZONE = "example.test"
NO_MTA_STS = {"publish": {"mta_sts": False}}
ALIAS_ZONE = "alias.test"


def send_update(tb, zone: str, changes: list[tuple[str, str, str, str | None]]) -> None:
    """RFC 2136 update signed with the testbed's key: ("replace"|"add"|"delete", name, type, value)."""
    info = tb.dns
    keyring = dns.tsigkeyring.from_text({info.tsig_name: info.tsig_secret})
    msg = dns.update.UpdateMessage(zone, keyring=keyring, keyalgorithm=info.tsig_algorithm)
    for op, name, rtype, value in changes:
        if op == "delete":
            msg.delete(name + ".", rtype)
        else:
            getattr(msg, op)(name + ".", 60, rtype, value)
    assert dns.query.tcp(msg, info.primary, timeout=5).rcode() == 0


def serial(server: str, zone: str) -> int | None:
    answer = dns.query.udp(dns.message.make_query(zone, "SOA"), server, timeout=2)
    return answer.answer[0][0].serial if answer.answer else None


def wait_in_sync(tb, zone: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while serial(tb.dns.secondary, zone) != serial(tb.dns.primary, zone):
        assert time.monotonic() < end, f"the secondary did not catch up on {zone}"
        time.sleep(0.2)
    time.sleep(1.1)  # the resolver keeps negative answers for 1 s


def wire(value: str, rtype: str) -> str:
    return '"' + value + '"' if rtype == "TXT" else value


def publish(tb, host: str, address: str, domain: str, key: str = KEY, defaults=NO_MTA_STS) -> None:
    """Publish exactly what mailfleet publishes for the host and domain (and the PTR)."""
    units = build_units(host=host, ipv4=[address], domains=[{"name": domain, "dkim_public_key": key}],
                        defaults=defaults)
    records = [r for unit in units for r in unit.records if r.name.endswith(ZONE)]
    names = sorted({(r.name, r.rtype) for r in records})
    send_update(tb, ZONE, [("delete", n, t, None) for n, t in names]
                + [("add", r.name, r.rtype, r.wire_text()) for r in records])


@pytest.fixture(scope="module")
def bed(testbed):
    testbed.set_secondary_delay(0)
    address = testbed.layout.host_address(198)  # in this instance's network; nothing connects there
    reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa"
    host = f"mail.dr.{ZONE}"
    send_update(testbed, testbed._dns.reverse_zone(), [("replace", reverse, "PTR", f"{host}.")])
    publish(testbed, host, address, f"ok.dr.{ZONE}")
    wait_in_sync(testbed, ZONE)
    testbed.add_zone(ALIAS_ZONE)
    send_update(testbed, ALIAS_ZONE, [("replace", f"mx.{ALIAS_ZONE}", "CNAME", f"{host}.")])
    wait_in_sync(testbed, ALIAS_ZONE)
    yield testbed, host, address
    testbed.set_secondary_delay(0)


def doctor(tb, **kwargs) -> Doctor:
    kwargs.setdefault("panel", (tb.dns.resolver,))
    return Doctor(DoctorConfig(resolver=tb.dns.resolver, timeout=2.0, **kwargs))


def target(host: str, address: str, domain: str, key: str = KEY) -> tuple[ServerTarget, MailDomain]:
    mail_domain = MailDomain(domain, dkim_public_key=key)
    return ServerTarget("dr1", host, ipv4=(address,), domains=(mail_domain,)), mail_domain


def test_mailfleets_own_records_make_the_domain_ready(bed):
    tb, host, address = bed
    report = doctor(tb, record_defaults=NO_MTA_STS).run(*target(host, address, f"ok.dr.{ZONE}"))
    assert report.status is Readiness.READY, report.reasons
    assert report.zone == ZONE
    codes = {f.code for f in report.findings}
    assert not any(f.blocking for f in report.findings), report.findings
    assert "delegation.parent-unknown" in codes  # the testbed serves no parent of example.test
    mx = next(r for r in report.propagation if r.rtype == "MX" and r.name == f"ok.dr.{ZONE}")
    assert mx.complete and mx.agreeing == 3  # primary, secondary, the resolver
    assert {a.server.label for a in mx.answers} >= {f"ns1.{ZONE}", f"ns2.{ZONE}"}
    assert report.to_dict()["status"] == "ready"


def test_servers_with_one_serial_are_asked_once_per_record(bed):
    tb, host, address = bed
    work = target(host, address, f"ok.dr.{ZONE}")
    shared, every = doctor(tb, record_defaults=NO_MTA_STS), doctor(tb, record_defaults=NO_MTA_STS,
                                                                     ask_every_server=True)
    report, full = shared.run(*work), every.run(*work)
    records = len(report.propagation)
    # the secondary (same serial as the primary) is shown the primary's answer for each record
    for r in report.propagation:
        by_label = {a.server.label: a for a in r.answers}
        assert by_label[f"ns2.{ZONE}"].asked_at == f"ns1.{ZONE}/{tb.dns.primary}", r
        assert by_label[f"ns1.{ZONE}"].asked_at == ""
    assert all(a.asked_at == "" for r in full.propagation for a in r.answers)
    assert [r.to_dict()["agreeing"] for r in report.propagation] == [r.agreeing for r in full.propagation]
    # one query fewer per record (give or take the second try of a query lost on the way)
    assert abs(every.queries_sent - shared.queries_sent - records) <= 1


def test_domains_split_over_processes_get_the_reports_one_process_gives(bed):
    tb, host, address = bed
    publish(tb, host, address, f"split.dr.{ZONE}")
    send_update(tb, ZONE, [("delete", f"split.dr.{ZONE}", "TXT", None)])
    wait_in_sync(tb, ZONE)
    work = [target(host, address, f"{label}.dr.{ZONE}") for label in ("ok", "split", "ok", "split", "ok")]
    one = doctor(tb, record_defaults=NO_MTA_STS).run_many(work, processes=1)
    split = doctor(tb, record_defaults=NO_MTA_STS).run_many(work, processes=2)
    assert [r.domain for r in split] == [d.name for _, d in work]
    ready, failing = Readiness.READY, Readiness.FAILING
    assert [r.status for r in split] == [r.status for r in one] == [ready, failing, ready, failing, ready]
    assert [[f.code for f in r.findings] for r in split] == [[f.code for f in r.findings] for r in one]
    assert "spf.missing" in {f.code for f in split[3].findings}


def replace(name: str, rtype: str, value: str) -> tuple[str, str, str, str]:
    return ("replace", name, rtype, value)


MANY_LOOKUPS = '"v=spf1 ' + " ".join(f"a:x{i}.example.test" for i in range(11)) + ' -all"'
EXTERNAL_RUA = '"v=DMARC1; p=reject; rua=mailto:r@reports.test"'
BROKEN = {
    # name: (changes after mailfleet's records are published, expected code)
    "nospf": (lambda d, h: [("delete", d, "TXT", None)], "spf.missing"),
    "twospf": (lambda d, h: [("add", d, "TXT", '"v=spf1 include:other.test -all"')], "spf.multiple"),
    "manyspf": (lambda d, h: [replace(d, "TXT", MANY_LOOKUPS)], "spf.too-many-lookups"),
    "dkimdiff": (lambda d, h: [replace(f"dkim._domainkey.{d}", "TXT", f'"v=DKIM1; k=rsa; p={OTHER_KEY}"')],
                 "dkim.mismatch"),
    # BIND refuses an MX naming a CNAME of its own zone: the alias lives in another zone
    "mxcname": (lambda d, h: [replace(d, "MX", f"10 mx.{ALIAS_ZONE}.")], "mx.cname"),
    "mxip": (lambda d, h: [replace(d, "MX", "10 192.0.2.25.")], "mx.ip"),
    "stsnopolicy": (lambda d, h: [replace(f"_mta-sts.{d}", "TXT", '"v=STSv1; id=20261201"'),
                                  replace(f"mta-sts.{d}", "A", "127.0.0.9")], "mta-sts.policy-unreachable"),
    "dmarcext": (lambda d, h: [replace(f"_dmarc.{d}", "TXT", EXTERNAL_RUA)],
                 "dmarc.report-unauthorized"),
}


@pytest.mark.parametrize("label", sorted(BROKEN))
def test_each_broken_setup_is_found_with_its_fix(bed, label):
    tb, host, address = bed
    domain = f"{label}.dr.{ZONE}"
    publish(tb, host, address, domain)
    change, code = BROKEN[label]
    send_update(tb, ZONE, change(domain, host))
    wait_in_sync(tb, ZONE)
    # what the site publishes: MTA-STS only where the broken setup is about it
    defaults = {} if code.startswith("mta-sts") else NO_MTA_STS
    report = doctor(tb, record_defaults=defaults).run(*target(host, address, domain))
    finding = next((f for f in report.findings if f.code == code), None)
    assert finding is not None, [f.code for f in report.findings]
    assert finding.guidance and finding.detail
    if code != "dmarc.report-unauthorized":  # a warning: reports are lost, mail still flows
        assert report.status is Readiness.FAILING
        assert any(finding.problem.title in reason for reason in report.reasons)
    # the record to set is the one mailfleet publishes (or the authorisation the other domain owes)
    wanted = {"spf": (domain, "TXT", "v=spf1"), "dkim": (f"dkim._domainkey.{domain}", "TXT", "v=DKIM1"),
              "mx": (domain, "MX", "10 "), "mta-sts": (f"_mta-sts.{domain}", "TXT", "v=STSv1"),
              "dmarc": (f"{domain}._report._dmarc.reports.test", "TXT", "v=DMARC1")}[code.partition(".")[0]]
    assert any((r.name, r.rtype) == wanted[:2] and r.value.startswith(wanted[2]) for r in finding.records)
    assert any(wanted[0] in step or wanted[0].removesuffix("." + ZONE) in step for step in finding.guidance)


def test_proxied_mail_host_is_found(bed):
    tb, host, address = bed
    domain = f"px.dr.{ZONE}"
    proxied_host = f"mail-px.dr.{ZONE}"
    publish(tb, proxied_host, address, domain)
    send_update(tb, ZONE, [("replace", proxied_host, "A", "104.16.1.1")])  # a Cloudflare edge address
    wait_in_sync(tb, ZONE)
    report = doctor(tb, record_defaults=NO_MTA_STS).run(*target(proxied_host, address, domain))
    finding = next(f for f in report.findings if f.code == "host.proxied")
    assert finding.status is Status.ERROR and "104.16.1.1" in finding.detail
    assert [r.value for r in finding.records] == [address]
    assert report.status is Readiness.FAILING


def test_lagging_secondary_is_named_until_it_catches_up(bed):
    tb, host, address = bed
    domain = f"lag.dr.{ZONE}"
    publish(tb, host, address, domain)
    wait_in_sync(tb, ZONE)
    tb.set_secondary_delay(6)
    send_update(tb, ZONE, [("replace", f"_dmarc.{domain}", "TXT", '"v=DMARC1; p=quarantine"')])
    report = doctor(tb, record_defaults=NO_MTA_STS).run(*target(host, address, domain))
    lagging = next(f for f in report.findings if f.code == "delegation.lagging")
    assert f"ns2.{ZONE}/{tb.dns.secondary}" in lagging.detail.rpartition(";")[2]
    assert report.status is Readiness.PROPAGATING
    dmarc = next(r for r in report.propagation if r.name == f"_dmarc.{domain}")
    behind = [a.server.label for a in dmarc.answers if not a.agrees]
    assert behind == [f"ns2.{ZONE}"] and dmarc.settles_in is None
    assert all(a.asked_at == "" for a in dmarc.answers)  # serials differ: each server asked itself
    end = time.monotonic() + 30
    while report.status is not Readiness.READY and time.monotonic() < end:
        time.sleep(1)
        report = doctor(tb, record_defaults=NO_MTA_STS).run(*target(host, address, domain))
    assert report.status is Readiness.READY, report.reasons
    tb.set_secondary_delay(0)


def test_two_resolvers_side_by_side_show_the_one_fed_by_a_lagging_secondary(bed):
    tb, host, address = bed
    domain = f"two.dr.{ZONE}"
    publish(tb, host, address, domain)
    wait_in_sync(tb, ZONE)
    both = doctor(tb, record_defaults=NO_MTA_STS, panel=(tb.dns.resolver, tb.dns.resolver2))
    assert both.run(*target(host, address, domain)).status is Readiness.READY
    tb.set_secondary_delay(6)
    try:
        send_update(tb, ZONE, [("replace", f"_dmarc.{domain}", "TXT", '"v=DMARC1; p=quarantine"')])
        tb.flush_cache(f"_dmarc.{domain}", "TXT")
        report = both.run(*target(host, address, domain))
        dmarc = next(r for r in report.propagation if r.name == f"_dmarc.{domain}")
        answers = {a.server.label: a for a in dmarc.answers}
        assert list(answers) == [f"ns1.{ZONE}", f"ns2.{ZONE}", f"resolver {tb.dns.resolver}",
                                 f"resolver {tb.dns.resolver2}"]
        # the first resolver asks the primary and has the change; the second asks the lagging secondary
        assert answers[f"resolver {tb.dns.resolver}"].agrees
        assert not answers[f"resolver {tb.dns.resolver2}"].agrees
        assert answers[f"resolver {tb.dns.resolver2}"].values == answers[f"ns2.{ZONE}"].values
        assert report.status is Readiness.PROPAGATING, report.reasons
        end = time.monotonic() + 30
        while report.status is not Readiness.READY and time.monotonic() < end:
            time.sleep(1)
            report = both.run(*target(host, address, domain))
        assert report.status is Readiness.READY, report.reasons
    finally:
        tb.set_secondary_delay(0)


def test_a_resolver_still_caching_the_old_answer_is_propagating_then_ready(bed):
    tb, host, address = bed
    domain = f"stale.dr.{ZONE}"
    publish(tb, host, address, domain)
    wait_in_sync(tb, ZONE)
    # the name servers serve the fix; the resolver still holds the old SPF, for 300 s (no race
    # against its 5-second cap), until it lets go
    tb.cache_answer(domain, "TXT", ['"v=spf1 ip4:198.51.100.7 -all"'], 300)
    try:
        report = doctor(tb, record_defaults=NO_MTA_STS).run(*target(host, address, domain))
    finally:
        tb.flush_cache(domain, "TXT")
    assert "spf.not-authorised" in {f.code for f in report.findings}  # what the cache still says
    assert report.status is Readiness.PROPAGATING, report.reasons
    assert 290 <= report.settles_in <= 300
    spf = next(r for r in report.propagation if (r.name, r.rtype) == (domain, "TXT"))
    assert [a.server.role for a in spf.answers if not a.agrees] == ["resolver"]
    report = doctor(tb, record_defaults=NO_MTA_STS).run(*target(host, address, domain))
    assert report.status is Readiness.READY, report.reasons


def test_client_setup_and_caa_are_checked(bed):
    tb, host, address = bed
    domain = f"cl.dr.{ZONE}"
    publish(tb, host, address, domain)
    send_update(tb, ZONE, [("delete", f"autodiscover.{domain}", "CNAME", None),
                           replace(f"_imaps._tcp.{domain}", "SRV", f"10 1 143 {host}."),
                           replace(host, "CAA", '0 issue "sectigo.com"')])
    wait_in_sync(tb, ZONE)
    tb.flush_cache(host, "CAA")  # asked by earlier doctors; a whole-second negative TTL outlasts the wait
    try:
        report = doctor(tb, record_defaults=NO_MTA_STS).run(*target(host, address, domain))
    finally:
        send_update(tb, ZONE, [("delete", host, "CAA", None)])
        wait_in_sync(tb, ZONE)
    found = {f.code: f for f in report.findings}
    assert {"autoconfig.missing", "srv.wrong", "caa.forbids-ca"} <= set(found), sorted(found)
    assert f"autodiscover.{domain}" in found["autoconfig.missing"].detail
    assert [(r.name, r.value) for r in found["srv.wrong"].records if "_imaps" in r.name] == [
        (f"_imaps._tcp.{domain}", f"10 1 993 {host}.")]
    assert "sectigo.com" in found["caa.forbids-ca"].detail
    assert [r.value for r in found["caa.forbids-ca"].records] == ['0 issue "letsencrypt.org"']
    assert report.checks["tlsa"].status is Status.OK  # the zone is not signed: DANE does not apply
    # only the CAA keeps the domain from being ready: clients can still be set up by hand
    assert {f.code for f in report.findings if f.blocking} == {"caa.forbids-ca"}
    assert report.status is Readiness.FAILING


def test_lame_name_server_is_named(bed):
    tb, host, address = bed
    zone = f"lame.{ZONE}"
    tb.add_zone(zone)
    # ns3 points at the resolver: it answers, but not authoritatively
    send_update(tb, zone, [("add", f"ns3.{zone}", "A", tb.dns.resolver), ("add", zone, "NS", f"ns3.{zone}.")])
    wait_in_sync(tb, zone)
    publish_zone = [("replace", zone, "MX", f"10 {host}.")]
    send_update(tb, zone, publish_zone)
    wait_in_sync(tb, zone)
    report = doctor(tb).run(*target(host, address, zone))
    lame = next(f for f in report.findings if f.code == "delegation.lame")
    assert f"ns3.{zone}/{tb.dns.resolver}" in lame.detail
    assert report.status is Readiness.FAILING
    assert report.checks["delegation"].status is Status.OK  # the parent and the zone agree


@pytest.mark.parametrize("name", ["not a domain", "a" * 64 + ".example.test", "localhost", "1.2.3.4"])
def test_bad_domain_names_are_refused_before_any_query(name):
    with pytest.raises(MonitoringConfigError):
        MailDomain(name)


def test_international_names_are_checked_in_their_ascii_form():
    assert MailDomain("bücher.example.test").name == "xn--bcher-kva.example.test"


@pytest.fixture
def control_plane(bed, tmp_path, monkeypatch):
    """The control plane's database with one active server at the testbed address and its domain,
    the monitoring settings pointing at the testbed resolver, alerts opening on the first failure."""
    import json

    from jobs.app import use_app
    from webapp.extensions import db
    from webapp.models import Domain, DomainStatus, Role, Server, ServerStatus
    from webapp.services import accounts, tenants
    from webapp.services.scope import Scope
    from webapp.testing import TEST_PASSWORD, make_app

    tb, host, address = bed
    config = tmp_path / "monitoring.json"
    config.write_text(json.dumps({"resolver": tb.dns.resolver, "dns_timeout": 2,
                                  "alerts": {"default": {"fail_after": 1, "pass_after": 1}}}))
    monkeypatch.setenv("MAILFLEET_MONITORING_CONFIG_FILE", str(config))
    app = make_app(tmp_path)
    site = tmp_path / "site.yml"  # the deployment publishes through RFC 2136: its zones are managed
    site.write_text("dns_provider: rfc2136\n")
    app.config["MAILFLEET_SITE_VARS_FILE"] = str(site)
    use_app(app)
    with app.app_context():
        admin = accounts.create_user("admin@example.com", TEST_PASSWORD, Role.ADMIN, None)
        acme = tenants.create_tenant(Scope(admin), "acme", "Acme")
        server = Server(tenant_id=acme.id, name="mf-acme-1", mail_hostname=host, public_ipv4=address,
                        status=ServerStatus.ACTIVE)
        db.session.add(server)
        db.session.flush()
        domain = Domain(tenant_id=acme.id, server_id=server.id, name=f"job.dr.{ZONE}",
                        status=DomainStatus.ACTIVE)
        db.session.add(domain)
        db.session.commit()
        yield app, domain
        db.session.remove()
        db.engine.dispose()
    use_app(None)


def test_the_check_job_makes_a_domain_ready_and_alerts_when_it_stops_being_ready(bed, control_plane):
    from sqlalchemy import select

    from jobs.dnsdoctor import check_domain, check_due_domains
    from webapp.extensions import db
    from webapp.models import Domain, HealthAlert
    from webapp.services import dnsdoctor

    tb, host, address = bed
    app, domain = control_plane
    publish(tb, host, address, domain.name)
    wait_in_sync(tb, ZONE)
    dnsdoctor.note_published(domain, domain.created_at)
    db.session.commit()
    assert check_due_domains()["checked"] == 1  # never checked: due
    db.session.expire_all()
    domain = db.session.get(Domain, domain.id)
    assert domain.dns_status == "ready", domain.dns_report["reasons"]
    assert domain.dns_propagation_seconds is not None and dnsdoctor.readiness_refusal(domain) is None
    assert domain.dns_report["dns_host"]["managed"] is True
    assert check_due_domains()["checked"] == 0  # just checked

    send_update(tb, ZONE, [("delete", domain.name, "TXT", None)])
    wait_in_sync(tb, ZONE)
    # the resolver let go of the SPF it cached for the first check (else, within its 5 s, the domain
    # is rightly propagating: the name servers dropped it, a cache still holds it)
    tb.flush_cache(domain.name, "TXT")
    assert check_domain(domain.id)["failing"] == 1
    db.session.expire_all()
    domain = db.session.get(Domain, domain.id)
    assert "No SPF record" in dnsdoctor.readiness_refusal(domain)
    assert dnsdoctor.fixable(domain)  # the wizard offers to publish the records again
    alert = db.session.scalar(select(HealthAlert).where(HealthAlert.check == f"dns:ready:{domain.name}"))
    assert alert is not None and alert.state == "open" and "No SPF record" in alert.detail
