"""Helpers for role tests: run a playbook against testbed hosts and read its recap.

Import them in a test module (``from roletest import run_playbook, write_inventory``); the
fixtures live in conftest.py beside this file. Every role test follows the molecule pattern on
the testbed: converge, run again and assert changed=0, then verify from outside the host. Use it like this::

    inventory = write_inventory(tmp_path, hosts, group="tenant_acme")
    first = run_playbook("playbooks/site.yml", inventory, tags=["hardening"])
    first.assert_ok()
    run_playbook("playbooks/site.yml", inventory, tags=["hardening"]).assert_idempotent()

Extra variables go through a 0600 file (`-e @file`), never the command line, so a secret passed
to a play never shows in a process list.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

# "web1   : ok=12   changed=0    unreachable=0    failed=0    skipped=3    rescued=0    ignored=0"
_TASK_HEADER = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.+?)\] \**$")
_RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:[a-z]+=\d+\s*)+)$")


@dataclass(frozen=True)
class HostRecap:
    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass
class PlaybookRun:
    """One ansible-playbook run: exit code, output, per-host recap and wall time."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    recap: dict[str, HostRecap] = field(default_factory=dict)

    def _explain(self, why: str) -> str:
        lines = self.stdout.splitlines()
        fatal = [i for i, line in enumerate(lines) if line.startswith("fatal:")]
        failures = "\n...\n".join("\n".join(lines[max(i - 2, 0) : i + 25]) for i in fatal)
        tail = "\n".join(lines[-60:])
        command = " ".join(self.args)
        return (f"{why}\n--- ansible-playbook {command}\n--- failures\n{failures}"
                f"\n--- tail\n{tail}\n--- stderr\n{self.stderr[-3000:]}")

    def assert_ok(self) -> PlaybookRun:
        """The run succeeded on every host: rc 0, a recap, no failed or unreachable host."""
        assert self.returncode == 0, self._explain(f"ansible-playbook exited {self.returncode}")
        assert self.recap, self._explain("no PLAY RECAP in the output")
        bad = {h: r for h, r in self.recap.items() if r.failed or r.unreachable}
        assert not bad, self._explain(f"failed/unreachable hosts: {bad}")
        return self

    def changed_tasks(self) -> list[str]:
        """Names of the tasks (and handlers) that reported a change, in order."""
        names: list[str] = []
        task = ""
        for line in self.stdout.splitlines():
            header = _TASK_HEADER.match(line)
            if header:
                task = header["name"]
            elif line.startswith("changed:") and task and task not in names:
                names.append(task)
        return names

    def assert_idempotent(self) -> PlaybookRun:
        """The run succeeded and changed nothing anywhere (changed=0 on every host)."""
        self.assert_ok()
        changed = {h: r.changed for h, r in self.recap.items() if r.changed}
        tasks = self.changed_tasks()
        assert not changed, self._explain(f"second run changed something: {changed} in {tasks}")
        return self


_FIELDS = set(HostRecap.__dataclass_fields__)


def parse_recap(stdout: str) -> dict[str, HostRecap]:
    """Read the PLAY RECAP block of ansible-playbook's default output into per-host counts."""
    recap: dict[str, HostRecap] = {}
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if not in_recap:
            continue
        match = _RECAP_LINE.match(line.strip())
        if match:
            counts = dict(pair.split("=") for pair in match["counts"].split())
            recap[match["host"]] = HostRecap(**{k: int(v) for k, v in counts.items() if k in _FIELDS})
    return recap


def host_vars(host: Any) -> dict[str, str]:
    """Connection variables of one testbed host (`.address`, `.ssh_key`, `.ssh_user`)."""
    return {
        "ansible_host": host.address,
        "ansible_user": getattr(host, "ssh_user", "root"),
        "ansible_ssh_private_key_file": str(host.ssh_key),
    }


def write_inventory_groups(
    directory: Path,
    groups: Mapping[str, tuple[Iterable[Any], Mapping[str, Any]]],
    *,
    name: str = "inventory.json",
) -> Path:
    """Write a JSON (YAML-compatible) inventory: {group: (testbed hosts, group vars)}."""
    children = {
        group: {"hosts": {h.name: host_vars(h) for h in hosts}, "vars": dict(group_vars)}
        for group, (hosts, group_vars) in groups.items()
    }
    path = Path(directory) / name
    path.write_text(json.dumps({"all": {"children": children}}, indent=2))
    return path


def write_inventory(
    directory: Path,
    hosts: Iterable[Any],
    *,
    group: str = "testbed",
    group_vars: Mapping[str, Any] | None = None,
    name: str = "inventory.json",
) -> Path:
    """Write an inventory with one group of testbed hosts."""
    return write_inventory_groups(directory, {group: (hosts, group_vars or {})}, name=name)


def run_playbook(
    playbook: str | Path,
    inventory: Path,
    *,
    extra_vars: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    limit: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> PlaybookRun:
    """Run ansible-playbook from the repository root with its ansible.cfg and return the parsed run.

    `env` adds environment variables (for example the secrets store's, read by the lookup)."""
    args = ["-i", str(inventory), str(REPO / playbook)]
    if tags:
        args += ["--tags", ",".join(tags)]
    if limit:
        args += ["--limit", limit]
    vars_file = None
    if extra_vars:
        vars_file = Path(inventory).with_name(f"extra-vars-{time.monotonic_ns()}.json")
        fd = os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(dict(extra_vars), handle)
        args += ["-e", f"@{vars_file}"]
    run_env = {
        **os.environ,
        **dict(env or {}),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{ANSIBLE_PLAYBOOK.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [str(ANSIBLE_PLAYBOOK), *args],
            cwd=REPO,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        if vars_file is not None:
            vars_file.unlink(missing_ok=True)
    return PlaybookRun(
        args=args,
        returncode=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
        seconds=time.monotonic() - started,
        recap=parse_recap(proc.stdout),
    )


def wheelhouse(host: Any, directory: Path) -> Path:
    """Every dependency of the app as a wheel for the host's Python, from this machine's package
    index (the hosts have none): scripts/wheelhouse.py, as an operator builds it."""
    version = host.ssh("python3 -c 'import platform; print(platform.python_version())'").stdout.strip()
    subprocess.run(
        [sys.executable, str(REPO / "scripts/wheelhouse.py"), str(directory), "--python-version", version],
        check=True,
        timeout=900,
    )
    return directory


def reverse_tunnel(host: Any, port: int, target: str) -> subprocess.Popen[bytes]:
    """`ssh -R`: the host's 127.0.0.1:`port` reaches `target` (host:port on this machine's loopback),
    as a host would reach an outside API; up when this returns. Terminate it when done."""
    from testbed.hosts import SSH_OPTIONS

    tunnel = subprocess.Popen(
        ["ssh", *SSH_OPTIONS, "-o", "ExitOnForwardFailure=yes", "-i", str(host.ssh_key), "-N",
         "-R", f"127.0.0.1:{port}:{target}", f"{getattr(host, 'ssh_user', 'root')}@{host.address}"],
        stdin=subprocess.DEVNULL,
    )
    probe = f"timeout 2 bash -c '</dev/tcp/127.0.0.1/{port}'"
    deadline = time.monotonic() + 60
    while host.ssh(probe, check=False).returncode != 0:
        assert tunnel.poll() is None and time.monotonic() < deadline, "the SSH tunnel did not come up"
        time.sleep(1)
    return tunnel
