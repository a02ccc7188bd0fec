"""Testbed hosts: Debian 12 booted by systemd-nspawn with systemd as PID 1, each in its own
network namespace on the instance's bridge, reachable over SSH with the instance's key."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from testbed import network
from testbed.daemons import Recorded, TestbedError, run, start, stop, tail
from testbed.layout import Layout

HOSTNAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
BOOT_TIMEOUT = 90.0
SSH_OPTIONS = (
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=5",
)


@dataclass(frozen=True)
class Host:
    name: str
    index: int
    address: str
    ssh_key: Path
    ssh_user: str = "root"

    def ssh(
        self, command: str, check: bool = True, timeout: float = 120, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command on the host as root over SSH; `stdin` is its input (a secret stays off
        every command line)."""
        result = subprocess.run(
            ["ssh", *SSH_OPTIONS, "-i", str(self.ssh_key), f"{self.ssh_user}@{self.address}", command],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise TestbedError(
                f"{self.name}: `{command}` failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "index": self.index, "address": self.address, "ssh_key": str(self.ssh_key)}


def validate_name(name: str) -> str:
    if not HOSTNAME_RE.match(name):
        raise ValueError(f"invalid testbed host name {name!r}: use 1-32 of a-z, 0-9 and '-'")
    return name


def host_dir(layout: Layout, name: str) -> Path:
    return layout.state_dir / "hosts" / name


def prepare(layout: Layout, name: str, index: int, lower: Path, authorized_keys: Sequence[str]) -> Path:
    """Mount the overlay for one host and write its identity: address, hostname, keys, apt proxy."""
    base = host_dir(layout, name)
    shutil.rmtree(base, ignore_errors=True)
    upper, work, root = base / "upper", base / "work", base / "root"
    for d in (upper, work, root):
        d.mkdir(parents=True)
    run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={lower},upperdir={upper},workdir={work}",
            str(root),
        ]
    )
    address = layout.host_address(index)
    gw = layout.gateway
    files = {
        "etc/hostname": f"{name}\n",
        # Written here: left empty, systemd derives it from the VM's DMI UUID, the same on every host.
        "etc/machine-id": f"{uuid.uuid4().hex}\n",
        "etc/hosts": f"127.0.0.1 localhost\n{address} {name}\n",
        "etc/resolv.conf": f"nameserver {gw}\n",
        # A name sorting before 80-container-host0.network, or networkd prefers DHCP there.
        "etc/systemd/network/10-host0.network": (
            f"[Match]\nName=host0\n\n[Network]\nAddress={address}/24\nGateway={gw}\n"
            f"DNS={gw}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n"
        ),
        # Hosts have no route out; apt goes through the instance's proxy on the gateway.
        "etc/apt/apt.conf.d/01mailfleet-proxy": f'Acquire::http::Proxy "http://{gw}:3142";\n',
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text("".join(k.strip() + "\n" for k in authorized_keys))
    (ssh_dir / "authorized_keys").chmod(0o600)
    run(["ssh-keygen", "-A", "-f", str(root)])
    return root


def host_keys(layout: Layout, name: str) -> list[str]:
    """`<type> <key>` of each host key the host has now (generated at prepare())."""
    keys = sorted((host_dir(layout, name) / "root" / "etc" / "ssh").glob("ssh_host_*_key.pub"))
    return [" ".join(k.read_text().split()[:2]) for k in keys]


def boot(layout: Layout, name: str, index: int, root: Path) -> Recorded:
    netns = network.create_host_link(layout, index)
    argv = [
        "systemd-nspawn",
        "--keep-unit",
        "--register=no",
        "-D",
        str(root),
        "-M",
        name,
        "-b",
        f"--network-namespace-path=/run/netns/{netns}",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        # nspawn grants CAP_NET_ADMIN only with --private-network, not with a namespace path; the
        # hosts own their network namespace, so nftables (firewall, fail2ban) must work inside.
        "--capability=CAP_NET_ADMIN",
    ]
    return start(argv, log=host_dir(layout, name) / "console.log")


def wait_for_ssh(host: Host, record: Recorded, console: Path, timeout: float = BOOT_TIMEOUT) -> None:
    """Wait until sshd answers and a key login works; on failure raise with the console's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not record.alive():
            raise TestbedError(f"host {host.name} exited while booting:\n{tail(console)}")
        if _port_open(host.address, 22) and _logs_in(host):
            return
        time.sleep(0.1)
    raise TestbedError(
        f"host {host.name} ({host.address}) did not answer SSH within {timeout:.0f}s:\n{tail(console)}"
    )


def _logs_in(host: Host) -> bool:
    try:
        return host.ssh("true", check=False, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:  # a loaded machine: sshd is up but slow; ask again
        return False


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def container_init(record: Recorded) -> Recorded | None:
    """The container's PID 1 as seen from here (nspawn's child), for a last-resort kill."""
    try:
        children = Path(f"/proc/{record.pid}/task/{record.pid}/children").read_text().split()
    except OSError:
        return None
    return Recorded.of(int(children[0])) if children else None


def destroy(layout: Layout, name: str, index: int, record: Recorded | None, init: Recorded | None) -> None:
    """Power the host off by its recorded PID, then remove its overlay and network namespace."""
    if record is not None:
        # nspawn turns SIGTERM into an orderly shutdown of the container's systemd.
        stop(record, timeout=15)
    if init is not None:  # only if nspawn died without taking the container with it
        stop(init, timeout=5)
    root = host_dir(layout, name) / "root"
    if root.is_mount():
        subprocess.run(["umount", "-l", str(root)], check=False)
    network.delete_host_link(layout, index)
    shutil.rmtree(host_dir(layout, name), ignore_errors=True)
