"""The sending caps policy service's answer time at a steady request rate (goal: p99 < 5 ms at
500 requests/s, so Postfix never waits on it), on a testbed host as Postfix there asks it, beside
the same load on this machine's loopback.

    MAILFLEET_TESTBED_INSTANCE=N .venv/bin/python bench/sendcap_bench.py [--where both|testbed|loopback]
        [--rate 500] [--seconds 20] [--connections 8] [--baseline REV [--rounds 3]]

testbed: boots a testbed host of the instance, installs the service as the mailu role does (its
sending caps tasks, playbooks/sendcap.yml, with the testbed's site settings: listening on
127.0.0.1:10040, where the host's Postfix asks it) and runs the load generator
(bench/sendcap_load.py, the host's python3) on the host itself, so its connections come from where
Postfix's do; the answer times come back over SSH as JSON. The host is stopped at the end, and the
testbed's services too when this run started them.

loopback: the working tree's roles/mailu/files/sendcap.py started as its unit starts it (its own
/usr/bin/python3 process, a cap table, a state file) on this machine's loopback, under the same load:
the baseline the testbed figure stands beside.

The load is the mix of bench/sendcap_load.py: logged-in senders of two domains, one to ten
recipients a message, each asked for (its receiver group's caps; company domains by their MX host,
a DNS query the first time) and the message at its end. The cap table has the shape the control
plane pushes (a week of dated IP and receiver group caps, domain and mailbox caps), every cap high
enough that no answer is a refusal, which would take a shorter path. The load average is printed
with each figure, the machine being shared, and the service's CPU time a request, which a busy
machine does not inflate as it does the answer times.

With --baseline, only loopback: the service of that git revision (the "before") and the one in the
working tree (the "after") are measured in turns, --rounds times each, so that both meet the same
load of a shared machine; each line gives one side's figures over all its rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration" / "roles"))

from roletest import run_playbook, write_inventory  # noqa: E402
from sendcap_load import SENDER_DOMAINS, mailboxes  # noqa: E402

from mailfleet.warmup import RECEIVER_GROUPS  # noqa: E402
from testbed import Testbed  # noqa: E402
from testbed.site_file import site_vars  # noqa: E402
from webapp.services.warmup import DAYS_AHEAD  # noqa: E402

SERVICE = REPO / "roles/mailu/files/sendcap.py"
LOAD = Path(__file__).resolve().with_name("sendcap_load.py")
GOAL_P99_MS = 5.0
HOST = "sendcap1"
NO_CAP = 10**9  # high enough that nothing is refused


def cap_table() -> dict[str, Any]:
    """A cap table as the control plane pushes it for a server in warm-up, with a cap per domain and
    on every fourth mailbox."""
    today = datetime.now(UTC).date()
    no_cap = {"daily": NO_CAP, "hourly": NO_CAP}
    days = {(today + timedelta(days=n)).isoformat(): no_cap for n in range(DAYS_AHEAD)}
    return {
        "sending_ip": "203.0.113.7",
        "ip_days": days,
        "groups": {group.name: {"suffixes": list(group.suffixes), "days": days} for group in RECEIVER_GROUPS},
        "local_domains": list(SENDER_DOMAINS),
        "domains": {domain: {"daily": NO_CAP} for domain in SENDER_DOMAINS},
        "mailboxes": {mailbox: {"daily": NO_CAP, "hourly": NO_CAP} for mailbox in mailboxes()[::4]},
    }


def load_args(args: argparse.Namespace, port: int) -> list[str]:
    return ["--port", str(port), "--rate", str(args.rate), "--seconds", str(args.seconds),
            "--connections", str(args.connections)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def on_loopback(service_file: Path, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The load generator's report for the service in `service_file` on this machine's loopback."""
    caps, state = tmp / "caps.json", tmp / "counts.json"
    caps.write_text(json.dumps(cap_table()))
    state.unlink(missing_ok=True)
    port = free_port()
    service = subprocess.Popen([
        "/usr/bin/python3", str(service_file), "--listen", f"127.0.0.1:{port}",
        "--caps", str(caps), "--state", str(state),
    ])
    try:
        done = subprocess.run(["/usr/bin/python3", str(LOAD), *load_args(args, port),
                               "--service-pid", str(service.pid)],
                              capture_output=True, text=True, timeout=args.seconds + 120, check=False)
    finally:
        service.terminate()
        service.wait(timeout=10)
    if done.returncode != 0:
        raise SystemExit(f"the load generator failed on loopback: {done.stderr.strip()}")
    return json.loads(done.stdout)


