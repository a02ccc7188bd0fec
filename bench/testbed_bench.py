"""Testbed start time: services plus 1 and 5 hosts, cold (no cached root filesystem) and warm.

Goal: 5 hosts warm in under 20 s. Each measurement runs in a fresh instance; the cold
ones use an empty cache folder, so the machine's own cache (and anyone using it) is untouched.

    .venv/bin/python bench/testbed_bench.py [--skip-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

GOAL_WARM_5 = 20.0
INSTANCE = 210

CHILD = """
import json, sys, time
from testbed import Testbed
n = int(sys.argv[1]); tb = Testbed({instance})
t0 = time.monotonic()
try:
    tb.up()
    t1 = time.monotonic()
    tb.start_hosts([f"bench{{i}}" for i in range(n)])
    t2 = time.monotonic()
    print(json.dumps({{"services": t1 - t0, "hosts": t2 - t1, "total": t2 - t0}}))
finally:
    tb.down()
"""


def measure(hosts: int, cache_dir: str | None) -> dict[str, float]:
    env = dict(os.environ)
    if cache_dir:
        env["MAILFLEET_CACHE_DIR"] = cache_dir
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(instance=INSTANCE), str(hosts)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--skip-cold", action="store_true", help="skip the two debootstrap builds (~1 min each)"
    )
    args = parser.parse_args()
    rows = []
    for hosts in (1, 5):
        if not args.skip_cold:
            cold_cache = tempfile.mkdtemp(prefix="mailfleet-bench-cache-")
            try:
                rows.append(("cold", hosts, measure(hosts, cold_cache)))
            finally:
                shutil.rmtree(cold_cache, ignore_errors=True)
        measure(hosts, None)  # make sure the real cache exists before the warm figure
        rows.append(("warm", hosts, measure(hosts, None)))
    print(f"{'start':<6}{'hosts':>6}{'services s':>12}{'hosts s':>10}{'total s':>10}   goal")
    for kind, hosts, t in rows:
        goal = f"< {GOAL_WARM_5:.0f} s" if (kind, hosts) == ("warm", 5) else ""
        verdict = ("met" if t["total"] < GOAL_WARM_5 else "MISSED") if goal else ""
        figures = f"{t['services']:>12.1f}{t['hosts']:>10.1f}{t['total']:>10.1f}"
        print(f"{kind:<6}{hosts:>6}{figures}   {goal} {verdict}")


if __name__ == "__main__":
    main()
