"""Parsing the health play's facts document into inside checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mailfleet.monitoring import FactsError, FactsThresholds, MonitoringConfigError, Status, evaluate_facts

pytestmark = pytest.mark.unit

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
GiB = 1024**3


def doc(**over):
    base = {
        "schema": 1,
        "host": "mail1",
        "collected_at": NOW.isoformat(),
        "disk": [{"mount": "/", "size_bytes": 100 * GiB, "free_bytes": 50 * GiB}],
        "memory": {"total_mb": 4000, "available_mb": 2000},
        "load": {"load1": 0.5, "load5": 0.4, "load15": 0.3, "cpus": 2},
        "containers": [
            {"name": "mailu-smtp-1", "state": "running", "health": "healthy"},
            {"name": "mailu-imap-1", "state": "running", "health": "none"},
        ],
        "mail_queue": {"deferred": 0, "active": 0},
        "updates": {"pending": 0, "security": 0, "reboot_required": False},
        "fail2ban": {"running": True, "banned": 7, "jails": 2},
        "backup": {"last_success": (NOW - timedelta(minutes=30)).isoformat()},
        "firewall": {"active": True, "rules": 12},
        "sendcap": {"configured": True, "address": "127.0.0.1:10040", "answering": True, "error": None},
    }
    base.update(over)
    return base


def by_check(results):
    return {r.check: r for r in results}


def test_healthy_host_is_all_green():
    results = evaluate_facts("mail1", json.dumps(doc()), FactsThresholds(), NOW)
    assert {r.status for r in results} == {Status.OK}
    got = by_check(results)
    assert got["disk:/"].value == 50.0
    assert got["fail2ban"].value == 7
    assert got["backup"].value == 0.5
    assert set(got) == {
        "disk:/",
        "memory",
        "load",
        "containers",
        "mail_queue",
        "updates",
        "reboot_required",
        "fail2ban",
        "backup",
        "firewall",
        "sendcap",
    }


@pytest.mark.parametrize(("free_gib", "status"), [(31, Status.OK), (29, Status.WARNING), (14, Status.ERROR)])
def test_disk_thresholds(free_gib, status):
    d = doc(disk=[{"mount": "/", "size_bytes": 100 * GiB, "free_bytes": free_gib * GiB}])
    assert by_check(evaluate_facts("m", d, FactsThresholds(), NOW))["disk:/"].status is status


@pytest.mark.parametrize(("avail", "status"), [(210, Status.OK), (150, Status.WARNING), (90, Status.ERROR)])
def test_memory_thresholds(avail, status):
    d = doc(memory={"total_mb": 1000, "available_mb": avail})
    assert by_check(evaluate_facts("m", d, FactsThresholds(), NOW))["memory"].status is status


@pytest.mark.parametrize(("deferred", "status"), [(29, Status.OK), (30, Status.ERROR)])
def test_queue_alerts_at_30_deferred(deferred, status):
    d = doc(mail_queue={"deferred": deferred, "active": 0})
    got = by_check(evaluate_facts("m", d, FactsThresholds(), NOW))["mail_queue"]
    assert got.status is status and got.value == deferred


def test_problems_inside_turn_red():
    d = doc(
        containers=[{"name": "mailu-smtp-1", "state": "exited", "health": "none"}],
        updates={"pending": 4, "security": 1, "reboot_required": True},
        fail2ban={"running": False, "banned": 0, "jails": 0},
        backup={"last_success": (NOW - timedelta(days=5)).isoformat()},
        firewall={"active": False, "rules": 0},
    )
    got = by_check(evaluate_facts("m", d, FactsThresholds(), NOW))
    assert got["containers"].status is Status.ERROR and "mailu-smtp-1" in got["containers"].detail
    assert got["updates"].status is Status.WARNING and got["updates"].value == 4
    assert got["reboot_required"].status is Status.WARNING
    assert got["fail2ban"].status is Status.ERROR
    assert got["backup"].status is Status.ERROR
    assert got["firewall"].status is Status.ERROR


def test_never_backed_up_is_an_error():
    got = by_check(evaluate_facts("m", doc(backup={"last_success": None}), FactsThresholds(), NOW))
    assert got["backup"].status is Status.ERROR


def status_doc(**steps):
    """A host's backup status document as record_status.py writes it."""
    at = (NOW - timedelta(minutes=20)).isoformat()
    base = {
        "schema": 1,
        "last_success": at,
        "backup": {"at": at, "ok": True, "error": None, "snapshot_id": "a1b2c3d4", "added_bytes": 10},
        "check": {"at": (NOW - timedelta(days=2)).isoformat(), "ok": True, "error": None},
        "drill": {"at": (NOW - timedelta(days=3)).isoformat(), "ok": True, "error": None, "files": 12,
                  "sampled": 5, "seconds": 4.2},
    }
    base.update(steps)
    return {"last_success": None, "status": base}


