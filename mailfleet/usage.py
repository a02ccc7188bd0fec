"""Usage samples and what they foretell, in pure Python (no database, no web).

A sample is one server's figures at one moment, every field optional because each comes from a
different feed: the inside facts document (playbooks/health_facts.yml) gives CPU pressure, memory,
disk and the mail queue; the provider gives bandwidth used against the plan's allowance; the
control plane counts mailboxes, and the server's Mailu reports the mail stored in them. Figures
are whole numbers in the units stored (MB, GB, percent), so a sample costs a few bytes per field.

CPU is the 5-minute load average per CPU, in percent (100 = every CPU busy on average): the facts
play reads /proc/loadavg, which already averages over the 5-minute sampling interval.

The disk forecast is a least-squares line through (time, used) points, extended until the disk is
full; the explanation names the window, the growth per day and the free space left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

MB = 1024 * 1024

#: The figures a sample may carry, in the units stored.
FIELDS = (
    "cpu_pct",
    "mem_used_mb",
    "mem_total_mb",
    "disk_used_mb",
    "disk_total_mb",
    "bw_used_gb",
    "bw_total_gb",
    "queue_deferred",
    "queue_active",
    "mailboxes",
    "mailbox_mb",
)


@dataclass(frozen=True)
class Sample:
    cpu_pct: int | None = None
    mem_used_mb: int | None = None
    mem_total_mb: int | None = None
    disk_used_mb: int | None = None
    disk_total_mb: int | None = None
    bw_used_gb: int | None = None
    bw_total_gb: int | None = None
    queue_deferred: int | None = None
    queue_active: int | None = None
    mailboxes: int | None = None
    mailbox_mb: int | None = None

    def as_dict(self) -> dict[str, int | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def merged(self, other: Sample) -> Sample:
        """This sample with the other's known figures filled in where this one has none."""
        mine, theirs = self.as_dict(), other.as_dict()
        return Sample(**{k: mine[k] if mine[k] is not None else theirs[k] for k in mine})


def _number(section: Any, key: str) -> float | None:
    value = section.get(key) if isinstance(section, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def from_facts(doc: Mapping[str, Any]) -> Sample:
    """The figures of a facts document (schema 1); a section missing or malformed gives None."""
    cpu = mem_used = mem_total = disk_used = disk_total = deferred = active = None
    load = doc.get("load")
    load5, cpus = _number(load, "load5"), _number(load, "cpus")
    if load5 is not None and load5 >= 0:
        cpu = round(100 * load5 / max(cpus or 1.0, 1.0))
    memory = doc.get("memory")
    total, available = _number(memory, "total_mb"), _number(memory, "available_mb")
    if total and available is not None and 0 <= available <= total:
        mem_total, mem_used = round(total), round(total - available)
    disks = [d for d in doc.get("disk") or [] if isinstance(d, Mapping)]
    sizes: list[tuple[float, float]] = []
    for disk in disks:
        size, free = _number(disk, "size_bytes"), _number(disk, "free_bytes")
        if size and free is not None and 0 <= free <= size:
            sizes.append((size, free))
    if sizes:
        disk_total = round(sum(s for s, _ in sizes) / MB)
        disk_used = round(sum(s - f for s, f in sizes) / MB)
    queue = doc.get("mail_queue")
    if isinstance(queue, Mapping):
        d, a = _number(queue, "deferred"), _number(queue, "active")
        deferred = round(d) if d is not None else None
        active = round(a) if a is not None else None
    return Sample(
        cpu_pct=cpu,
        mem_used_mb=mem_used,
        mem_total_mb=mem_total,
        disk_used_mb=disk_used,
        disk_total_mb=disk_total,
        queue_deferred=deferred,
        queue_active=active,
    )


def from_instance(instance: Mapping[str, Any]) -> Sample:
    """Bandwidth from the provider's instance: `bandwidth_used` of `bandwidth` GB (either may be null)."""
    used, total = _number(instance, "bandwidth_used"), _number(instance, "bandwidth")
    return Sample(
        bw_used_gb=round(used) if used is not None and used >= 0 else None,
        bw_total_gb=round(total) if total is not None and total > 0 else None,
    )


# --- forecast -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Forecast:
    """When a resource fills up on its current trend; `days` None: not growing (or too few points)."""

    days: float | None
    left: float  # free, in the resource's unit
    explanation: str


def linear_slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (x, y) points; None with fewer than two distinct x."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var


def until_full(
    points: Sequence[tuple[int, float]], capacity: float, unit: str, window: str, *, min_points: int = 3
) -> Forecast:
    """Fit (epoch seconds, used) points and extend the line to `capacity`."""
    if not points:
        return Forecast(None, capacity, f"no samples in the last {window}")
    left = max(capacity - points[-1][1], 0.0)
    slope = linear_slope([(t / 86400, y) for t, y in points]) if len(points) >= min_points else None
    if slope is None:
        return Forecast(None, left, f"too few samples in the last {window} for a trend")
    if slope <= 0:
        return Forecast(None, left, f"not growing over the last {window} ({slope:+,.0f} {unit}/day)")
    days = left / slope
    return Forecast(
        days,
        left,
        f"{slope:,.0f} {unit}/day over the last {window}; {left:,.0f} {unit} free: full in {days:,.1f} days",
    )


# --- anomalies ------------------------------------------------------------------------------------
#: The modified z-score (Iglewicz and Hoaglin) above which a value is an outlier of its baseline.
OUTLIER_SCORE = 3.5
MIN_BASELINE = 7  # past values needed before anything is called unusual


@dataclass(frozen=True)
class Anomaly:
    unusual: bool
    score: float | None  # None: too short a baseline to judge
    median: float | None
    spread: float | None  # the median absolute deviation (at least 1: figures are whole units)


def anomaly(value: float, baseline: Sequence[float], *, min_excess: float = 0.0) -> Anomaly:
    """Whether `value` is unusually high against `baseline` (the same figure at comparable moments,
    e.g. the same hour of past days): median and median absolute deviation, so a past spike or two
    does not raise the bar; `min_excess` keeps a tiny absolute change from counting."""
    if len(baseline) < MIN_BASELINE:
        return Anomaly(False, None, None, None)
    ordered = sorted(baseline)
    median = _median(ordered)
    spread = max(_median(sorted(abs(x - median) for x in ordered)), 1.0)
    score = 0.6745 * (value - median) / spread
    return Anomaly(score > OUTLIER_SCORE and value - median >= min_excess, score, median, spread)


def _median(ordered: Sequence[float]) -> float:
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
