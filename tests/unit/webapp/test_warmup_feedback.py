"""Message counts from the facts documents into mail_counts, and the warm-up back-off they feed: a
burst of reputation deferrals today halves the server's caps for a day, holds its ramp, pushes the
caps (one sendcap run) and reads as the `warmup` check; a quiet day, a malformed section or
yesterday's counts change no plan. A blocklist listing lowers the caps to a quarter for a day, a
critical one to a tenth, warm IP or not, on the incident's timeline; a server without a plan is held
to a tenth of its usual day while critically listed. A new main IP (seen by the inventory refresh)
starts the plan again at day 1."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from mailfleet.monitoring import CheckResult, Status
from mailfleet.warmup import listing_backoff
from webapp.extensions import db
from webapp.models import MailCount, Run, Server, ServerStatus, WarmupPlan
from webapp.services import mailstats, warmup
from webapp.services.scope import Scope

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture
def server(world):
    server = Server(tenant_id=world.acme.id, name="mf-acme-1", mail_hostname="mail.acme.test",
                    public_ipv4="198.51.100.7", status=ServerStatus.ACTIVE)
    db.session.add(server)
    db.session.commit()
    return server


def _write(tmp_path, name: str, mail) -> None:
    doc = {"schema": 1, "host": name, "collected_at": NOW.isoformat(), "mail": mail}
    (tmp_path / f"{name}.json").write_text(json.dumps(doc))


def _mail(day: date = TODAY, sent: int = 400, deferred: int = 0, reputation: int = 0) -> dict:
    return {"day": day.isoformat(), "sent": sent, "received": 12, "deferred": deferred, "bounced": 3,
            "rejected": 5, "reputation_deferrals": reputation,
            "groups": {"gmail": {"sent": sent, "deferred": deferred, "bounced": 0,
                                 "reputation_deferrals": reputation}}}


def _plan(server, started_days_ago: int = 9) -> WarmupPlan:
    started_on = TODAY - timedelta(days=started_days_ago)
    warmup.set_plan(Scope.system(), server.id, "standard", started_on=started_on)
    db.session.query(Run).delete()
    db.session.commit()
    return warmup.plan_of(server)


def test_counts_are_stored_per_server_and_day_and_refreshed(app, server, tmp_path):
    _write(tmp_path, "mf-acme-1", _mail(sent=10))
    assert mailstats.record_counts(["mf-acme-1", "gone"], tmp_path, NOW) == []  # no plan: no check
    _write(tmp_path, "mf-acme-1", _mail(sent=25, deferred=4, reputation=1))
    mailstats.record_counts(["mf-acme-1"], tmp_path, NOW)
    row = db.session.query(MailCount).one()
    assert (row.server_id, row.day, row.sent, row.received, row.deferred, row.bounced, row.rejected,
            row.reputation_deferrals) == (server.id, TODAY, 25, 12, 4, 3, 5, 1)
    assert row.groups["gmail"]["deferred"] == 4


def test_a_burst_of_reputation_deferrals_backs_the_warmup_off_once(app, server, tmp_path):
    plan = _plan(server)
    before = warmup.status(plan, TODAY)
    _write(tmp_path, "mf-acme-1", _mail(sent=300, deferred=60, reputation=40))
    [result] = mailstats.record_counts(["mf-acme-1"], tmp_path, NOW)
    db.session.refresh(plan)
    assert (plan.backoff_until, plan.backoff_factor, plan.held_days) == (TODAY + timedelta(days=1), 0.5, 1)
    after = warmup.status(plan, TODAY)
    assert after.day == before.day - 1
    assert after.today.daily <= before.today.daily // 2
    caps = warmup.cap_table(server, TODAY)["ip_days"]
    assert caps[TODAY.isoformat()]["daily"] == after.today.daily
    assert caps[(TODAY + timedelta(days=1)).isoformat()]["daily"] > after.today.daily  # the day after: back
    [run] = db.session.query(Run).all()
    assert (run.catalogue_key, run.limit) == ("sendcap", "mf-acme-1")
    assert result.check == "warmup" and result.status is Status.WARNING
    assert f"backed off until {TODAY + timedelta(days=1)}" in result.detail and "40 of 363" in result.detail
    # The next sweep sees the same counts: the back-off holds, nothing is pushed again.
    [again] = mailstats.record_counts(["mf-acme-1"], tmp_path, NOW + timedelta(minutes=5))
    db.session.refresh(plan)
    assert plan.held_days == 1 and db.session.query(Run).count() == 1
    assert again.status is Status.WARNING


def test_quiet_days_malformed_counts_and_yesterdays_counts_change_no_plan(app, server, tmp_path):
    plan = _plan(server)
    _write(tmp_path, "mf-acme-1", _mail(sent=1000, deferred=30, reputation=19))  # below 20: noise
    [result] = mailstats.record_counts(["mf-acme-1"], tmp_path, NOW)
    assert result.status is Status.OK and "19 of 1033" in result.detail
    _write(tmp_path, "mf-acme-1", _mail(day=TODAY - timedelta(days=1), sent=10, deferred=90, reputation=90))
    assert mailstats.record_counts(["mf-acme-1"], tmp_path, NOW) == []
    _write(tmp_path, "mf-acme-1", _mail(sent=-1, reputation=900))
    assert mailstats.record_counts(["mf-acme-1"], tmp_path, NOW) == []
    db.session.refresh(plan)
    assert plan.backoff_until is None and plan.held_days == 0
    assert db.session.query(Run).count() == 0
    stored = {r.day: r.sent for r in db.session.query(MailCount)}
    assert stored == {TODAY: 1000, TODAY - timedelta(days=1): 10}


def test_a_blocklist_listing_lowers_the_caps_to_a_quarter_while_it_lasts(app, server, tmp_path):
    plan = _plan(server)
    normal = warmup.status(plan, TODAY).today

    def sweep(status: Status, at: datetime) -> list[str]:
        results = [CheckResult("mf-acme-1", "dnsbl:zen.spamhaus.org:198.51.100.7", status, "127.0.0.2",
                               "listed on Spamhaus ZEN", at),
                   CheckResult("mf-acme-1", "port:25@198.51.100.7", Status.ERROR, None, "closed", at)]
        return warmup.react_to_listings(results, at)

    assert sweep(Status.OK, NOW) == [] and db.session.query(Run).count() == 0
    assert sweep(Status.ERROR, NOW) == ["mf-acme-1"]
    db.session.refresh(plan)
    assert (plan.backoff_until, plan.backoff_factor) == (TODAY + timedelta(days=1), 0.25)
    listed = warmup.status(plan, TODAY).today
    assert listed.daily <= normal.daily // 4 + 1
    assert warmup.cap_table(server, TODAY)["ip_days"][TODAY.isoformat()]["daily"] == listed.daily
    assert db.session.query(Run).count() == 1  # the lowered caps were pushed
    assert sweep(Status.ERROR, NOW + timedelta(minutes=5)) == []  # the same day: nothing new
    assert sweep(Status.ERROR, NOW + timedelta(days=1)) == ["mf-acme-1"]  # still listed: one more day
    db.session.refresh(plan)
    assert plan.backoff_until == TODAY + timedelta(days=2) and plan.held_days == 2


def test_a_critical_listing_opens_its_incident_at_once_and_cuts_even_a_warm_ips_caps_to_a_tenth(
    app, server, tmp_path
):
    """A warm IP (its standard plan over) has no cap; critically listed, it is held to a tenth of
    the plan's last caps, pushed at once, and the incident opened by that one sweep says so."""
    from mailfleet.monitoring import AlertPolicies, AlertPolicy, EventKind, record_results
    from webapp.models import HealthAlert, SqlHealthStore

    plan = _plan(server, started_days_ago=60)
    assert warmup.status(plan, TODAY).today is None  # warm: uncapped
    check = "dnsbl:zen.spamhaus.org:198.51.100.7"
    listed = [CheckResult("mf-acme-1", check, Status.ERROR, "127.0.0.4", "critically listed on Spamhaus ZEN",
                          NOW, "https://check.spamhaus.org/", critical=True)]
    record_results(SqlHealthStore(), listed, AlertPolicies(AlertPolicy(fail_after=3)))
    assert warmup.react_to_listings(listed, NOW) == ["mf-acme-1"]
    db.session.refresh(plan)
    last = warmup.steps_of(plan)[-1]
    caps = warmup.status(plan, TODAY).today
    assert (caps.daily, caps.hourly, plan.backoff_factor) == (last.daily // 10, last.hourly // 10, 0.1)
    assert warmup.cap_table(server, TODAY)["ip_days"][TODAY.isoformat()]["daily"] == caps.daily
    assert [r.catalogue_key for r in db.session.query(Run)] == ["sendcap"]
    [incident] = db.session.query(HealthAlert).all()
    assert incident.severity == "critical" and incident.resolved_at is None
    [note] = [e.detail for e in incident.events if e.kind == EventKind.CAPS_LOWERED]
    assert note.startswith(f"sending caps lowered to {caps.daily} a day and {caps.hourly} an hour (x0.1)")
    # The next sweep the same day changes nothing and writes nothing more.
    assert warmup.react_to_listings(listed, NOW + timedelta(minutes=5)) == []
    db.session.refresh(incident)
    assert sum(e.kind == EventKind.CAPS_LOWERED for e in incident.events) == 1


def test_a_critical_listing_holds_a_server_without_a_plan_to_a_tenth_of_its_usual_day_until_it_clears(
    app, server
):
    """No plan, no caps to lower: critically listed, the IP is capped at a tenth of the median day
    of the week before (the spam run of the day before and today's count do not raise it), pushed
    at once and written on the incident. It stays while the incident is open, and is lifted and
    pushed when the re-checks resolve it. A listing that is not critical caps nothing."""
    from mailfleet.monitoring import AlertPolicies, AlertPolicy, EventKind, record_results
    from webapp.models import HealthAlert, ListingHold, SqlHealthStore

    for days_ago, sent in ((7, 2_000), (6, 2_400), (5, 1_800), (3, 2_200), (1, 60_000), (0, 9_000),
                           (8, 900_000)):  # 8 days ago: before the week that counts
        db.session.add(MailCount(server_id=server.id, day=TODAY - timedelta(days=days_ago), sent=sent,
                                 collected_at=NOW))
    db.session.commit()
    policies = AlertPolicies(AlertPolicy(fail_after=3, pass_after=2))
    check, minor = "dnsbl:zen.spamhaus.org:198.51.100.7", "dnsbl:minor.test:198.51.100.7"

    def sweep(at: datetime, critical: Status, other: Status = Status.OK) -> list[str]:
        results = [
            CheckResult("mf-acme-1", check, critical, None, "critically listed on Spamhaus ZEN", at,
                        critical=critical is Status.ERROR),
            CheckResult("mf-acme-1", minor, other, None, "listed on a minor list", at),
        ]
        record_results(SqlHealthStore(), results, policies)
        return warmup.react_to_listings(results, at)

    assert sweep(NOW, Status.OK, other=Status.ERROR) == []  # not critical: no plan, no cap
    assert warmup.cap_table(server, TODAY)["ip_days"] == {} and db.session.query(Run).count() == 0

    assert sweep(NOW + timedelta(minutes=5), Status.ERROR) == ["mf-acme-1"]
    assert warmup.plan_of(server) is None
    table = warmup.cap_table(server, TODAY)
    assert table["ip_days"] == {TODAY.isoformat(): {"daily": 220, "hourly": 28}}  # 2,200 a day usually
    assert table["groups"] == {}
    assert [(r.catalogue_key, r.limit) for r in db.session.query(Run)] == [("sendcap", "mf-acme-1")]
    [incident] = db.session.query(HealthAlert).filter_by(check=check).all()
    [note] = [e.detail for e in incident.events if e.kind == EventKind.CAPS_LOWERED]
    assert note == ("sending caps set to 220 a day and 28 an hour (a tenth of its usual 2200 a day) "
                    "until the listing clears")

    later = NOW + timedelta(days=1)  # still listed the next day, a held day in its week: the caps stay
    assert sweep(later, Status.ERROR) == [] and db.session.query(Run).count() == 1
    assert warmup.cap_table(server, later.date())["ip_days"] == {later.date().isoformat(): {"daily": 220,
                                                                                           "hourly": 28}}
    assert sweep(later + timedelta(minutes=5), Status.OK) == []  # one clean re-check: the incident holds
    assert db.session.query(ListingHold).count() == 1
    assert sweep(later + timedelta(minutes=10), Status.OK) == ["mf-acme-1"]  # resolved: lifted
    db.session.refresh(incident)
    assert incident.resolved_at is not None
    assert db.session.query(ListingHold).count() == 0
    assert warmup.cap_table(server, later.date())["ip_days"] == {}
    assert db.session.query(Run).count() == 2  # the lifted caps were pushed


def test_a_listed_server_without_counts_or_a_plan_gets_the_floor(app, server):
    listed = [CheckResult("mf-acme-1", "dnsbl:zen.spamhaus.org:198.51.100.7", Status.ERROR, None,
                          "critically listed", NOW, critical=True)]
    assert warmup.react_to_listings(listed, NOW) == ["mf-acme-1"]
    caps = warmup.cap_table(server, TODAY)["ip_days"][TODAY.isoformat()]
    assert caps == {"daily": warmup.warmup.LISTED_FLOOR, "hourly": 7}
    # A plan set while held takes over: its own rules, lowered by the next listed sweep.
    _plan(server)
    assert warmup.cap_table(server, TODAY)["ip_days"][TODAY.isoformat()] == {
        "daily": warmup.status(warmup.plan_of(server), TODAY).today.daily,
        "hourly": warmup.status(warmup.plan_of(server), TODAY).today.hourly,
    }


def test_a_new_main_ip_from_the_provider_restarts_the_warmup_on_it(app, server, tmp_path):
    from jobs.servers import apply_inventory
    from mailfleet.hostwinds.instances import inventory_record
    from mailfleet.providers.hostwinds import server_record

    plan = _plan(server, started_days_ago=20)
    warmup.back_off(server, listing_backoff(TODAY), TODAY)
    server.provider_id = 4242
    db.session.query(Run).delete()
    db.session.commit()

    def refresh(ip: str) -> None:
        instance = {"serviceid": 4242, "srvrname": "mf-acme-1", "status": "ACTIVE", "main_ip": ip}
        apply_inventory([server_record(inventory_record(instance, [], {}))], "hostwinds")
        db.session.expire_all()

    refresh("198.51.100.7")  # the same address: nothing restarts
    assert warmup.plan_of(server).started_on == TODAY - timedelta(days=20)
    assert db.session.query(Run).count() == 0
    refresh("198.51.100.99")
    plan = warmup.plan_of(server)
    assert (plan.started_on, plan.held_days, plan.backoff_until) == (warmup.today(), 0, None)
    assert warmup.status(plan).day == 1
    assert warmup.cap_table(server)["sending_ip"] == "198.51.100.99"
    # The caps go at once; the domain run reconverges the server and republishes A and SPF.
    runs = db.session.query(Run).order_by(Run.id).all()
    assert [(r.catalogue_key, r.limit) for r in runs] == [("sendcap", "mf-acme-1"), ("domain", "mf-acme-1")]
