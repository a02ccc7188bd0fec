"""The planner against an in-memory zone that applies RFC 2136 RRset changes like BIND would."""

from __future__ import annotations

import pytest

from mailfleet.dns import DnsConflictError, Record, plan_unit
from mailfleet.dns.ownership import digest, parse_manifest

pytestmark = pytest.mark.unit

MANIFEST = "_mailfleet.example.test"


class FakeZone:
    def __init__(self, *records: Record) -> None:
        self.sets: dict[tuple[str, str], tuple[int, set[str]]] = {}
        for r in records:
            self.sets.setdefault((r.name, r.rtype), (r.ttl, set()))[1].add(r.value)

    def rrset(self, name: str, rtype: str) -> list[Record]:
        ttl, values = self.sets.get((name, rtype), (0, set()))
        return [Record(name, rtype, v, ttl) for v in sorted(values)]

    def cname_at(self, name: str) -> str | None:
        values = self.sets.get((name, "CNAME"), (0, set()))[1]
        return next(iter(values), None)

    def has_other_data(self, name: str) -> bool:
        return any(n == name and t != "CNAME" and v for (n, t), (_, v) in self.sets.items())

    def apply(self, plan) -> None:
        for change in plan.rrsets:
            if change.values:
                self.sets[(change.name, change.rtype)] = (change.ttl, set(change.values))
            else:
                self.sets.pop((change.name, change.rtype), None)

    def values(self, name: str, rtype: str) -> set[str]:
        return set(self.sets.get((name, rtype), (0, set()))[1])


def rec(name, rtype, value, ttl=600):
    return Record.make(name, rtype, value, ttl)


SPF = rec("example.test", "TXT", "v=spf1 mx a:mail.example.test ~all")
MX = rec("example.test", "MX", "10 mail.example.test")
AUTOCONFIG = rec("autoconfig.example.test", "CNAME", "mail.example.test")
GOOGLE = rec("example.test", "TXT", "google-site-verification=abc")


def converge(zone, wanted):
    plan = plan_unit(MANIFEST, wanted, zone)
    zone.apply(plan)
    return plan


def test_first_run_adds_records_and_manifest_second_run_plans_nothing():
    zone = FakeZone(GOOGLE)
    plan = converge(zone, [SPF, MX, AUTOCONFIG])
    assert {r.key for r in plan.add} == {SPF.key, MX.key, AUTOCONFIG.key}
    assert plan.rrsets[0].name == MANIFEST  # manifest first: ownership recorded before creation
    assert len(parse_manifest(zone.values(MANIFEST, "TXT"))) == 3
    assert zone.values("example.test", "TXT") == {SPF.value, GOOGLE.value}  # foreign value carried along
    again = plan_unit(MANIFEST, [SPF, MX, AUTOCONFIG], zone)
    assert again.rrsets == [] and not again.add and not again.remove


def test_removes_only_owned_records_and_keeps_foreign_ones():
    foreign_mx = rec("example.test", "MX", "20 backup.example.test")
    zone = FakeZone(GOOGLE, foreign_mx)
    converge(zone, [SPF, MX, AUTOCONFIG])
    plan = converge(zone, [MX])
    assert {r.key for r in plan.remove} == {SPF.key, AUTOCONFIG.key}
    assert zone.values("example.test", "TXT") == {GOOGLE.value}
    assert zone.values("example.test", "MX") == {MX.value, foreign_mx.value}
    assert ("autoconfig.example.test", "CNAME") not in zone.sets
    assert len(parse_manifest(zone.values(MANIFEST, "TXT"))) == 1
    # Everything gone: the manifest goes too.
    converge(zone, [])
    assert zone.values("example.test", "MX") == {foreign_mx.value}
    assert (MANIFEST, "TXT") not in zone.sets


def test_a_wanted_record_that_exists_as_foreign_is_not_adopted():
    zone = FakeZone(MX)
    plan = converge(zone, [MX])
    assert plan.add == [] and plan.rrsets == []
    converge(zone, [])
    assert zone.values("example.test", "MX") == {MX.value}  # never ours, never removed


def test_changed_value_replaces_ours_and_ttl_change_is_applied():
    zone = FakeZone(GOOGLE)
    converge(zone, [SPF])
    new_spf = rec("example.test", "TXT", "v=spf1 mx -all")
    converge(zone, [new_spf])
    assert zone.values("example.test", "TXT") == {new_spf.value, GOOGLE.value}
    plan = converge(zone, [rec("example.test", "TXT", "v=spf1 mx -all", 300)])
    assert plan.retime and zone.sets[("example.test", "TXT")][0] == 300


