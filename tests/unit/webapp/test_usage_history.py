"""Usage history on a real database: 5-minute samples from the facts documents and the provider,
hourly and daily rollups, pruning by retention, and the cron entries that run them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from rq.cron import CronScheduler
from sqlalchemy import func, select

from mailfleet.usage import MB
from webapp.extensions import db
from webapp.models import Server, ServerStatus
from webapp.models.usage import DAY, FIVE_MINUTES, HOUR, UsageSample, UsageTotal
from webapp.queue import get_system_queue
from webapp.services import usage

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def facts(used_mb: int, load5: float = 0.5) -> dict:
    return {
        "schema": 1,
        "disk": [{"mount": "/", "size_bytes": 10_000 * MB, "free_bytes": (10_000 - used_mb) * MB}],
        "memory": {"total_mb": 1000, "available_mb": 400},
        "load": {"load5": load5, "cpus": 1},
        "mail_queue": {"deferred": 2, "active": 0},
    }


@pytest.fixture
def servers(world):
    one = Server(tenant_id=world.acme.id, name="mf-acme-1", provider_id=11, status=ServerStatus.ACTIVE)
    gone = Server(tenant_id=world.acme.id, name="mf-acme-2", provider_id=12, status=ServerStatus.GONE)
    db.session.add_all([one, gone])
    db.session.commit()
    return one, gone


@pytest.fixture
def other(world) -> Server:
    """globex's one active server, beside acme's."""
    server = Server(tenant_id=world.globex.id, name="mf-globex-1", status=ServerStatus.ACTIVE)
    db.session.add(server)
    db.session.commit()
    return server


@pytest.fixture
def sampled_api(world, servers, other, tmp_path) -> tuple[dict, dict, dict]:
    """One sample of each active server (acme's 2,500 MB of disk used, globex's 700) and the API
    headers of the admin, alice (acme) and bob (globex)."""
    from mailfleet.clock import utcnow
    from webapp.services import accounts

    for name, used in (("mf-acme-1", 2500), ("mf-globex-1", 700)):
        (tmp_path / f"{name}.json").write_text(json.dumps(facts(used)))
    usage.record_samples(utcnow(), tmp_path)
    admin, alice, bob = (
        {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}
        for user in (world.admin, world.alice, world.bob)
    )
    return admin, alice, bob


def only_alert(results: dict) -> str:
    """Record the check results as the health engine does; the check of the one alert they open."""
    from mailfleet.monitoring import record_results
    from webapp.models import HealthAlert, SqlHealthStore
    from webapp.services import costs

    record_results(SqlHealthStore(), list(results.values()), costs.BUDGET_POLICY)
    [alert] = db.session.scalars(select(HealthAlert)).all()
    return alert.check


def test_a_sample_joins_the_facts_document_the_provider_and_the_mailbox_count(servers, tmp_path):
    one, _ = servers
    (tmp_path / "mf-acme-1.json").write_text(json.dumps(facts(2500, load5=0.8)))
    written = usage.record_samples(
        T0, tmp_path, [
            {"provider": "hostwinds", "provider_id": 11, "bandwidth": 1000, "bandwidth_used": 40},
            {"provider": "digitalocean", "provider_id": 11, "bandwidth": 1, "bandwidth_used": 1},
            {"provider": "hostwinds", "provider_id": "junk"},
        ]
    )
    assert written == 1  # the gone server is not sampled
    [row] = db.session.scalars(select(UsageSample)).all()
    assert (row.server_id, row.step, row.ts) == (one.id, FIVE_MINUTES, int(T0.timestamp()))
    assert (row.cpu_pct, row.cpu_peak_pct, row.disk_used_mb, row.disk_total_mb) == (80, 80, 2500, 10000)
    assert (row.mem_used_mb, row.bw_used_gb, row.bw_total_gb, row.queue_deferred, row.mailboxes) == (
        600,
        40,
        1000,
        2,
        0,
    )


def test_a_second_sample_in_the_same_five_minutes_replaces_the_first(servers, tmp_path):
    (tmp_path / "mf-acme-1.json").write_text(json.dumps(facts(1000)))
    usage.record_samples(T0, tmp_path)
    (tmp_path / "mf-acme-1.json").write_text(json.dumps(facts(1200)))
    usage.record_samples(T0 + timedelta(seconds=30), tmp_path)
    assert db.session.scalars(select(UsageSample.disk_used_mb)).all() == [1200]


def test_no_facts_yet_still_records_what_is_known(servers, tmp_path):
    usage.record_samples(T0, tmp_path)
    [row] = db.session.scalars(select(UsageSample)).all()
    assert (row.disk_used_mb, row.cpu_pct, row.mailboxes) == (None, None, 0)


def fill(server: Server, start: datetime, hours: int) -> None:
    """5-minute samples: disk grows 1 MB per sample, CPU 10 % with one 90 % spike per hour."""
    rows = []
    for i in range(hours * 12):
        cpu = 90 if i % 12 == 6 else 10
        rows.append(
            UsageSample(
                server_id=server.id,
                step=FIVE_MINUTES,
                ts=int(start.timestamp()) + i * FIVE_MINUTES,
                samples=1,
                cpu_pct=cpu,
                cpu_peak_pct=cpu,
                disk_used_mb=1000 + i,
            )
        )
    db.session.add_all(rows)
    db.session.commit()


def test_hourly_rollup_averages_keeps_the_peak_and_is_not_repeated(servers):
    one, _ = servers
    fill(one, T0, 3)
    now = T0 + timedelta(hours=3, minutes=15)
    assert usage.rollup(HOUR, now) == 3
    hours = db.session.scalars(
        select(UsageSample).where(UsageSample.step == HOUR).order_by(UsageSample.ts)
    ).all()
    assert [h.ts for h in hours] == [int((T0 + timedelta(hours=h)).timestamp()) for h in range(3)]
    first = hours[0]
    assert (first.samples, first.cpu_pct, first.cpu_peak_pct, first.disk_used_mb) == (12, 17, 90, 1006)
    assert usage.rollup(HOUR, now) == 0  # nothing new: no duplicate rows
    assert usage.rollup(HOUR, now + timedelta(hours=1)) == 0  # no samples after the third hour


def test_an_unfinished_bucket_waits(servers):
    one, _ = servers
    fill(one, T0, 1)
    assert usage.rollup(HOUR, T0 + timedelta(minutes=65)) == 0  # a late sample may still come
    assert usage.rollup(DAY, T0 + timedelta(hours=2)) == 0


def test_daily_rollup_and_prune_by_retention(servers):
    one, _ = servers
    day0 = datetime(2026, 9, 1, tzinfo=UTC)
    fill(one, day0, 48)
    assert usage.rollup(DAY, day0 + timedelta(days=2, hours=1)) == 2
    assert usage.rollup(HOUR, day0 + timedelta(days=2, hours=1)) == 48
    # 31 days after the last sample: the 5-minute ones are past their 30 days, the rollups stay.
    assert usage.prune(day0 + timedelta(days=33)) == 48 * 12
    steps = dict(db.session.execute(select(UsageSample.step, func.count()).group_by(UsageSample.step)).all())
    assert steps == {HOUR: 48, DAY: 2}
    assert usage.prune(day0 + timedelta(days=2 + 731)) == 50


def test_retention_comes_from_the_settings(app, servers):
    one, _ = servers
    day0 = datetime(2026, 9, 1, tzinfo=UTC)
    fill(one, day0, 1)
    app.config["MAILFLEET_USAGE_KEEP_5MIN_DAYS"] = 40
    assert usage.prune(day0 + timedelta(days=33)) == 0
    app.config["MAILFLEET_USAGE_KEEP_5MIN_DAYS"] = 2
    assert usage.prune(day0 + timedelta(days=3)) == 12


def test_series_reads_the_resolution_of_its_range_and_refuses_others(servers):
    one, _ = servers
    fill(one, T0, 2)
    usage.rollup(HOUR, T0 + timedelta(hours=3))
    found = usage.series(one, "24h", T0 + timedelta(hours=2))
    assert found.step == FIVE_MINUTES and len(found.rows) == 24
    assert found.latest("disk_used_mb") == 1023
    assert usage.series(one, "7d", T0 + timedelta(hours=3)).step == HOUR
    with pytest.raises(Exception, match="range must be one of"):
        usage.series(one, "1y", T0)


def test_rq_cron_samples_every_five_minutes_and_rolls_up_hourly(app):
    cron = CronScheduler(connection=get_system_queue(app).connection)
    cron.load_config_from_file("jobs.cron")
    jobs = {job.func_name: job for job in cron.get_jobs()}
    assert jobs["jobs.usage.sample_usage"].interval == 300
    assert jobs["jobs.usage.rollup_usage"].interval == 3600
    assert jobs["jobs.usage.rollup_usage"].queue_name == "mailfleet-system"


def test_the_cron_jobs_sample_price_roll_up_and_check_budgets(app, world, servers, tmp_path, monkeypatch):
    from decimal import Decimal

    from jobs.app import use_app
    from jobs.usage import rollup_usage, sample_usage
    from webapp.models import HealthAlert
    from webapp.models.usage import CostPeriod

    one, _ = servers
    one.monthly_price = Decimal("10.00")
    one.created_at = T0 - timedelta(days=40)
    world.acme.monthly_budget = Decimal("0.01")  # the projection (the whole month, $10) crosses it
    db.session.commit()
    (tmp_path / "mf-acme-1.json").write_text(json.dumps(facts(700)))
    monkeypatch.setenv("MAILFLEET_HEALTH_FACTS_DIR", str(tmp_path))
    use_app(app)
    try:
        # No provider configured: the sample is written without bandwidth.
        assert sample_usage() == {"samples": 1, "cost_periods_changed": 1}
        summary = rollup_usage()
    finally:
        use_app(None)
    assert db.session.scalar(select(UsageSample.disk_used_mb)) == 700
    assert db.session.scalar(select(CostPeriod.monthly_price)) == Decimal("10.00")
    opened = set(db.session.scalars(select(HealthAlert.check)))
    assert "budget:acme:forecast" in opened and summary["notifications"] == len(opened)
    assert opened <= {"budget:acme:50", "budget:acme:80", "budget:acme:100", "budget:acme:forecast"}


def test_totals_sum_the_fleet_or_only_one_tenants_servers(world, servers, other, tmp_path):
    for i in range(12):
        for name, used in (("mf-acme-1", 1000 + i), ("mf-globex-1", 3000)):
            (tmp_path / f"{name}.json").write_text(
                json.dumps(facts(used, load5=0.1 if name == "mf-acme-1" else 0.3))
            )
        usage.record_samples(T0 + timedelta(minutes=5 * i), tmp_path)
    now = T0 + timedelta(hours=1)
    fleet = usage.totals("24h", now)
    assert len(fleet) == 12 and fleet[0].servers == 2
    assert (fleet[0].disk_used_mb, fleet[0].cpu_pct, fleet[-1].disk_used_mb) == (4000, 20, 4011)
    acme = usage.totals("24h", now, world.acme.id)
    assert [t.disk_used_mb for t in acme][:2] == [1000, 1001] and acme[0].servers == 1
    assert usage.totals("24h", now, world.acme.id + 99) == []
    # The hourly rollup sums its buckets too: the 7-day chart has the hour.
    assert usage.rollup(HOUR, now + timedelta(minutes=15)) == 2
    [hour] = usage.totals("7d", now + timedelta(minutes=15))
    assert (hour.ts, hour.servers, hour.disk_used_mb) == (int(T0.timestamp()), 2, 1006 + 3000)
    [globex] = usage.totals("7d", now + timedelta(minutes=15), world.globex.id)
    assert globex.disk_used_mb == 3000


def test_a_resampled_bucket_replaces_its_total_and_prune_drops_old_totals(world, servers, tmp_path):
    (tmp_path / "mf-acme-1.json").write_text(json.dumps(facts(1000)))
    usage.record_samples(T0, tmp_path)
    (tmp_path / "mf-acme-1.json").write_text(json.dumps(facts(1500)))
    usage.record_samples(T0 + timedelta(seconds=40), tmp_path)
    assert [t.disk_used_mb for t in usage.totals("24h", T0 + timedelta(minutes=5))] == [1500]
    usage.prune(T0 + timedelta(days=31))
    assert db.session.scalar(select(func.count()).select_from(UsageTotal)) == 0


def test_mail_stored_comes_from_each_servers_mailu_per_mailbox_and_a_silent_one_is_left_out(
    client, world, mailu, tmp_path
):
    from webapp.models import Mailbox
    from webapp.services import accounts

    mail_server, domain = mailu
    for n, used in ((1, 300 * MB), (2, 212 * MB)):
        mail_server.new_user(f"user{n}@acme-mail.example", "pw-not-used-here")
        mail_server.users[f"user{n}@acme-mail.example"]["quota_bytes_used"] = used
    # user2 exists on Mailu only; info is known here but not sampled yet.
    for local in ("user1", "info"):
        db.session.add(
            Mailbox(
                tenant_id=world.acme.id,
                domain_id=domain.id,
                local_part=local,
                email=f"{local}@acme-mail.example",
            )
        )
    silent = Server(tenant_id=world.globex.id, name="mf-globex-1", status=ServerStatus.ACTIVE)
    db.session.add(silent)
    db.session.commit()
    stored = usage.mailbox_storage(usage.active_servers())
    acme = db.session.scalar(select(Server.id).where(Server.name == "mf-acme-1"))
    assert stored == {acme: {"user1@acme-mail.example": 300 * MB, "user2@acme-mail.example": 212 * MB}}
    usage.record_samples(T0, tmp_path, stored=stored)
    rows = dict(db.session.execute(select(UsageSample.server_id, UsageSample.mailbox_mb)).all())
    assert rows == {acme: 512, silent.id: None}  # globex's server has no Mailu answering
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    found = client.get("/api/v1/tenants/acme/mailboxes/usage", headers=alice).get_json()["mailboxes"]
    assert [(m["email"], m["stored_bytes"]) for m in found] == [
        ("user1@acme-mail.example", 300 * MB),
        ("info@acme-mail.example", None),
    ]
    assert found[0]["sampled_at"].startswith("2026-11-02T10:00")


def test_the_api_exports_a_servers_samples_and_the_totals_each_caller_may_see(client, servers, sampled_api):
    one, _ = servers
    admin, alice, bob = sampled_api
    answer = client.get(f"/api/v1/servers/{one.id}/usage", headers=alice).get_json()
    assert (answer["server"], answer["range"], answer["resolution_s"]) == ("mf-acme-1", "24h", FIVE_MINUTES)
    [row] = answer["rows"]
    assert (row["disk_used_mb"], row["cpu_pct"], row["samples"], row["bw_used_gb"]) == (2500, 50, 1, None)
    assert row["time"].endswith("+00:00")
    assert client.get(f"/api/v1/servers/{one.id}/usage", headers=bob).status_code == 404
    assert client.get(f"/api/v1/servers/{one.id}/usage?range=1y", headers=alice).status_code == 422
    fleet = client.get("/api/v1/usage", headers=admin).get_json()
    assert fleet["over"] == "fleet" and [r["disk_used_mb"] for r in fleet["rows"]] == [3200]
    own = client.get("/api/v1/usage", headers=bob).get_json()
    assert own["over"] == "globex" and [(r["servers"], r["disk_used_mb"]) for r in own["rows"]] == [(1, 700)]
    acme = client.get("/api/v1/tenants/acme/usage?range=7d", headers=alice).get_json()
    assert (acme["over"], acme["resolution_s"], acme["rows"]) == ("acme", HOUR, [])  # no hour rolled up yet
    assert client.get("/api/v1/tenants/acme/usage", headers=bob).status_code == 404


def test_a_tenants_unusual_hour_opens_an_anomaly_alert_naming_it(world, servers, other):
    from mailfleet.monitoring import Status
    from webapp.services import anomalies

    one, _ = servers
    hour = T0.replace(hour=14)
    rows = []
    for days in range(15):  # the same hour of the 14 days before, and then today's
        start = int((hour - timedelta(days=14 - days)).timestamp())
        for i in range(12):
            for server in (one, other):
                deferred = 400 if server is one and days == 14 else 2 + (i + days) % 3
                rows.append(
                    UsageSample(
                        server_id=server.id,
                        step=FIVE_MINUTES,
                        ts=start + i * FIVE_MINUTES,
                        cpu_pct=10,
                        cpu_peak_pct=10,
                        queue_deferred=deferred,
                    )
                )
    db.session.add_all(rows)
    db.session.commit()
    now = hour + timedelta(hours=1, minutes=15)
    assert usage.rollup(HOUR, now) == 30
    results = {r.check: r for r in anomalies.anomaly_results(now)}
    assert results["anomaly:acme:queue_deferred"].status is Status.WARNING
    assert "usually 3 at that hour" in results["anomaly:acme:queue_deferred"].detail
    assert results["anomaly:globex:queue_deferred"].status is Status.OK
    assert results["anomaly:acme:cpu_pct"].status is Status.OK
    assert only_alert(results) == "anomaly:acme:queue_deferred"


def test_a_tenants_sending_burst_opens_an_anomaly_alert_by_the_same_detector(world, servers, other):
    from mailfleet.monitoring import Status
    from webapp.models import MailCount
    from webapp.services import anomalies

    one, gone = servers
    now = T0.replace(hour=15)
    for days in range(15):  # 14 usual days, then today's: acme's mailbox sends spam
        day = (now - timedelta(days=14 - days)).date()
        for server, usual in ((one, 300), (other, 40)):
            sent = 2500 if server is one and days == 14 else usual + days % 4 * 10
            senders = {"ceo@acme.test": {"sent": 30, "deferred": 0, "bounced": 0}}
            if sent == 2500:  # the facts run's per-sender counts of the day
                senders["intern@acme.test"] = {"sent": 2300, "deferred": 150, "bounced": 40}
            db.session.add(
                MailCount(server_id=server.id, day=day, sent=sent, senders=senders, collected_at=now)
            )
    db.session.add(  # acme's other server, gone since: its senders of today count in acme's
        MailCount(
            server_id=gone.id,
            day=now.date(),
            sent=0,
            senders={"sales@acme.test": {"sent": 0, "deferred": 90, "bounced": 0}},
            collected_at=now,
        )
    )
    db.session.commit()
    results = {r.check: r for r in anomalies.anomaly_results(now)}
    burst = results["anomaly:acme:sent"]
    assert burst.status is Status.WARNING and burst.value == 2500
    assert burst.detail.startswith("acme: 2500 messages sent today so far, usually 310 a day")
    assert burst.detail.endswith(
        "; top senders today: intern@acme.test (2300 sent, 150 deferred, 40 bounced), "
        "sales@acme.test (0 sent, 90 deferred, 0 bounced), ceo@acme.test (30 sent, 0 deferred, 0 bounced)"
    )
    assert results["anomaly:globex:sent"].status is Status.OK
    assert "top senders" not in results["anomaly:globex:sent"].detail
    assert only_alert(results) == "anomaly:acme:sent"
    from webapp.models import HealthAlert

    alert = db.session.scalar(select(HealthAlert).where(HealthAlert.check == "anomaly:acme:sent"))
    assert "acme" in alert.detail and "intern@acme.test (2300 sent" in alert.detail


def test_a_short_sending_history_is_never_called_unusual(world, servers):
    from mailfleet.monitoring import Status
    from webapp.models import MailCount
    from webapp.services import anomalies

    one, _ = servers
    now = T0.replace(hour=15)
    for days in range(4):
        day = (now - timedelta(days=3 - days)).date()
        db.session.add(MailCount(server_id=one.id, day=day, sent=5 if days < 3 else 9000, collected_at=now))
    db.session.commit()
    [found] = [r for r in anomalies.anomaly_results(now) if r.check == "anomaly:acme:sent"]
    assert found.status is Status.OK and "3 of 7 days of baseline so far" in found.detail


def test_the_api_exports_usage_as_csv_and_a_tenant_never_sees_another(client, servers, sampled_api):
    one, _ = servers
    admin, alice, bob = sampled_api
    answer = client.get(f"/api/v1/servers/{one.id}/usage?format=csv", headers=alice)
    assert answer.mimetype == "text/csv"
    assert 'filename="mf-acme-1-usage-24h.csv"' in answer.headers["Content-Disposition"]
    header, row = answer.get_data(as_text=True).splitlines()
    assert header.split(",")[:5] == ["time", "resolution_s", "samples", "cpu_pct", "mem_used_mb"]
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert (values["resolution_s"], values["disk_used_mb"], values["bw_used_gb"]) == ("300", "2500", "")
    json_row = client.get(f"/api/v1/servers/{one.id}/usage", headers=alice).get_json()["rows"][0]
    assert values["time"] == json_row["time"] and json_row["resolution_s"] == FIVE_MINUTES
    fleet = client.get("/api/v1/usage?format=csv", headers=admin).get_data(as_text=True).splitlines()
    assert dict(zip(fleet[0].split(","), fleet[1].split(","), strict=True))["disk_used_mb"] == "3200"
    own = client.get("/api/v1/usage?format=csv", headers=bob)
    assert 'filename="globex-usage-24h.csv"' in own.headers["Content-Disposition"]
    assert (
        dict(zip(*(line.split(",") for line in own.get_data(as_text=True).splitlines()), strict=True))[
            "disk_used_mb"
        ]
        == "700"
    )
    assert client.get(f"/api/v1/servers/{one.id}/usage?format=csv", headers=bob).status_code == 404
    assert client.get("/api/v1/tenants/acme/usage?format=csv", headers=bob).status_code == 404


def test_a_large_upsert_goes_in_batches_under_the_parameter_limit(world, servers, monkeypatch):
    """PostgreSQL refuses a statement with more than 65,535 parameters: the fleet's samples and a
    month of rebuilt totals go in batches, and every row lands (and replaces) as in one."""
    one, _ = servers
    statements = []
    monkeypatch.setattr(usage, "MAX_PARAMETERS", 40)  # 10 columns a row: 4 rows a statement
    real = db.session.execute
    monkeypatch.setattr(
        db.session, "execute", lambda stmt, *a, **k: statements.append(stmt) or real(stmt, *a, **k)
    )
    start = int(T0.timestamp())
    rows = [
        {
            "server_id": one.id,
            "step": FIVE_MINUTES,
            "ts": start + i * FIVE_MINUTES,
            "samples": 1,
            "cpu_pct": i,
            "cpu_peak_pct": i,
            "disk_used_mb": 100 + i,
            "disk_total_mb": 1000,
            "mailboxes": 1,
            "mailbox_mb": i,
        }
        for i in range(10)
    ]
    usage._upsert(UsageSample, rows)
    assert len(statements) == 3  # 4 + 4 + 2 rows
    usage._upsert(UsageSample, [{**row, "cpu_pct": 99} for row in rows])
    db.session.commit()
    found = db.session.scalars(select(UsageSample).order_by(UsageSample.ts)).all()
    assert [r.ts for r in found] == [row["ts"] for row in rows] and {r.cpu_pct for r in found} == {99}
    assert [r.disk_used_mb for r in found] == list(range(100, 110))
