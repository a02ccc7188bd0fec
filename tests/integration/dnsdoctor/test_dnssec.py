"""DNSSEC on the testbed's real BIND (inline signing) and Unbound (validating from the registry's
trust anchor), no host booted: a signed zone under the registry is insecure until the registrar
holds the DS record the DNS doctor gives; with it the resolver validates (AD); a wrong DS makes
the resolver refuse the zone and the doctor name it; neither a zone-signing key rollover nor a
key-signing key rollover done by the doctor's registrar steps ever breaks validation."""

from __future__ import annotations

import socketserver
import ssl
import threading
import time

import dns.dnssec
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest

from mailfleet.dnsdoctor import Doctor, DoctorConfig, Readiness
from mailfleet.monitoring import MailDomain, ServerTarget
from mailfleet.monitoring.results import Status

pytestmark = pytest.mark.testbed

ZONE = "signed.dnssec.test"
HOST = f"mail.{ZONE}"


def resolve(tb, name: str, rdtype: str = "SOA") -> dns.message.Message:
    """Ask the testbed resolver with DNSSEC records wanted, as a validating sender's stub would."""
    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    query.flags |= dns.flags.AD
    return dns.query.udp(query, tb.dns.resolver, timeout=3)


def eventually(probe, what: str, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < end, what
        time.sleep(0.5)
    return result


def doctor(tb):
    report = Doctor(DoctorConfig(resolver=tb.dns.resolver, managed="rfc2136")).run(
        ServerTarget("mail1", HOST, ipv4=(tb.layout.host_address(197),), domains=(MailDomain(ZONE),)),
        MailDomain(ZONE),
    )
    return report


def right_ds(tb) -> str:
    """The DS record of the zone's current key-signing key, as the registrar should hold it."""
    ksk = next(k for k in tb._dns.dnskeys(ZONE) if k.flags & 1)
    return dns.dnssec.make_ds(f"{ZONE}.", ksk, "SHA256").to_text()


def secure(tb) -> None:
    """Publish the right DS and wait until the resolver validates the zone."""
    tb.set_ds(ZONE, [right_ds(tb)])
    eventually(lambda: resolve(tb, ZONE).flags & dns.flags.AD, f"the resolver did not validate {ZONE}")


def finding(report, code: str):
    return next((f for f in report.findings if f.code == code), None)


@pytest.fixture(scope="module")
def signed(testbed):
    testbed.add_zone(ZONE, signed=True)
    testbed.set_ds(ZONE, [])  # an instance kept from an earlier session may still hold one
    eventually(lambda: testbed._dns.dnskeys(ZONE), f"BIND did not sign {ZONE}")
    yield testbed
    testbed.set_ds(ZONE, [])


def test_the_registry_validates_from_the_trust_anchor(signed):
    answer = resolve(signed, "dnssec.test")
    assert answer.rcode() == dns.rcode.NOERROR
    assert answer.flags & dns.flags.AD


def test_ds_at_the_registrar_makes_the_signed_zone_validate(signed):
    report = doctor(signed)
    missing = finding(report, "dnssec.ds-missing")
    assert missing is not None, report.checks["dnssec"]
    assert not resolve(signed, ZONE).flags & dns.flags.AD  # signed, but nothing leads to its key
    assert [(r.name, r.rtype, r.value) for r in missing.records] == [(ZONE, "DS", right_ds(signed))]
    assert any(s.startswith(f"At the registrar where {ZONE} is registered") for s in missing.guidance)

    signed.set_ds(ZONE, [r.value for r in missing.records])  # what the owner types at the registrar
    answer = eventually(lambda: (a := resolve(signed, ZONE)).flags & dns.flags.AD and a,
                        "the resolver did not validate the zone once its DS was published")
    assert answer.rcode() == dns.rcode.NOERROR
    report = doctor(signed)
    assert report.checks["dnssec"].status is Status.OK, report.checks["dnssec"].detail
    assert not [f for f in report.findings if f.code.startswith("dnssec.")]
    # signed and validated: DANE counts now, so a missing TLSA record is named
    assert finding(report, "tlsa.missing") is not None


def test_a_wrong_ds_is_refused_by_the_resolver_and_named_by_the_doctor(signed):
    right = right_ds(signed)
    wrong = right[:-8] + ("0" * 8 if not right.endswith("0" * 8) else "1" * 8)
    signed.set_ds(ZONE, [wrong])
    try:
        eventually(lambda: resolve(signed, ZONE).rcode() == dns.rcode.SERVFAIL,
                   "the validating resolver kept answering for a zone whose DS names no key")
        report = doctor(signed)
        mismatch = finding(report, "dnssec.ds-mismatch")
        assert mismatch is not None and mismatch.status is Status.ERROR
        assert [r.value for r in mismatch.records] == [right]
        assert report.status is Readiness.FAILING
    finally:
        signed.set_ds(ZONE, [right])
    eventually(lambda: resolve(signed, ZONE).flags & dns.flags.AD, "the zone did not validate again")


def test_a_zone_signing_key_rollover_keeps_the_zone_validating(signed):
    secure(signed)
    old = signed.rollover_zsk(ZONE)

    def signing_tags() -> set[int]:
        answer = resolve(signed, ZONE)
        # every answer during the rollover validates
        assert answer.flags & dns.flags.AD, f"validation broke during the rollover: {answer}"
        return {sig.key_tag for rrset in answer.answer if rrset.rdtype == dns.rdatatype.RRSIG
                for sig in rrset}

    new_tags = eventually(lambda: (tags := signing_tags()) and old not in tags and tags,
                          "BIND did not sign with the successor key", timeout=180)
    zsks = {dns.dnssec.key_id(k) for k in signed._dns.dnskeys(ZONE) if not k.flags & 1}
    assert new_tags <= zsks and old not in new_tags
    assert doctor(signed).checks["dnssec"].status is Status.OK


def test_a_key_signing_key_rollover_by_the_doctors_steps_keeps_the_zone_validating(signed):
    """The owner rolls the key-signing key and does what the doctor asks at the registrar: add the
    successor's DS keeping the old one, then remove the old one (the testbed's registrar tells
    BIND each change, as parental agents would). Every answer validates throughout; BIND retires
    the old key only once the parent's DS set names the successor alone."""
    secure(signed)
    before = right_ds(signed)
    old = next(dns.dnssec.key_id(k) for k in signed._dns.dnskeys(ZONE) if k.flags & 1)
    # what the guide asks to see in `rndc dnssec -status` before rolling
    eventually(lambda: all(signed.key_states(ZONE)[old][f"{record}State"] == "omnipresent"
                           for record in ("DNSKEY", "KRRSIG", "DS")),
               "BIND did not take the current key-signing key for fully published", timeout=60)
    assert signed.rollover_ksk(ZONE) == old

    def asked(code: str):
        assert resolve(signed, ZONE).flags & dns.flags.AD, "validation broke during the rollover"
        report = doctor(signed)
        assert not {"dnssec.ds-mismatch", "dnssec.bogus"} & {f.code for f in report.findings}, report.findings
        return finding(report, code)

    add = eventually(lambda: asked("dnssec.ds-rollover"), "the doctor did not ask for the successor's DS",
                     timeout=60)
    successor = [r.value for r in add.records]
    new = {dns.dnssec.key_id(k) for k in signed._dns.dnskeys(ZONE) if k.flags & 1} - {old}
    assert len(successor) == 1 and before not in successor and len(new) == 1
    assert old in {dns.dnssec.key_id(k) for k in signed._dns.dnskeys(ZONE)}  # kept until the parent moves

    signed.set_ds(ZONE, [before, *successor])  # "add, keeping the DS record already there"
    # the zone's CDS records name the successor alone: the old DS is the one to remove
    stale = eventually(lambda: asked("dnssec.ds-stale"), "the doctor did not ask to remove the old DS")
    assert [r.value for r in stale.records] == [before]
    signed.set_ds(ZONE, successor)  # "remove"

    def retired() -> bool:
        assert resolve(signed, ZONE).flags & dns.flags.AD, "validation broke while the old key was retired"
        return old not in {dns.dnssec.key_id(k) for k in signed._dns.dnskeys(ZONE)}

    eventually(retired, "BIND did not retire the old key-signing key", timeout=60)
    report = doctor(signed)
    assert report.checks["dnssec"].status is Status.OK, report.checks["dnssec"].detail
    assert not [f for f in report.findings if f.code.startswith("dnssec.")]
    assert right_ds(signed) == successor[0]
    # the successor is the current key, ready for the next rollover
    (tag,) = new
    eventually(lambda: signed.key_states(ZONE)[tag]["DSState"] == "omnipresent",
               "BIND did not take the successor's DS for published", timeout=30)


class _Smtp(socketserver.StreamRequestHandler):
    """A mail server's port 25 as a DANE sender meets it: banner, EHLO offering STARTTLS, the
    handshake with the server's certificate (``server.tls``), QUIT."""

    def handle(self) -> None:
        self.wfile.write(b"220 mail ESMTP\r\n")
        while line := self.rfile.readline().upper():
            if line.startswith(b"EHLO"):
                self.wfile.write(b"250-mail\r\n250 STARTTLS\r\n")
            elif line.startswith(b"STARTTLS"):
                self.wfile.write(b"220 go ahead\r\n")
                try:
                    with self.server.tls.wrap_socket(self.connection, server_side=True) as tls:  # type: ignore[attr-defined]
                        tls.recv(1024)
                        tls.sendall(b"221 bye\r\n")
                except (OSError, ssl.SSLError):
                    pass
                return
            else:
                self.wfile.write(b"221 bye\r\n")
                return


def certificate(folder, name: str):
    """A self-signed certificate for ``name``: (its DER, a server context serving it)."""
    from selfsigned import self_signed

    cert, key, der = self_signed(folder, name)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    return der, tls


def set_tlsa(tb, value: str | None) -> None:
    """Replace the mail host's TLSA set (None: remove it) and wait until the resolver serves it."""
    info = tb.dns
    keyring = dns.tsigkeyring.from_text({info.tsig_name: info.tsig_secret})
    update = dns.update.UpdateMessage(ZONE, keyring=keyring, keyalgorithm=info.tsig_algorithm)
    name = f"_25._tcp.{HOST}."
    update.delete(name, "TLSA")
    if value is not None:
        update.add(name, 60, "TLSA", value)
    assert dns.query.tcp(update, info.primary, timeout=5).rcode() == dns.rcode.NOERROR
    tb.flush_cache(name, "TLSA")

    def served() -> bool:
        answer = dns.query.udp(dns.message.make_query(name, "TLSA"), tb.dns.primary, timeout=3)
        return [r.to_text() for rrset in answer.answer if rrset.rdtype == dns.rdatatype.TLSA
                for r in rrset] == ([] if value is None else [value.lower()])
    eventually(served, f"the primary did not serve the TLSA {value}")


@pytest.fixture
def job_plane(signed, tmp_path, monkeypatch):
    """A control plane's database with one active server whose mail host lives in the signed zone
    and whose port 25 (on a loopback address of this instance) serves a certificate of its own; the
    doctor's job reads the testbed resolver."""
    import json

    from jobs.app import use_app
    from webapp.extensions import db
    from webapp.models import Domain, DomainStatus, Role, Server, ServerStatus
    from webapp.services import accounts, tenants
    from webapp.services.scope import Scope
    from webapp.testing import TEST_PASSWORD, make_app

    tb = signed
    secure(tb)  # DANE counts only where DNSSEC secures the zone
    address = tb.layout.loopback(25)  # 1..8 are the testbed's services
    der, tls = certificate(tmp_path / "tls", HOST)
    smtp = socketserver.ThreadingTCPServer((address, 25), _Smtp)
    smtp.tls = tls  # type: ignore[attr-defined]
    listening = threading.Thread(target=smtp.serve_forever, daemon=True)
    listening.start()
    config = tmp_path / "monitoring.json"
    config.write_text(json.dumps({"resolver": tb.dns.resolver, "dns_timeout": 2, "tls_timeout": 10}))
    monkeypatch.setenv("MAILFLEET_MONITORING_CONFIG_FILE", str(config))
    app = make_app(tmp_path)
    site = tmp_path / "site.yml"
    site.write_text("dns_provider: rfc2136\nletsencrypt_directory: pebble\n")
    app.config["MAILFLEET_SITE_VARS_FILE"] = str(site)
    use_app(app)
    try:
        with app.app_context():
            admin = accounts.create_user("admin@example.com", TEST_PASSWORD, Role.ADMIN, None)
            acme = tenants.create_tenant(Scope(admin), "acme", "Acme")
            server = Server(tenant_id=acme.id, name="mf-acme-1", mail_hostname=HOST, public_ipv4=address,
                            status=ServerStatus.ACTIVE)
            db.session.add(server)
            db.session.flush()
            domain = Domain(tenant_id=acme.id, server_id=server.id, name=ZONE, status=DomainStatus.ACTIVE)
            db.session.add(domain)
            db.session.commit()
            yield tb, domain.id, der
            db.session.remove()
            db.engine.dispose()
    finally:
        use_app(None)
        smtp.shutdown()
        smtp.server_close()
        listening.join(10)
        set_tlsa(tb, None)


def test_the_check_job_compares_tlsa_with_the_certificate_the_server_serves(job_plane, tmp_path):
    """The RQ job's own path (jobs.dnsdoctor.check_domain, its settings read as a worker reads
    them): a DANE-EE record of another key in the signed zone is tlsa.mismatch, whose record to
    set is the served key's; with that record published the next check passes."""
    from jobs.dnsdoctor import check_domain
    from mailfleet.monitoring.tlsinfo import dane_ee_value
    from webapp.extensions import db
    from webapp.models import Domain

    tb, domain_id, served = job_plane
    old, _ = certificate(tmp_path / "old", HOST)
    set_tlsa(tb, dane_ee_value(old))
    assert check_domain(domain_id)["checked"] == 1
    db.session.expire_all()
    report = db.session.get(Domain, domain_id).dns_report
    assert report["checks"]["tlsa"]["code"] == "tlsa.mismatch", report["checks"]["tlsa"]
    mismatch = next(f for f in report["findings"] if f["code"] == "tlsa.mismatch")
    assert mismatch["blocking"] and report["status"] == "failing"
    assert [(r["name"], r["type"], r["value"]) for r in mismatch["records"]] == [
        (f"_25._tcp.{HOST}", "TLSA", dane_ee_value(served))]

    set_tlsa(tb, dane_ee_value(served))  # what the Fix publishes: the dns role's TLSA of the served key
    check_domain(domain_id)
    db.session.expire_all()
    tlsa = db.session.get(Domain, domain_id).dns_report["checks"]["tlsa"]
    assert tlsa["status"] == "ok" and "matches the certificate served on port 25" in tlsa["detail"], tlsa