def test_deleted_by_hand_is_recreated():
    zone = FakeZone()
    converge(zone, [MX])
    zone.sets.pop(("example.test", "MX"))
    plan = converge(zone, [MX])
    assert [r.key for r in plan.add] == [MX.key]


@pytest.mark.parametrize(
    ("foreign", "wanted"),
    [
        (rec("example.test", "TXT", "v=spf1 include:other.test -all"), SPF),
        (
            rec("_dmarc.example.test", "TXT", "v=DMARC1; p=none"),
            rec("_dmarc.example.test", "TXT", "v=DMARC1; p=reject"),
        ),
        (rec("autoconfig.example.test", "CNAME", "elsewhere.test"), AUTOCONFIG),
        (rec("autoconfig.example.test", "A", "198.18.0.9"), AUTOCONFIG),
        (rec("mail.example.test", "CNAME", "elsewhere.test"), rec("mail.example.test", "A", "198.18.0.10")),
    ],
)
def test_conflicting_foreign_records_fail_before_any_change(foreign, wanted):
    zone = FakeZone(foreign)
    with pytest.raises(DnsConflictError) as info:
        plan_unit(MANIFEST, [wanted], zone)
    assert foreign.name in str(info.value)


@pytest.mark.parametrize(
    ("foreign", "wanted"),
    [
        (rec("example.test", "TXT", "v=spf1 include:other.test -all"), SPF),
        (rec("dkim._domainkey.example.test", "TXT", "v=DKIM1; k=rsa; p=T3RoZXI="),
         rec("dkim._domainkey.example.test", "TXT", "v=DKIM1; k=rsa; p=TWFpbHU=")),
        (rec("autoconfig.example.test", "CNAME", "elsewhere.test"), AUTOCONFIG),
        (rec("mail.example.test", "CNAME", "elsewhere.test"), rec("mail.example.test", "A", "198.18.0.10")),
    ],
)
def test_take_over_deletes_the_conflicting_foreign_records_and_keeps_the_rest(foreign, wanted):
    zone = FakeZone(foreign, GOOGLE)
    plan = converge_taking_over(zone, [wanted])
    assert foreign.key in {r.key for r in plan.remove}
    assert zone.values(wanted.name, wanted.rtype) >= {wanted.value}
    assert foreign.value not in zone.values(foreign.name, foreign.rtype)
    assert GOOGLE.value in zone.values("example.test", "TXT")  # not in the way: kept
    assert parse_manifest(zone.values(MANIFEST, "TXT")) == {(wanted.name, wanted.rtype, digest(wanted))}
    assert plan_unit(MANIFEST, [wanted], zone).rrsets == []  # ours now: the next run changes nothing


def test_take_over_deletes_foreign_addresses_of_the_mail_host_that_other_runs_keep():
    ours, proxied = rec("mail.example.test", "A", "198.18.0.10"), rec("mail.example.test", "A", "104.16.0.1")
    zone = FakeZone(proxied, MX)
    converge(zone, [ours, MX])
    assert zone.values("mail.example.test", "A") == {ours.value, proxied.value}  # an ordinary run keeps it
    plan = converge_taking_over(zone, [ours, MX])
    assert [r.key for r in plan.remove] == [proxied.key]
    assert zone.values("mail.example.test", "A") == {ours.value}
    assert zone.values("example.test", "MX") == {MX.value}  # equal to ours: not in the way


def test_take_over_still_refuses_data_beside_a_wanted_cname():
    zone = FakeZone(rec("autoconfig.example.test", "A", "198.18.0.9"))
    with pytest.raises(DnsConflictError, match="autoconfig.example.test holds other records"):
        plan_unit(MANIFEST, [AUTOCONFIG], zone, take_over=True)


def converge_taking_over(zone, wanted):
    plan = plan_unit(MANIFEST, wanted, zone, take_over=True)
    zone.apply(plan)
    return plan


def test_switching_an_owned_cname_to_data_deletes_first():
    zone = FakeZone()
    converge(zone, [rec("mta-sts.example.test", "CNAME", "mail.example.test")])
    plan = converge(zone, [rec("mta-sts.example.test", "A", "198.18.15.10")])
    kinds = [(c.rtype, c.state) for c in plan.rrsets if c.name == "mta-sts.example.test"]
    assert kinds == [("CNAME", "absent"), ("A", "present")]
