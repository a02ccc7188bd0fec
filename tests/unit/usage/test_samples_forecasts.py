"""Figures of a sample from the facts document and the provider, and the disk-full forecast."""

from __future__ import annotations

import pytest

from mailfleet.usage import MB, Sample, anomaly, from_facts, from_instance, linear_slope, until_full

pytestmark = pytest.mark.unit

FACTS = {
    "schema": 1,
    "disk": [{"mount": "/", "size_bytes": 20_000 * MB, "free_bytes": 15_000 * MB}],
    "memory": {"total_mb": 2000, "available_mb": 500},
    "load": {"load1": 0.1, "load5": 1.5, "load15": 0.1, "cpus": 2},
    "mail_queue": {"deferred": 3, "active": 1},
}


def test_facts_document_gives_cpu_memory_disk_and_queue():
    sample = from_facts(FACTS)
    assert sample == Sample(
        cpu_pct=75,
        mem_used_mb=1500,
        mem_total_mb=2000,
        disk_used_mb=5000,
        disk_total_mb=20000,
        queue_deferred=3,
        queue_active=1,
    )


def test_a_missing_or_impossible_section_gives_no_figure_not_an_error():
    broken = {**FACTS, "memory": {"total_mb": 10, "available_mb": 50}, "disk": "nonsense", "load": None}
    sample = from_facts(broken)
    assert (sample.cpu_pct, sample.mem_used_mb, sample.disk_used_mb) == (None, None, None)
    assert sample.queue_deferred == 3


def test_provider_bandwidth_and_merge():
    assert from_instance({"bandwidth": 1000, "bandwidth_used": "12.6"}) == Sample(
        bw_used_gb=13, bw_total_gb=1000
    )
    assert from_instance({"bandwidth": None, "bandwidth_used": None}) == Sample()
    merged = from_facts(FACTS).merged(from_instance({"bandwidth": 1000, "bandwidth_used": 2}))
    assert (merged.cpu_pct, merged.bw_used_gb) == (75, 2)


def test_slope_of_a_line_and_of_too_little():
    assert linear_slope([(0, 1), (1, 3), (2, 5)]) == pytest.approx(2)
    assert linear_slope([(1, 1)]) is None
    assert linear_slope([(1, 1), (1, 2)]) is None


def test_disk_growing_100_mb_a_day_with_1000_mb_free_is_full_in_10_days():
    day = 86400
    points = [(i * day, 9000.0 + 100 * i) for i in range(8)]  # last point: 9700 used of 10700
    found = until_full(points, 10_700, "MB", "7 days")
    assert found.days == pytest.approx(10)
    assert "full in 10.0 days" in found.explanation


def test_a_flat_disk_and_an_empty_history_have_no_date():
    assert until_full([(i, 50.0) for i in range(5)], 100, "MB", "6 hours").days is None
    assert "no samples" in until_full([], 100, "MB", "6 hours").explanation


def test_an_anomaly_stands_out_of_its_baseline_and_one_past_spike_does_not_raise_the_bar():
    usual = [100, 104, 98, 101, 97, 103, 99, 102, 100, 96, 400, 101, 99, 100]  # one past spike
    found = anomaly(180, usual)
    assert found.unusual and (found.median, found.spread) == (100, 1.5)
    assert not anomaly(104, usual).unusual
    assert not anomaly(20, usual).unusual  # only highs count


def test_no_verdict_on_a_short_baseline_and_small_changes_of_a_flat_one_are_not_anomalies():
    assert anomaly(1000, [1, 2, 3]) == anomaly(1000, [1, 2, 3]) and anomaly(1000, [1, 2, 3]).score is None
    assert not anomaly(1000, [1, 2, 3]).unusual
    flat = [0] * 14
    assert anomaly(6, flat).unusual  # the spread of a flat series counts as one unit
    assert not anomaly(6, flat, min_excess=20).unusual
    assert anomaly(25, flat, min_excess=20).unusual
