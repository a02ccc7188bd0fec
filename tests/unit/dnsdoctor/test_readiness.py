"""A domain's readiness from its findings and the propagation of its records: a server that did not
answer makes it unknown (never failing), and a resolver still caching the old answer while every
authoritative server serves the fix makes it propagating, with the time left."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailfleet.dns.rdata import Record
from mailfleet.dnsdoctor import Finding, NameServer, Readiness, RecordPropagation, Report, ServerAnswer
from mailfleet.dnsdoctor.guidance import DnsHost
from mailfleet.monitoring.results import Status

pytestmark = pytest.mark.unit

DOMAIN = "acme.example"
SPF = Record.make(DOMAIN, "TXT", "v=spf1 mx a:mail.acme.example -all", 300)
NS1 = NameServer("ns1.acme.example", "192.0.2.1", "authoritative")
NS2 = NameServer("ns2.acme.example", "192.0.2.2", "authoritative")
PANEL = NameServer("resolver 192.0.2.53", "192.0.2.53", "resolver")


def answer(server: NameServer, values: tuple[str, ...], ttl: int | None = 300, error: str | None = None):
    reference = (SPF.value,)
    return ServerAnswer(server, values, ttl, error, error is None and values == reference,
                        error is None and SPF.value in values)


def spf_propagation(*answers: ServerAnswer) -> RecordPropagation:
    return RecordPropagation(DOMAIN, "TXT", (SPF.value,), answers)


def report(findings=(), propagation=()) -> Report:
    return Report(DOMAIN, DOMAIN, DnsHost("rfc2136", "your DNS server", True), datetime.now(UTC),
                  tuple(findings), {}, tuple(propagation), 0.1)


SPF_WRONG = Finding("spf.not-authorised", Status.ERROR, "SPF does not authorise mail.acme.example",
                    (SPF,))
OLD = ("v=spf1 ip4:198.51.100.7 -all",)


def test_everything_right_everywhere_is_ready():
    done = spf_propagation(answer(NS1, (SPF.value,)), answer(NS2, (SPF.value,)), answer(PANEL, (SPF.value,)))
    assert report(propagation=[done]).status is Readiness.READY


def test_a_resolver_caching_the_old_answer_is_propagating_with_the_time_left():
    stale = spf_propagation(answer(NS1, (SPF.value,)), answer(NS2, (SPF.value,)), answer(PANEL, OLD, ttl=4))
    found = report([SPF_WRONG], [stale])
    assert found.status is Readiness.PROPAGATING
    assert found.settles_in == 4
    assert "a resolver still caches the old answer" in found.reasons[0]
    assert found.to_dict()["settles_in"] == 4


def test_the_same_failure_with_a_name_server_behind_or_wrong_is_failing():
    behind = spf_propagation(answer(NS1, (SPF.value,)), answer(NS2, OLD), answer(PANEL, OLD, ttl=4))
    assert report([SPF_WRONG], [behind]).status is Readiness.FAILING
    # every server agrees on the wrong record: no cache to wait for
    wrong = spf_propagation(answer(NS1, OLD), answer(NS2, OLD), answer(PANEL, OLD))
    assert report([SPF_WRONG], [wrong]).status is Readiness.FAILING


def test_a_check_without_an_answer_is_unknown_not_failing():
    timed_out = Finding("check.unavailable", Status.UNKNOWN,
                        "TXT acme.example: no answer within 3 s (asked twice)")
    assert report([timed_out]).status is Readiness.UNKNOWN
    silent = spf_propagation(answer(NS1, (SPF.value,)), answer(NS2, (), None, "no answer within 3 s"))
    assert report(propagation=[silent]).status is Readiness.UNKNOWN
    # a real failure still wins: the domain is failing whatever else is unknown
    assert report([timed_out, SPF_WRONG]).status is Readiness.FAILING
