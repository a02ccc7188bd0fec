"""Benchmark: `ansible-inventory --list` over N Hostwinds instances (default 1,000) in the double.

The Hostwinds double (not the real API) runs on a loopback port in this process, seeded with N
ACTIVE instances. Measured, each as the median of --runs runs:
  cold    no cache: every run asks the API
  warm    inventory cache (jsonfile) filled by one run before: no API call at all
  lean    warm, with the attribute allow-list of inventory/hostwinds.yml (7 fields + derived ones)
and, for the first two cases, the plugin's own parse() time in-process (without the ~1 s it takes
ansible-inventory to start Python and Ansible). API calls per refresh come from the double's counter.
Goal: one list call plus one price list per refresh; cached listing under 1 s.

    .venv/bin/python bench/inventory_bench.py [--instances 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from werkzeug.serving import make_server  # noqa: E402

from testbed.doubles.hostwinds import DEFAULT_KEY, HostwindsState, create_app  # noqa: E402

BIN = Path(sys.executable).parent


def serve(state: HostwindsState) -> tuple[str, Callable[[], None]]:
    server = make_server("127.0.0.1", 0, create_app(state), threaded=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/cloud/api.php", server.shutdown


LEAN = "attributes: [serviceid, srvrname, status, main_ip, location_id, product_id, created_at]\n"


def write_config(directory: Path, url: str, cache: bool, extra: str = "", name: str = "") -> Path:
    path = directory / f"{name or ('cached' if cache else 'cold')}.hostwinds.yml"
    text = f"plugin: mailfleet.fleet.hostwinds\napi_url: {url}\napi_key: {DEFAULT_KEY}\n{extra}"
    if cache:
        text += (f"cache: true\ncache_plugin: ansible.builtin.jsonfile\n"
                 f"cache_connection: {directory}/cache-{path.stem}\ncache_timeout: 3600\n")
    path.write_text(text)
    return path


def cli_run(config: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the ansible-inventory process)."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(config), "--list"], env=env,
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0 or ('"hostwinds"' not in result.stdout and config.suffix != ".ini"):
        raise SystemExit(f"ansible-inventory failed:\n{result.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def parse_run(config: Path) -> tuple[float, float]:
    """The plugin's parse() alone, in-process, as InventoryManager calls it."""
    from ansible.inventory.data import InventoryData
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader, inventory_loader

    if not getattr(parse_run, "ready", False):
        init_plugin_loader([str(REPO / "collections")])
        parse_run.ready = True  # type: ignore[attr-defined]
    plugin = inventory_loader.get("mailfleet.fleet.hostwinds")
    started, cpu = time.perf_counter(), time.process_time()
    plugin.parse(InventoryData(), DataLoader(), str(config), cache=True)
    if getattr(plugin, "_cache", None):
        plugin.update_cache_if_changed()
    # process_time also counts the double's thread serving the answer (same process).
    return time.perf_counter() - started, time.process_time() - cpu


def measure(state: HostwindsState, runs: int, once: Callable[[], tuple[float, float]]
            ) -> tuple[float, float, float]:
    """(median wall seconds, median CPU seconds, API calls per run)."""
    state.calls.clear()
    samples = [once() for _ in range(runs)]
    return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples),
            sum(state.calls.values()) / runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    state = HostwindsState()
    state.seed(args.instances)
    url, stop = serve(state)
    try:
        with tempfile.TemporaryDirectory(prefix="mailfleet-inventory-bench-") as tmp:
            directory = Path(tmp)
            cold_cfg, cached_cfg = write_config(directory, url, False), write_config(directory, url, True)
            cold = measure(state, args.runs, lambda: cli_run(cold_cfg))
            cli_run(cached_cfg)  # fill the cache
            warm = measure(state, args.runs, lambda: cli_run(cached_cfg))
            lean_cfg = write_config(directory, url, True, LEAN, name="lean")
            cli_run(lean_cfg)
            lean = measure(state, args.runs, lambda: cli_run(lean_cfg))
            parse_cold = measure(state, args.runs, lambda: parse_run(cold_cfg))
            parse_warm = measure(state, args.runs, lambda: parse_run(cached_cfg))
            calls_detail = dict(state.calls)
            empty = directory / "empty.ini"
            empty.write_text("localhost\n")
            baseline = measure(state, args.runs, lambda: cli_run(empty))
    finally:
        stop()
    print(f"ansible-inventory --list, {args.instances} instances in the Hostwinds double "
          f"(median of {args.runs}; 2-core machine, load average {os.getloadavg()[0]:.1f})")
    print(f"{'case':<36}{'wall':>9}{'CPU':>9}{'API calls/refresh':>19}   goal")
    rows = [
        ("cold (no cache), ansible-inventory", cold, "2 calls (1 list + 1 price list)"),
        ("cached, ansible-inventory", warm, "< 1 s, 0 calls"),
        ("cached, lean attributes (7 fields)", lean, "< 1 s, 0 calls"),
        ("cold, plugin parse() only", parse_cold, "2 calls"),
        ("cached, plugin parse() only", parse_warm, "< 1 s, 0 calls"),
        ("baseline: ansible-inventory, 1 host", baseline, "(start-up cost of the CLI itself)"),
    ]
    for name, (seconds, cpu, calls), goal in rows:
        print(f"{name:<36}{seconds:>7.2f} s{cpu:>7.2f} s{calls:>19.1f}   {goal}")
    print(f"(calls seen in the last case, by action: {calls_detail or 'none'})")


if __name__ == "__main__":
    main()
