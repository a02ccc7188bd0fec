"""site.yml with Ansible's stock strategy and with the repository's default (ansible.cfg), side by
side in one run: a fresh testbed host and a no-change rerun each (the same measurement as
bench/site_bench.py), and for the default also a rerun without the fact cache.

    MAILFLEET_TESTBED_INSTANCE=12 .venv/bin/python bench/strategy_bench.py [--tags hardening,backup]

Mitogen (PyPI ``mitogen``) ships its strategies as Ansible plugins; ansible.cfg finds
``mitogen_linear`` in the repository's plugins/strategy, and a run selects a strategy with
ANSIBLE_STRATEGY (``linear`` is the switch back to the stock one). Prints the wall times and the
rerun's speed-up (goal: the rerun at least 1.5x faster than stock).
"""

from __future__ import annotations

import argparse
import configparser
import sys
from pathlib import Path

from ansible.release import __version__ as ansible_core_version
from mitogen import __version__ as mitogen_version

sys.path.insert(0, str(Path(__file__).resolve().parent))

from site_bench import REPO, measure  # noqa: E402

from testbed import Testbed  # noqa: E402

RERUN_SPEEDUP_GOAL = 1.5


def default_strategy() -> str:
    """The strategy ansible.cfg names."""
    config = configparser.ConfigParser()
    config.read(REPO / "ansible.cfg")
    return config.get("defaults", "strategy", fallback="linear")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", default="", help="comma-separated tags (default: the whole site.yml)")
    args = parser.parse_args(argv)
    tags = [t for t in args.tags.split(",") if t] or None
    default = default_strategy()
    strategies = {"linear (stock)": "linear", f"{default} (default)": default}

    tb = Testbed()
    tb.up()
    results = {}
    try:
        for index, (name, strategy) in enumerate(strategies.items(), start=1):
            results[name] = measure(tb, f"strategy{index}", tags, {"ANSIBLE_STRATEGY": strategy},
                                    uncached_rerun=index == len(strategies))
    finally:
        tb.down()

    scope = ",".join(tags) if tags else "all roles"
    versions = f"ansible-core {ansible_core_version}, mitogen {'.'.join(map(str, mitogen_version))}"
    print(f"site.yml ({scope}; {versions}; instance {tb.instance})")
    print(f"{'strategy':<24} {'fresh host':>11} {'rerun':>9} {'rerun, no fact cache':>21}  rerun changed")
    for name, (fresh, again, _records, uncached) in results.items():
        recap = next(iter(again.recap.values()))
        without = f"{uncached.seconds:.1f}s" if uncached else "-"
        print(f"{name:<24} {fresh.seconds:>10.1f}s {again.seconds:>8.1f}s {without:>21}  {recap.changed}")
    (_, stock, _, _), (_, new, _, _) = results.values()
    speedup = stock.seconds / new.seconds
    verdict = "yes" if speedup >= RERUN_SPEEDUP_GOAL else "NO"
    print(f"rerun speed-up {speedup:.2f}x (goal {RERUN_SPEEDUP_GOAL}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