def on_testbed(args: argparse.Namespace) -> dict[str, Any]:
    """The load generator's report, run on a testbed host against the service the role installed."""
    tb = Testbed()
    started_services = not tb.state.read()["processes"]
    tb.up()
    try:
        (host,) = tb.start_hosts([HOST])
        site = site_vars(tb)
        group_vars = {
            "mailu_sendcap_address": site["mailu_sendcap_address"],
            "mailu_compose_up_enabled": site["mailu_compose_up_enabled"],
            "mailu_sendcap_caps": cap_table(),
        }
        with tempfile.TemporaryDirectory(prefix="sendcap-bench-") as work:
            inventory = write_inventory(Path(work), [host], group="sendcap_bench", group_vars=group_vars)
            # ansible.cfg checks host keys strictly: the keys the host booted with.
            ssh = {"ANSIBLE_SSH_COMMON_ARGS": f"-o UserKnownHostsFile={tb.known_hosts}"}
            converge = run_playbook("playbooks/sendcap.yml", inventory, env=ssh)
            try:
                converge.assert_ok()
            except AssertionError as exc:
                raise SystemExit(f"installing the policy service failed: {exc}") from None
        print(f"policy service installed on {host.name} by the mailu role's sending caps tasks "
              f"in {converge.seconds:.0f} s", flush=True)
        host.ssh("cat > /root/sendcap_load.py", stdin=LOAD.read_text())
        command = " ".join(["python3 /root/sendcap_load.py", "--address", site["mailu_sendcap_address"],
                            *load_args(args, 10040),
                            "--service-pid", "$(systemctl show --property MainPID --value mailu-sendcap)"])
        done = host.ssh(command, check=False, timeout=args.seconds + 120)
        if done.returncode != 0:
            raise SystemExit(f"the load generator failed on {host.name}: {done.stderr.strip()}")
        return json.loads(done.stdout)
    finally:
        if HOST in tb.state.read()["hosts"]:
            tb.stop_host(HOST)
        if started_services:
            tb.down()


def percentile(ordered: Sequence[float], share: float) -> float:
    return ordered[max(0, int(len(ordered) * share) - 1)]


def summary(name: str, report: dict[str, Any], seconds: float, args: argparse.Namespace) -> bool:
    """Prints one side's figures; True when its p99 meets the goal."""
    rcpt, end = (sorted(report["latencies"][kind]) for kind in ("rcpt", "end"))
    ordered = sorted(rcpt + end)
    p99 = percentile(ordered, 0.99)
    ok = p99 < GOAL_P99_MS
    load = " ".join(f"{value:.2f}" for value in report["load_average"])
    answers = ", ".join(f"{number} {answer}" for answer, number in sorted(report["answers"].items()))
    cpu = report.get("service_cpu_seconds")
    cpu_text = f"; service CPU {cpu * 1000 / len(ordered):.3f} ms a request" if cpu is not None else ""
    print(
        f"{name}: {len(ordered) / seconds:.0f} requests/s over {args.connections} connections "
        f"({len(end)} messages, {len(rcpt) / max(1, len(end)):.2f} recipients each; answers: {answers}), "
        f"p50 {percentile(ordered, 0.5):.2f} ms, p99 {p99:.2f} ms, "
        f"p99.9 {percentile(ordered, 0.999):.2f} ms, "
        f"max {ordered[-1]:.2f} ms; p99 per recipient {percentile(rcpt, 0.99):.2f} ms, at the end of a "
        f"message {percentile(end, 0.99):.2f} ms{cpu_text} (goal p99 < {GOAL_P99_MS:.0f} ms at "
        f"{args.rate:.0f}/s): {'ok' if ok else 'MISSED'}; load average then {load}",
        flush=True,
    )
    return ok


def merged(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One side's reports of several rounds as one."""
    answers: dict[str, int] = {}
    for report in reports:
        for answer, number in report["answers"].items():
            answers[answer] = answers.get(answer, 0) + number
    return {
        "latencies": {kind: [ms for r in reports for ms in r["latencies"][kind]] for kind in ("rcpt", "end")},
        "answers": answers,
        "load_average": reports[-1]["load_average"],
        "service_cpu_seconds": sum(r["service_cpu_seconds"] for r in reports),
    }


def baseline(args: argparse.Namespace, tmp: Path) -> int:
    before = tmp / "before" / "sendcap.py"
    before.parent.mkdir()
    shown = subprocess.run(["git", "show", f"{args.baseline}:{SERVICE.relative_to(REPO)}"],
                           cwd=REPO, capture_output=True, text=True, check=True)
    before.write_text(shown.stdout)
    sides: dict[Path, list[dict[str, Any]]] = {before: [], SERVICE: []}
    for _ in range(args.rounds):
        for service_file, reports in sides.items():
            reports.append(on_loopback(service_file, tmp, args))
    seconds = args.seconds * args.rounds
    summary(f"before ({args.baseline})", merged(sides[before]), seconds, args)
    return 0 if summary("after (working tree)", merged(sides[SERVICE]), seconds, args) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--where", choices=("both", "testbed", "loopback"), default="both")
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--baseline", help="a git revision measured beside the working tree (loopback)")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each side with --baseline")
    args = parser.parse_args()
    print(f"load average at the start {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
          f"({os.cpu_count()} CPUs)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            return baseline(args, Path(tmp))
        results = []
        if args.where in ("both", "testbed"):
            report = on_testbed(args)
            results.append(summary(f"testbed host {HOST} (from the host, as its Postfix asks)", report,
                                   args.seconds, args))
        if args.where in ("both", "loopback"):
            report = on_loopback(SERVICE, Path(tmp), args)
            results.append(summary("loopback of this machine (baseline)", report, args.seconds, args))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
