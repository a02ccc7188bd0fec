"""roles/hardening on a testbed host: converge, a second run with changed=0, then checks from
outside the host (ssh-audit, a password login attempt, port probes, fail2ban, Lynis)."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from roletest import run_playbook, write_inventory

pytestmark = pytest.mark.testbed

SSH_AUDIT = Path(sys.executable).with_name("ssh-audit")
# The role alone, as site.yml applies it (site.yml as a whole is exercised by bench/site_bench.py:
# every role's argument spec is checked on every site.yml run, so it needs a full tenant's vars).
PLAY = """
- name: hardening role under test
  hosts: all
  gather_facts: false  # the role gathers the subset it reads (min, virtual)
  roles:
    - role: hardening
"""
LISTED_PORT = 587  # in hardening_firewall_tcp_ports (Mailu's submission port)
UNLISTED_PORT = 8080


@pytest.fixture(scope="module")
def hardened(start_hosts, testbed, tmp_path_factory):
    """One host converged by the role, then run again; returns (host, first run, second run)."""
    (host,) = start_hosts("hard1")
    gateway = host.address.rsplit(".", 1)[0] + ".1"
    work = tmp_path_factory.mktemp("hardening")
    play = work / "play.yml"
    play.write_text(PLAY)
    inventory = write_inventory(
        work,
        [host],
        group="tenant_hardening",
        # The controller reaches hosts from the gateway: never ban it (ssh-audit opens ~40
        # connections that the aggressive sshd jail would count).
        group_vars={"hardening_fail2ban_ignoreip": ["127.0.0.1/8", "::1", gateway]},
    )
    first = run_playbook(play, inventory)
    second = run_playbook(play, inventory)
    print(f"\nhardening: converge {first.seconds:.1f}s, second run {second.seconds:.1f}s")
    return host, first, second


def test_converges_then_second_run_changes_nothing(hardened):
    _, first, second = hardened
    first.assert_ok()
    assert sum(r.changed for r in first.recap.values()) > 0, "the first run on a fresh host changed nothing"
    second.assert_idempotent()


def test_ssh_audit_reports_no_failures(hardened):
    host, first, _ = hardened
    first.assert_ok()
    proc = subprocess.run([str(SSH_AUDIT), "-j", host.address], capture_output=True, text=True, timeout=60)
    report = json.loads(proc.stdout)
    failures = [
        f"{kind} {algo['algorithm']}: {algo['notes']['fail']}"
        for kind in ("kex", "key", "enc", "mac")
        for algo in report[kind]
        if algo.get("notes", {}).get("fail")
    ]
    warnings = sorted(
        {f"{kind} {a['algorithm']}" for kind in ("kex", "key", "enc", "mac") for a in report[kind]
         if a.get("notes", {}).get("warn")}
    )
    print(f"\nssh-audit {report['banner']['raw']}: exit {proc.returncode}, failures {len(failures)}, "
          f"warnings {warnings}, CVEs {[c.get('name') for c in report.get('cves', [])]}")
    assert not failures, failures
    assert not report.get("cves"), report["cves"]
    assert "critical" not in report.get("recommendations", {}), report["recommendations"]
    # exit 0 = all good, 2 = warnings only (non-post-quantum KEX kept for older clients), 3 = failure
    assert proc.returncode in (0, 2), proc.stdout[-2000:]
    kex = [a["algorithm"] for a in report["kex"]]
    assert kex[0].startswith(("mlkem768x25519", "sntrup761x25519")), f"post-quantum KEX not first: {kex}"


def test_password_login_is_refused(hardened):
    host, first, _ = hardened
    first.assert_ok()
    proc = subprocess.run(
        ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
         "-o", "ConnectTimeout=10", f"root@{host.address}", "true"],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 255
    # The server offers public keys only: password and keyboard-interactive are not even listed.
    assert re.search(r"Permission denied \(publickey\)", proc.stderr), proc.stderr
    effective = host.ssh("sshd -T").stdout
    assert "passwordauthentication no" in effective
    assert "permitrootlogin without-password" in effective  # sshd -T's name for prohibit-password


def _connects(address: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def test_firewall_opens_only_listed_ports(hardened):
    host, first, _ = hardened
    first.assert_ok()
    for port in (LISTED_PORT, UNLISTED_PORT):
        host.ssh(f"systemd-run --unit=probe-{port} python3 -m http.server --bind 0.0.0.0 {port}")
    try:
        # Both listen (checked on the host itself), but only the listed one is reachable from outside.
        for port in (LISTED_PORT, UNLISTED_PORT):
            probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 1)"
            host.ssh(f'for i in $(seq 50); do python3 -c "{probe}" && exit 0; sleep 0.1; done; exit 1')
        assert _connects(host.address, LISTED_PORT), "a listed port is closed"
        assert not _connects(host.address, UNLISTED_PORT), f"port {UNLISTED_PORT} is not listed but is open"
        assert _connects(host.address, 22)
    finally:
        host.ssh(f"systemctl stop probe-{LISTED_PORT} probe-{UNLISTED_PORT}", check=False)
    ruleset = host.ssh("nft list ruleset").stdout
    assert "table inet mailfleet" in ruleset
    assert "policy drop" in ruleset


def test_fail2ban_jails_ban_into_nftables(hardened):
    host, first, _ = hardened
    first.assert_ok()
    status = host.ssh("fail2ban-client status").stdout
    for jail in ("sshd", "mailu-front", "mailu-admin"):
        assert jail in status, status
    # The Mailu filters match the log lines they were written for.
    front = ('2026/11/25 14:00:00 [info] 12#12: *3 client login failed: "Authentication credentials invalid" '
             'while in http auth state, client: 203.0.113.9, server: 0.0.0.0:993, login: "a@example.test"')
    admin = ("WARNING in views: Login attempt for: a@example.test/web from: 203.0.113.9/40000: "
             "failed: badauth: 8f14e4")
    for jail, line in (("mailu-front", front), ("mailu-admin", admin)):
        out = host.ssh(f"fail2ban-regex {shlex.quote(line)} /etc/fail2ban/filter.d/{jail}.conf").stdout
        assert re.search(r"Failregex: 1 total", out), out
    # A ban lands in fail2ban's own nftables table, for Docker-forwarded traffic too.
    host.ssh("fail2ban-client set mailu-front banip 203.0.113.77")
    try:
        table = host.ssh("nft list table inet f2b-table").stdout
        assert "203.0.113.77" in table
        assert "hook forward" in table and "hook input" in table
    finally:
        host.ssh("fail2ban-client set mailu-front unbanip 203.0.113.77", check=False)
    # The controller still gets in: the mailfleet table coexists with fail2ban's.
    assert host.ssh("nft list tables").stdout.count("table inet") >= 2


def test_sysctl_baseline_applies_what_the_host_allows(hardened):
    host, first, _ = hardened
    first.assert_ok()
    conf = host.ssh("cat /etc/sysctl.d/90-mailfleet.conf").stdout
    active = dict(re.findall(r"^([a-z0-9_.]+) = (\S+)$", conf, re.MULTILINE))
    skipped = dict(re.findall(r"^#   ([a-z0-9_.]+) = (\S+)$", conf, re.MULTILINE))
    wanted = {**active, **skipped}
    assert wanted.get("net.ipv4.ip_forward") == "1", "the baseline must keep forwarding (container engine)"
    assert {"kernel.kptr_restrict", "net.ipv4.tcp_syncookies", "fs.protected_symlinks"} <= set(wanted)
    for key, value in active.items():  # applied: the running kernel has the value
        assert host.ssh(f"sysctl -n {key}").stdout.split() == value.split(), key
    for key in skipped:  # skipped only because the host cannot write it (nspawn: /proc/sys is read-only)
        path = "/proc/sys/" + key.replace(".", "/")
        assert host.ssh(f"test -w {path}", check=False).returncode != 0, f"{key} is writable but was skipped"
    print(f"\nsysctl: {len(active)} applied, {len(skipped)} read-only here and skipped")


def test_lynis_hardening_index(hardened):
    host, first, _ = hardened
    first.assert_ok()
    host.ssh("DEBIAN_FRONTEND=noninteractive apt-get install -y -q lynis >/dev/null", timeout=300)
    out = host.ssh("lynis audit system --quick --no-colors --no-log 2>&1", timeout=600).stdout
    match = re.search(r"Hardening index : (\d+)", out)
    assert match, out[-2000:]
    print(f"\nLynis hardening index on {host.name}: {match[1]}")
    assert int(match[1]) >= 60
