"""Concurrent tenant provisionings through the control plane, beside one provisioning alone.

    MAILFLEET_TESTBED_INSTANCE=17 .venv/bin/python bench/provisioning_bench.py [--tenants 50] [--workers 8]

One `rq worker-pool` (the Procfile's worker shape) serves a fresh control plane on the testbed's
Redis. First one tenant orders a server alone (the baseline: its run time, its queue wait), then
--tenants new tenants order one each at once. Every order goes service -> Redis -> a worker ->
ansible-runner -> playbooks/provision.yml -> the Hostwinds double, which boots a real testbed host
-> the database. Printed: runs that succeeded (goal: all), events lost (stored RunEvents against
runner's counters; goal: none), queue wait p50/p95 (the run's row written -> a worker claims it),
run time p50/p95 against the baseline, throughput against one-at-a-time, and the most runs in
flight at once (a machine takes runs up to its fork budget, jobs.capacity).

Needs root (systemd-nspawn); the servers and hosts it made are removed afterwards, the instance is
left up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from control_plane_testbed import (  # noqa: E402
    concurrent_provisioning,
    provisioning_rows,
    report_failures,
    setup,
    teardown,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=50, help="provisionings ordered at once")
    parser.add_argument("--workers", type=int, default=8, help="workers in the pool")
    args = parser.parse_args(argv)
    if args.tenants < 1 or args.workers < 1:
        parser.error("--tenants and --workers must be at least 1")

    from jobs import capacity

    root = Path(tempfile.mkdtemp(prefix="mailfleet-bench-prov-"))
    saved = dict(os.environ)
    bed = setup(root)
    try:
        with bed.app.app_context():
            budget = capacity.capacity()
        alone, load = concurrent_provisioning(bed, args.tenants, args.workers)
    finally:
        teardown(bed)
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(root, ignore_errors=True)
    database = bed.app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0]
    print(
        f"instance {bed.tb.instance}; database {database}; this machine affords {budget.forks} forks "
        f"({budget.cpus} CPUs, {budget.memory_mb} MB)"
    )
    report_failures(load)
    print(f"{'measure':52} {'figure':>12} {'vs baseline':>22} {'goal':>8}")
    for name, figure, delta, goal in provisioning_rows(alone, load, args.workers):
        print(f"{name:52} {figure:>12} {delta:>22} {goal:>8}")
    return 0 if load.successful == load.runs and load.lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