def test_backup_status_document_all_green():
    got = by_check(evaluate_facts("m", doc(backup=status_doc()), FactsThresholds(), NOW))
    assert got["backup"].status is Status.OK and got["backup"].value == 0.3
    assert "RPO 1 h" in got["backup"].detail
    assert got["backup:drill"].status is Status.OK and "12 files verified" in got["backup:drill"].detail


@pytest.mark.parametrize(
    ("age", "status"), [(timedelta(minutes=80), Status.OK), (timedelta(minutes=100), Status.WARNING),
                        (timedelta(hours=4), Status.ERROR)],
)
def test_backup_age_against_the_rpo(age, status):
    at = (NOW - age).isoformat()
    backup = status_doc(last_success=at, backup={"at": at, "ok": True, "error": None})
    got = by_check(evaluate_facts("m", doc(backup=backup), FactsThresholds(), NOW))
    assert got["backup"].status is status


def test_failed_backup_check_and_drill_are_errors_with_their_message():
    failed = {"at": NOW.isoformat(), "ok": False, "error": "Fatal: unable to open repository"}
    got = by_check(evaluate_facts("m", doc(backup=status_doc(backup=failed)), FactsThresholds(), NOW))
    assert got["backup"].status is Status.ERROR and "unable to open repository" in got["backup"].detail
    got = by_check(evaluate_facts("m", doc(backup=status_doc(check=failed)), FactsThresholds(), NOW))
    assert got["backup"].status is Status.ERROR and "repository check failed" in got["backup"].detail
    got = by_check(evaluate_facts("m", doc(backup=status_doc(drill=failed)), FactsThresholds(), NOW))
    assert got["backup:drill"].status is Status.ERROR and "drill failed" in got["backup:drill"].detail


def test_drill_never_run_is_unknown_and_an_old_one_warns():
    got = by_check(evaluate_facts("m", doc(backup=status_doc(drill=None)), FactsThresholds(), NOW))
    assert got["backup:drill"].status is Status.UNKNOWN
    old = {"at": (NOW - timedelta(days=60)).isoformat(), "ok": True, "error": None}
    got = by_check(evaluate_facts("m", doc(backup=status_doc(drill=old)), FactsThresholds(), NOW))
    assert got["backup:drill"].status is Status.WARNING


@pytest.mark.parametrize(
    ("copy", "status", "words"),
    [
        (None, None, ""),  # no second repository: no check
        ({"age": timedelta(minutes=30), "ok": True, "snapshots": 7}, Status.OK, "7 snapshots in the second"),
        ({"age": timedelta(minutes=100), "ok": True, "snapshots": 7}, Status.WARNING, "checked 1.7 h"),
        ({"age": timedelta(hours=4), "ok": True, "snapshots": 7}, Status.ERROR, "copied and checked 4.0 h"),
        ({"age": timedelta(minutes=3), "ok": False, "error": "not in the second repository: 1a2b3c4d"},
         Status.ERROR, "copying to the second repository failed"),
    ],
)
def test_the_second_repository_copy_has_a_check_of_its_own(copy, status, words):
    steps = {}
    if copy is not None:
        steps["copy"] = {"at": (NOW - copy.pop("age")).isoformat(), "error": None, **copy}
    got = by_check(evaluate_facts("m", doc(backup=status_doc(**steps)), FactsThresholds(), NOW))
    if status is None:
        assert "backup:copy" not in got
        return
    assert got["backup:copy"].status is status and words in got["backup:copy"].detail, got["backup:copy"]
    assert got["backup"].status is Status.OK  # the first repository's backup stands on its own


def test_missing_section_is_unknown():
    d = doc()
    del d["fail2ban"]
    assert by_check(evaluate_facts("m", d, FactsThresholds(), NOW))["fail2ban"].status is Status.UNKNOWN


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"schema": 2}),
        json.dumps(doc(memory={"total_mb": 100, "available_mb": 200})),
        json.dumps(doc(disk=[{"mount": "/", "size_bytes": "big", "free_bytes": 1}])),
        json.dumps(doc(updates={"pending": 1, "reboot_required": "yes"})),
        json.dumps(doc(backup={"last_success": "2025-01-01T00:00:00"})),
        json.dumps(doc(backup={"last_success": None, "status": "broken"})),
    ],
)
def test_malformed_documents_raise_clear_errors(bad):
    with pytest.raises(FactsError):
        evaluate_facts("m", bad, FactsThresholds(), NOW)


def test_thresholds_validated():
    with pytest.raises(MonitoringConfigError):
        FactsThresholds(disk_warn_free_pct=10, disk_error_free_pct=20)
