"""apt-cacher-ng on the hosts' gateway address: hosts install Debian packages through it and have
no route out themselves. Each instance keeps its cache across runs, in a directory of its own (one
apt-cacher-ng per cache directory); a new instance's cache starts as a copy of the fullest other
one on this machine, so it does not download again what another instance already has."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from testbed.daemons import Recorded, start
from testbed.layout import Layout

PORT = 3142


class AptProxy:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.dir = layout.state_dir / "apt-proxy"

    def start(self) -> Recorded:
        cache = self.layout.cache_dir / "apt-cacher-ng" / str(self.layout.instance)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not cache.exists():
            _seed(cache)
        return start(
            [
                "/usr/sbin/apt-cacher-ng",
                "-c",
                "/etc/apt-cacher-ng",
                "ForeGround=1",
                f"Port={PORT}",
                f"BindAddress={self.layout.gateway}",
                f"CacheDir={cache}",
                f"LogDir={self.dir}",
                f"PidFile={self.dir}/pid",
                f"SocketPath={self.dir}/socket",
                "ReportPage=",
                "ExThreshold=30",
                # Debian's backends_debian is empty here, which makes debrep answer "503 Host not
                # found"; name the upstream explicitly (as secdeb already does).
                "Remap-debrep=file:deb_mirror*.gz /debian ; http://deb.debian.org/debian/",
            ],
            log=self.dir / "stdout.log",
        )


def _seed(cache: Path) -> None:
    """Create `cache` as a copy of its fullest sibling (empty if there is none). A copy, not links:
    apt-cacher-ng rewrites index files in place. A file another instance is still writing is copied
    short; apt-cacher-ng sees the size its header promises and fetches the rest."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    siblings = [d for d in cache.parent.iterdir() if d.is_dir() and d.name.isdigit()]
    partial = cache.with_name(f"{cache.name}.seeding")
    shutil.rmtree(partial, ignore_errors=True)
    if siblings:
        # Files the other instance removes meanwhile are left out; the rest is copied.
        with contextlib.suppress(shutil.Error):
            shutil.copytree(max(siblings, key=_size), partial, symlinks=True)
    else:
        partial.mkdir()
    partial.rename(cache)


def _size(directory: Path) -> int:
    total = 0
    for root, _, names in os.walk(directory):
        for name in names:
            with contextlib.suppress(FileNotFoundError):  # expired by its apt-cacher-ng meanwhile
                total += (Path(root) / name).lstat().st_size
    return total
