"""apt-cacher-ng on the hosts' gateway address: hosts install Debian packages through it and have
no route out themselves. Its cache is shared by all instances' runs on this machine."""

from __future__ import annotations

from testbed.daemons import Recorded, start
from testbed.layout import Layout

PORT = 3142


class AptProxy:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.dir = layout.state_dir / "apt-proxy"

    def start(self) -> Recorded:
        cache = self.layout.cache_dir / "apt-cacher-ng" / str(self.layout.instance)
        for d in (self.dir, cache):
            d.mkdir(parents=True, exist_ok=True)
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
