"""The testbed's stand-in for Mailu's containers: Postfix, Dovecot, nginx and a milter from Debian
on a testbed host, driven by the files the mailu role writes and by the Mailu API double's /internal
endpoints. Installed into every testbed host (never into a production one) when it is created; the
packages are in the cached root filesystem (testbed/rootfs.py), disabled until /mailu/mailu.env
appears. See files/mailu_up.py for what happens then.
"""

from __future__ import annotations

import shutil
from pathlib import Path

FILES = Path(__file__).resolve().parent / "files"
LIB = "usr/local/lib/mailfleet-testbed"


def install(root: Path, double_url: str) -> None:
    """Copy the stack's scripts and units into a host's root and enable its path unit."""
    lib = root / LIB
    shutil.copytree(FILES, lib, ignore=shutil.ignore_patterns("units", "__pycache__"), dirs_exist_ok=True)
    units = root / "etc/systemd/system"
    wants = units / "paths.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for unit in (FILES / "units").iterdir():
        shutil.copy2(unit, units / unit.name)
    (wants / "mailu-testbed.path").symlink_to("/etc/systemd/system/mailu-testbed.path")
    # Postfix and nginx start after network-online.target, which a testbed host never reaches:
    # networkd marks host0 failed ("Failed to configure address: Numerical result out of range")
    # although its address works, and wait-online would hold every start for two minutes.
    (units / "systemd-networkd-wait-online.service").symlink_to("/dev/null")
    settings = root / "etc/mailfleet-testbed"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "double.env").write_text(f"MAILU_DOUBLE={double_url}\n")
