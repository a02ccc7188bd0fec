"""Redis from Debian on the instance's loopback address, append-only file on."""

from __future__ import annotations

import socket
import time

from testbed.daemons import Recorded, TestbedError, start, tail
from testbed.layout import Layout

PORT = 6379


class Redis:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.dir = layout.state_dir / "redis"

    @property
    def url(self) -> str:
        return f"redis://{self.layout.redis}:{PORT}/0"

    def write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.dir / "redis.conf").write_text(
            f"bind {self.layout.redis}\nport {PORT}\ndir {self.dir}\n"
            # Bound to a loopback address only; protected mode would refuse 127.77.x clients.
            'protected-mode no\ndaemonize no\nappendonly yes\nappendfsync everysec\nsave ""\n'
            f"logfile {self.dir}/redis.log\n"
        )

    def start(self) -> Recorded:
        return start(["/usr/bin/redis-server", str(self.dir / "redis.conf")], log=self.dir / "stdout.log")

    def ping(self) -> bool:
        try:
            with socket.create_connection((self.layout.redis, PORT), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.05)
        raise TestbedError(f"Redis did not answer within {timeout:.0f}s:\n{tail(self.dir / 'redis.log')}")
