"""The Debian 12 root filesystem every testbed host boots from, built once with debootstrap and
cached; each host gets a copy-on-write overlay of it (instant, and the cache is never changed)."""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
from pathlib import Path

from testbed.daemons import TestbedError, run
from testbed.layout import cache_root

SUITE = "bookworm"
# python3-apt: Ansible's apt module needs it; without it every first apt task installs it.
PACKAGES = (
    "systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,sudo,iproute2,"
    "procps,ca-certificates,iputils-ping,less"
)
# The testbed's stand-in for Mailu's containers (testbed/mailstack), installed with apt after
# debootstrap (full dependency resolution) and left disabled: a host starts them only once the
# mailu role has written /mailu/mailu.env.
MAIL_PACKAGES = (
    "postfix", "dovecot-imapd", "dovecot-pop3d", "dovecot-lmtpd", "dovecot-managesieved", "nginx-light",
    # The milter that signs and checks (testbed/mailstack/files/mailu_milter.py): Rspamd, Mailu's choice,
    # spends minutes of CPU compiling its tables at every start on a shared testbed machine.
    "python3-milter", "python3-dkim", "python3-spf", "python3-dnspython",
)
MAIL_SERVICES = ("postfix", "dovecot", "nginx")
RECIPE_VERSION = "3"  # bump when the post-build steps below change


def recipe_id() -> str:
    recipe = f"{SUITE}|{PACKAGES}|{','.join(MAIL_PACKAGES)}|{RECIPE_VERSION}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def cached_root() -> Path:
    return cache_root() / "rootfs" / f"{SUITE}-{recipe_id()}"


def debian_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine already uses (read from its apt sources, never hard-coded)."""
    texts = []
    for path in [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*"))]:
        if path.is_file():
            texts.append(path.read_text(errors="replace"))
    for text in texts:
        for match in re.finditer(r"^(?:URIs:|deb)\s+(?:\[[^\]]*\]\s+)?(\S+/debian)/?\s", text, re.M):
            return match.group(1)
    raise TestbedError("no Debian mirror found in /etc/apt/sources.list{,.d}: cannot run debootstrap")


def ensure_root() -> Path:
    """Return the cached root, building it first if needed (concurrent callers wait for one build)."""
    target = cached_root()
    if (target / ".mailfleet-complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / "build.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".mailfleet-complete").exists():
            return target
        building = target.with_name(target.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={PACKAGES}",
                SUITE,
                str(building),
                debian_mirror(),
            ]
        )
        _configure(building)
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)
        (target / ".mailfleet-complete").touch()
    return target


def _configure(root: Path) -> None:
    """Make the image boot as a network host: networkd for host0, no baked-in identity."""
    run(["chroot", str(root), "systemctl", "enable", "systemd-networkd", "ssh"])
    # Each host gets its own machine-id and SSH host keys when it is created.
    (root / "etc/machine-id").write_text("")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # Exactly this machine's apt sources (and no others), so hosts install from the same Debian.
    for name in ("sources.list", "sources.list.d"):
        src = Path("/etc/apt") / name
        dst = root / "etc/apt" / name
        if not src.exists() and dst.is_file():
            dst.unlink()
        elif src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst)
        elif src.is_file():
            shutil.copy2(src, dst)
    # Keep apt lean inside hosts (no recommends), as the roles expect on a minimal server.
    (root / "etc/apt/apt.conf.d/90mailfleet-norecommends").write_text('APT::Install-Recommends "false";\n')
    _install_mail_packages(root)
    run(["chroot", str(root), "apt-get", "clean"])


def _install_mail_packages(root: Path) -> None:
    """The mail stack's packages, none of their services started or enabled."""
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")  # no service starts inside the chroot
    policy.chmod(0o755)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
    run(["mount", "-t", "proc", "proc", str(root / "proc")])
    try:
        run(["chroot", str(root), "apt-get", "update"], env=env)
        install = ["apt-get", "install", "-y", "--no-install-recommends", *MAIL_PACKAGES]
        run(["chroot", str(root), *install], env=env)
    finally:
        run(["umount", str(root / "proc")])
        policy.unlink()
    # A fresh host has no /mailu yet: nothing listens on the mail ports before the stack is set up.
    run(["chroot", str(root), "systemctl", "disable", *MAIL_SERVICES])
