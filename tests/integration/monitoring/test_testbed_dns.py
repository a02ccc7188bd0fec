"""DNS and DNSBL checks against the testbed's real BIND + Unbound (MAILFLEET_TESTBED_INSTANCE):
a healthy domain is green, a removed DKIM record turns red and opens exactly one alert that
resolves after the fix, a test DNSBL listing is "listed" with its delisting link, a test DNSBL
answering 127.255.255.254 is "unknown", and real lists (refused by the testbed resolver) are
"unknown", never "listed". Through the sweep job: a critical listing opens an incident and lowers
the caps at once (a server without a plan gets caps from its usual day, lifted when it clears), a
dead list is disabled and flagged, and a delisting is recorded and timed."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import dns.exception
import dns.message
import dns.query
import dns.tsigkeyring
import dns.update
import pytest
from controlplane import forget_deployment

from mailfleet.monitoring import (
    AlertPolicies,
    AlertPolicy,
    InMemoryHealthStore,
    MailDomain,
    MonitoringConfig,
    NotificationKind,
    ServerTarget,
    Status,
    SweepEngine,
    record_results,
)

pytestmark = pytest.mark.testbed

KEY = base64.b64encode(b"testbed-dkim-public-key-material-0123456789").decode()
DOMAIN = "mon.example.test"
HOST = f"mail.{DOMAIN}"
TEST_BL = {"name": "Testbed BL", "zone": "dnsbl.test", "delist_url": "https://dnsbl.test/remove"}
ERROR_BL = {"name": "Testbed error BL", "zone": "errbl.test", "delist_url": "https://errbl.test/remove"}
DEAD_BL = {"name": "Testbed dead BL", "zone": "deadbl.test", "delist_url": "https://deadbl.test/remove"}
CACHE_S = 6  # the testbed resolver caches answers for at most 5 s


def update(tb, zone: str, changes) -> None:
    info = tb.dns
    keyring = dns.tsigkeyring.from_text({info.tsig_name: info.tsig_secret})
    msg = dns.update.UpdateMessage(zone, keyring=keyring, keyalgorithm=info.tsig_algorithm)
    for op, name, rtype, value in changes:
        if op == "replace":
            msg.replace(name + ".", 60, rtype, value)
        else:
            msg.delete(name + ".", rtype)
    response = dns.query.tcp(msg, info.primary, timeout=5)
    assert response.rcode() == 0, response
    # The resolver asks primary and secondary alike: wait until the secondary has the change too.
    end = time.monotonic() + 20
    while serial(info.secondary, zone) != serial(info.primary, zone) and time.monotonic() < end:
        time.sleep(0.2)
    time.sleep(1.1)  # the resolver keeps negative answers for 1 s


def serial(server: str, zone: str) -> int | None:
    try:
        answer = dns.query.udp(dns.message.make_query(zone, "SOA"), server, timeout=1)
    except dns.exception.Timeout:
        return None
    return answer.answer[0][0].serial if answer.answer else None


@pytest.fixture(scope="module")
def zones(testbed):
    testbed.add_zone("dnsbl.test")
    testbed.add_zone("errbl.test")
    testbed.add_zone("deadbl.test")  # lists nothing, not even its test entry: a dead list
    address = testbed.layout.host_address(199)  # inside this instance's network; nothing is probed there
    reverse = ".".join(reversed(address.split(".")))
    update(
        testbed,
        "example.test",
        [
            ("replace", HOST, "A", address),
            ("replace", DOMAIN, "MX", f"10 {HOST}."),
            ("replace", DOMAIN, "TXT", f'"v=spf1 mx a:{HOST} ~all"'),
            ("replace", f"dkim._domainkey.{DOMAIN}", "TXT", f'"v=DKIM1; k=rsa; p={KEY}"'),
            ("replace", f"_dmarc.{DOMAIN}", "TXT", '"v=DMARC1; p=reject; adkim=s; aspf=s"'),
        ],
    )
    update(testbed, testbed._dns.reverse_zone(), [("replace", f"{reverse}.in-addr.arpa", "PTR", f"{HOST}.")])
    update(testbed, "dnsbl.test", [("replace", f"{reverse}.dnsbl.test", "A", "127.0.0.2"),
                                   ("replace", "2.0.0.127.dnsbl.test", "A", "127.0.0.2")])
    update(testbed, "errbl.test", [("replace", "*.errbl.test", "A", "127.255.255.254")])
    return address


def engine(testbed, checks) -> SweepEngine:
    return SweepEngine(
        MonitoringConfig.from_mapping(
            {
                "resolver": testbed.dns.resolver,
                "checks": checks,
                "ip_lists": [TEST_BL, ERROR_BL, DEAD_BL, "zen.spamhaus.org", "bl.spamcop.net"],
                "domain_lists": ["dbl.spamhaus.org"],
            }
        )
    )


def target(address: str) -> ServerTarget:
    return ServerTarget("mon1", HOST, ipv4=(address,), domains=(MailDomain(DOMAIN, dkim_public_key=KEY),))


def wait_for_serials(sweep, t, deadline_s: float = 20.0):
    """The secondary catches up by NOTIFY + transfer; wait until SOA is green (or give up)."""
    end = time.monotonic() + deadline_s
    while True:
        got = sweep.run([t]).for_server("mon1")
        if got["soa:example.test"].status is Status.OK or time.monotonic() > end:
            return got
        time.sleep(1)


def test_healthy_domain_records_are_green(testbed, zones):
    got = wait_for_serials(engine(testbed, ["dns", "ptr", "soa"]), target(zones))
    for key in (
        f"dns:a:{HOST}",
        f"dns:aaaa:{HOST}",
        f"mx:{DOMAIN}",
        f"spf:{DOMAIN}",
        f"dkim:{DOMAIN}",
        f"dmarc:{DOMAIN}",
        f"ptr:{zones}",
        "soa:example.test",
    ):
        assert got[key].status is Status.OK, got[key]
    assert isinstance(got["soa:example.test"].value, int)


def test_dnsbl_listing_error_answer_and_real_lists(testbed, zones):
    got = engine(testbed, ["dnsbl"]).run([target(zones)]).for_server("mon1")
    listed = got[f"dnsbl:dnsbl.test:{zones}"]
    assert listed.status is Status.ERROR and listed.value == "127.0.0.2"
    assert listed.link == "https://dnsbl.test/remove"
    refused = got[f"dnsbl:errbl.test:{zones}"]
    assert refused.status is Status.UNKNOWN and refused.link is None
    assert "public/open resolver" in refused.detail
    dead = got[f"dnsbl:deadbl.test:{zones}"]  # "not listed" from a list that lists nothing: unknown
    assert dead.status is Status.UNKNOWN and "failed its self-test" in dead.detail, dead
    # The testbed resolver refuses every zone but its own: real lists come back unknown, never listed.
    for key in (
        f"dnsbl:zen.spamhaus.org:{zones}",
        f"dnsbl:bl.spamcop.net:{zones}",
        f"dnsbl:dbl.spamhaus.org:{DOMAIN}",
    ):
        assert got[key].status is Status.UNKNOWN, got[key]


def test_removed_dkim_record_opens_one_alert_that_resolves_after_the_fix(testbed, zones):
    sweep = engine(testbed, ["dns", "dnsbl"])
    store = InMemoryHealthStore()
    policies = AlertPolicies(AlertPolicy(fail_after=2, pass_after=2))
    notes = []

    def run_sweeps(n: int):
        for _ in range(n):
            notes.extend(record_results(store, sweep.run([target(zones)]).results, policies))

    run_sweeps(2)
    dkim_key = ("mon1", f"dkim:{DOMAIN}")
    assert store.states[dkim_key].last_status is Status.OK
    update(testbed, "example.test", [("delete", f"dkim._domainkey.{DOMAIN}", "TXT", None)])
    try:
        time.sleep(CACHE_S)
        run_sweeps(3)
        assert store.states[dkim_key].last_status is Status.ERROR
        dkim = [r for r in store.results if r.check == f"dkim:{DOMAIN}"][-1]
        assert dkim.status is Status.ERROR and "no record" in dkim.detail
    finally:
        update(
            testbed,
            "example.test",
            [("replace", f"dkim._domainkey.{DOMAIN}", "TXT", f'"v=DKIM1; k=rsa; p={KEY}"')],
        )
    time.sleep(CACHE_S)
    run_sweeps(3)
    dkim_notes = [n for n in notes if n.alert.check == f"dkim:{DOMAIN}"]
    assert [n.kind for n in dkim_notes] == [NotificationKind.OPENED, NotificationKind.RESOLVED]
    assert store.states[dkim_key].alert is None
    # The DNSBL listing opened its own single alert, carrying the delisting link; it stays open.
    bl = store.states[("mon1", f"dnsbl:dnsbl.test:{zones}")].alert
    assert bl is not None and bl.link == "https://dnsbl.test/remove"
    assert sum(1 for n in notes if n.alert.check == f"dnsbl:dnsbl.test:{zones}") == 1
    # Error answers and refused real lists never open an alert.
    assert not any(n.alert.check.startswith(("dnsbl:errbl.test", "dnsbl:zen.")) for n in notes)


def test_delisting_resolves_the_dnsbl_alert(testbed, zones):
    sweep = engine(testbed, ["dnsbl"])
    store = InMemoryHealthStore()
    policies = AlertPolicies(AlertPolicy(fail_after=1, pass_after=1))
    reverse = ".".join(reversed(zones.split(".")))
    first = record_results(store, sweep.run([target(zones)]).results, policies)
    assert [n.kind for n in first] == [NotificationKind.OPENED]
    update(testbed, "dnsbl.test", [("delete", f"{reverse}.dnsbl.test", "A", None)])
    try:
        time.sleep(CACHE_S)
        second = record_results(store, sweep.run([target(zones)]).results, policies)
        assert [n.kind for n in second] == [NotificationKind.RESOLVED]
    finally:
        update(testbed, "dnsbl.test", [("replace", f"{reverse}.dnsbl.test", "A", "127.0.0.2"),
                                   ("replace", "2.0.0.127.dnsbl.test", "A", "127.0.0.2")])


JOB_DOMAIN = "job.example.test"
JOB_HOST = f"mail.{JOB_DOMAIN}"


def test_the_sweep_job_checks_the_mail_host_name_and_asks_its_mailu_for_dkim(
    testbed, zones, tmp_path, monkeypatch
):
    """The server is made as the product makes it (provision form, provider, refresh): its provider
    host name is hwsrv-<id>.hostwindsdns.com, its mail host name mail.job.example.test. MX, A and
    PTR are judged against the mail host name; the DKIM key is read from the Mailu double at the
    mail host name, per domain, and matches the published record."""
    from provisioned import provision
    from sqlalchemy import select

    from jobs.app import use_app
    from jobs.health import dkim_key, sweep_health
    from testbed.doubles import mailu as mailu_double
    from webapp.extensions import db
    from webapp.integrations import secret_store
    from webapp.models import HealthCheck, Role
    from webapp.services import accounts, fleet, tenants
    from webapp.services.scope import Scope
    from webapp.testing import ServedApp, make_app

    address = testbed.layout.host_address(198)  # nothing is probed there: DNS checks only
    config = tmp_path / "monitoring.json"
    config.write_text(f'{{"resolver": "{testbed.dns.resolver}", "checks": ["dns", "ptr"]}}')
    forget_deployment(monkeypatch)  # not the session plane's site file, facts folder or alerts
    monkeypatch.setenv("MAILFLEET_MONITORING_CONFIG_FILE", str(config))
    mailu_state = mailu_double.MailuDoubleState()
    served = ServedApp(mailu_double.create_app(mailu_state))
    app = make_app(tmp_path, MAILFLEET_MAILU_URL=served.url + "/{host}/api/v1")
    use_app(app)
    try:
        with app.app_context():
            scope = Scope(
                accounts.create_user("admin@example.com", "correct horse battery", Role.ADMIN, None)
            )
            tenant = tenants.create_tenant(scope, "job", "Job")
            server = provision(app, scope, tenant, JOB_HOST, address)
            fleet.add_domain(scope, tenant, server.id, JOB_DOMAIN)
            assert server.hostname.endswith(".hostwindsdns.com")

            # The server's Mailu (as the mailu role leaves it) signs JOB_DOMAIN; DNS has its records.
            token = secret_store(app).get_field("tenants/job/mailu", "api_token")
            mailu = mailu_state.register(JOB_HOST, {"api_token": token, "domain": JOB_DOMAIN})
            mailu.new_domain(JOB_DOMAIN, dkim_key=mailu_double.generate_dkim_key())
            selector, key = dkim_key(mailu.domain_view(JOB_DOMAIN)["dns_dkim"])
            txt = f"v=DKIM1; k=rsa; p={key}"
            chunks = " ".join(f'"{txt[i : i + 250]}"' for i in range(0, len(txt), 250))
            reverse = ".".join(reversed(address.split(".")))
            update(
                testbed,
                "example.test",
                [
                    ("replace", JOB_HOST, "A", address),
                    ("replace", JOB_DOMAIN, "MX", f"10 {JOB_HOST}."),
                    ("replace", f"{selector}._domainkey.{JOB_DOMAIN}", "TXT", chunks),
                ],
            )
            update(
                testbed,
                testbed._dns.reverse_zone(),
                [("replace", f"{reverse}.in-addr.arpa", "PTR", f"{JOB_HOST}.")],
            )

            assert sweep_health()["servers"] == 1
            checks = {
                c.check: c
                for c in db.session.scalars(select(HealthCheck).where(HealthCheck.server_id == server.id))
            }
            for key_ in (f"dns:a:{JOB_HOST}", f"mx:{JOB_DOMAIN}", f"dkim:{JOB_DOMAIN}", f"ptr:{address}"):
                assert checks[key_].last_status == "ok", (key_, checks[key_].last_detail)
            assert not any(server.hostname in c for c in checks)
            db.session.remove()
            db.engine.dispose()
    finally:
        use_app(None)
        served.stop()


LISTED_HOST = "mail.listed.example.test"
PLAIN_HOST = "mail.plain.example.test"
CRITICAL_BL = {**TEST_BL, "codes": {"127.0.0.2": {"meaning": "SBL-like test listing", "critical": True}}}


def test_a_critical_listing_opens_an_incident_and_lowers_the_caps_at_once_until_a_recheck_clears_it(
    testbed, zones, tmp_path, monkeypatch
):
    """The sweep job against the testbed's lists: a server warming up (day 5 of the standard curve)
    whose address the test list lists with a critical code. One sweep opens a critical incident
    (alerts otherwise wait for three failing sweeps), lowers the server's caps to a tenth and
    queues their push, and writes the lowered caps on the incident's timeline. A second listed
    server has no plan: it is capped at a tenth of its usual day, pushed, until its listing clears.
    The dead list is disabled and flagged on the control plane's board. Delisting is requested, the
    listings go, the re-checks clear them (the second server's caps are lifted and pushed), and the
    listing's times are kept."""
    from provisioned import provision_servers
    from sqlalchemy import select

    from jobs.app import use_app
    from jobs.health import sweep_health
    from mailfleet.clock import utcnow
    from mailfleet.monitoring import EventKind
    from mailfleet.warmup import curve
    from webapp.extensions import db
    from webapp.models import HealthAlert, HealthCheck, MailCount, Role, Run
    from webapp.services import accounts, delisting, tenants, warmup
    from webapp.services.scope import Scope
    from webapp.testing import make_app

    address = testbed.layout.host_address(197)  # nothing is probed there: blocklists only
    entry = f"{'.'.join(reversed(address.split('.')))}.dnsbl.test"
    plain_address = testbed.layout.host_address(198)
    plain_entry = f"{'.'.join(reversed(plain_address.split('.')))}.dnsbl.test"
    config = tmp_path / "monitoring.json"
    config.write_text(json.dumps(
        {"resolver": testbed.dns.resolver, "checks": ["dnsbl"], "ip_lists": [CRITICAL_BL, DEAD_BL],
         "domain_lists": []}
    ))
    forget_deployment(monkeypatch)
    monkeypatch.setenv("MAILFLEET_MONITORING_CONFIG_FILE", str(config))
    app = make_app(tmp_path)
    use_app(app)
    update(testbed, "dnsbl.test", [("replace", entry, "A", "127.0.0.2"),
                                    ("replace", plain_entry, "A", "127.0.0.2")])
    try:
        with app.app_context():
            admin = accounts.create_user("admin@example.com", "correct horse battery", Role.ADMIN, None)
            scope = Scope(admin)
            tenant = tenants.create_tenant(scope, "listed", "Listed")
            hosts = {LISTED_HOST: address, PLAIN_HOST: plain_address}
            server, plain = provision_servers(app, scope, tenant, hosts)
            warmup.set_plan(scope, server.id, "standard", started_on=warmup.today() - timedelta(days=4))
            for days_ago in range(1, 8):  # the facts runs' counts of the week before: 1,500 a day
                db.session.add(MailCount(server_id=plain.id, day=warmup.today() - timedelta(days=days_ago),
                                         sent=1_500, collected_at=utcnow()))
            db.session.commit()

            def pushes(of) -> int:
                return db.session.query(Run).filter_by(catalogue_key="sendcap", limit=of.name).count()

            before = pushes(server)

            sweep_health()
            check = f"dnsbl:dnsbl.test:{address}"
            [incident] = db.session.scalars(select(HealthAlert).where(HealthAlert.check == check)).all()
            assert (incident.severity, incident.resolved_at) == ("critical", None)
            assert "critically listed on Testbed BL" in incident.detail
            found = warmup.status(warmup.plan_of(server))  # the ramp holds: day 5 stays day 4
            caps, held = found.today, curve("standard")[found.day - 1]
            assert (found.day, found.backoff.factor) == (4, 0.1)
            assert (caps.daily, caps.hourly) == (held.daily // 10, max(1, held.hourly // 10))
            assert pushes(server) == before + 1
            assert warmup.plan_of(plain) is None and pushes(plain) == 1
            plain_caps = {warmup.today().isoformat(): {"daily": 150, "hourly": 19}}
            assert warmup.cap_table(plain)["ip_days"] == plain_caps
            lowered = [e.detail for e in incident.events if e.kind == EventKind.CAPS_LOWERED]
            assert lowered and f"lowered to {caps.daily} a day" in lowered[0], lowered
            flagged = db.session.scalars(
                select(HealthCheck).where(HealthCheck.check == "dnsbl-selftest:deadbl.test")
            ).one()
            assert flagged.server_id is None and flagged.last_status == "warning"
            assert "deadbl.test is disabled: it failed its self-test" in flagged.last_detail

            delisting.request_delisting(scope, incident.id, "compromised mailbox closed")
            update(testbed, "dnsbl.test", [("delete", entry, "A", None), ("delete", plain_entry, "A", None)])
            time.sleep(CACHE_S)
            sweep_health()
            assert warmup.cap_table(plain)["ip_days"] == plain_caps  # its incident is still open
            sweep_health()  # the default policy resolves after two passing checks
            db.session.refresh(incident)
            assert incident.resolved_at is not None
            assert warmup.cap_table(plain)["ip_days"] == {} and pushes(plain) == 2
            listing = delisting.listing_of(incident)
            assert listing.requested_by == "admin@example.com"
            assert listing.detected_at <= listing.requested_at <= listing.delisted_at
            assert listing.time_to_delist is not None and listing.time_listed is not None
            db.session.remove()
            db.engine.dispose()
    finally:
        update(testbed, "dnsbl.test", [("delete", entry, "A", None), ("delete", plain_entry, "A", None)])
        use_app(None)
