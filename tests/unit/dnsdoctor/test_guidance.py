"""Provider guidance: the DNS host is read from the NS names, and each record is explained in that
host's own panel terms; every finding code the checks emit has a catalogue entry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailfleet.dns.rdata import Record
from mailfleet.dnsdoctor import CATALOGUE, SECTIONS, detect_host
from mailfleet.dnsdoctor.guidance import record_steps, steps_for

pytestmark = pytest.mark.unit

CHECKS = Path(__file__).resolve().parents[3] / "mailfleet" / "monitoring" / "dnschecks.py"
SPF = Record.make("acme.example", "TXT", "v=spf1 mx a:mail.acme.example ~all", 600)
MX = Record.make("acme.example", "MX", "10 mail.acme.example.", 600)


def test_every_code_the_checks_emit_is_explained():
    emitted = set(re.findall(r'code=f?"([a-z0-9.{}-]+)"', CHECKS.read_text()))
    expanded = {c.replace("{family}", f) for c in emitted for f in ("a", "aaaa")}
    assert expanded - set(CATALOGUE) == set()
    assert all(p.section in SECTIONS and p.title and p.explanation for p in CATALOGUE.values())


@pytest.mark.parametrize(("ns", "managed", "key", "is_managed"), [
    (["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"], None, "cloudflare", False),
    (["ada.ns.cloudflare.com"], "cloudflare", "cloudflare", True),
    (["ns-1.awsdns-01.org"], None, "route53", False),
    (["ns1.example.test", "ns2.example.test"], "rfc2136", "rfc2136", True),
    (["ns1.domaincontrol.com"], None, "registrar", False),
    (["ns1.somewhere.example"], None, "registrar", False),
])
def test_dns_host_from_ns_names(ns, managed, key, is_managed):
    host = detect_host(ns, managed)
    assert (host.key, host.managed) == (key, is_managed)


def test_cloudflare_steps_use_its_panel_and_dns_only():
    host = detect_host(["ada.ns.cloudflare.com"])
    (step,) = record_steps(host, MX, "acme.example")
    assert "Mail server: mail.acme.example, Priority: 10" in step and "DNS only" in step
    (step,) = record_steps(host, SPF, "acme.example")
    assert "Name @" in step and "Content: v=spf1 mx a:mail.acme.example ~all" in step
    proxied = steps_for("host.proxied", host, [Record.make("mail.acme.example", "A", "192.0.2.1")],
                        "acme.example", "")
    assert "grey cloud" in proxied[0] and "mail.acme.example" in proxied[0]


def test_rfc2136_steps_are_nsupdate_lines_and_say_mailfleet_republishes():
    host = detect_host(["ns1.example.test"], "rfc2136")
    steps = steps_for("spf.missing", host, [SPF], "acme.example", "")
    assert "re-run the domain" in steps[0]
    assert 'update add acme.example. 600 TXT "v=spf1 mx a:mail.acme.example ~all"' in steps[1]


def test_generic_registrar_steps_name_host_and_value():
    host = detect_host(["ns1.registrar.example"])
    (step,) = steps_for("spf.missing", host, [SPF], "acme.example", "")
    assert "Host/Name @" in step and "Value v=spf1 mx a:mail.acme.example ~all" in step


def test_ptr_is_set_at_the_server_provider_not_in_the_zone():
    ptr = Record("10.2.0.192.in-addr.arpa", "PTR", "mail.acme.example.")
    (step,) = steps_for("ptr.missing", detect_host(["ada.ns.cloudflare.com"]), [ptr], "acme.example", "")
    assert "server provider" in step and "mail.acme.example" in step
