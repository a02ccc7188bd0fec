"""Serve one double as a process: `python -m testbed.doubles.serve <name> --bind ADDR:PORT`.

Each double module exposes `create_app(state_dir: Path | None = None)` returning a WSGI app.
"""

from __future__ import annotations

import argparse
import importlib
import socket
import threading
import time
from pathlib import Path

from werkzeug.serving import make_server

from testbed.daemons import TestbedError, tail


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", choices=["hostwinds", "cloudflare", "mailu", "digitalocean", "vault"])
    parser.add_argument("--bind", required=True, help="ADDR:PORT on loopback")
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--hosts-bind", default=None,
                        help="mailu only: ADDR:PORT on the hosts' bridge for /internal and registration")
    args = parser.parse_args(argv)
    host, _, port = args.bind.rpartition(":")
    if not host.startswith("127."):
        parser.error("doubles listen on loopback only")
    if args.hosts_bind and args.name != "mailu":
        parser.error("--hosts-bind is for the mailu double only")
    module = importlib.import_module(f"testbed.doubles.{args.name}")
    if args.state_dir is not None:
        args.state_dir.mkdir(parents=True, exist_ok=True)
    app = module.create_app(state_dir=args.state_dir)
    server = make_server(host, int(port), app, threaded=True)
    print(f"{args.name} double (not the real API) on http://{host}:{port}", flush=True)
    if args.hosts_bind:
        from testbed.doubles.mailu_internal import hosts_facing  # noqa: PLC0415 - mailu only

        bridge_host, _, bridge_port = args.hosts_bind.rpartition(":")
        bridge = make_server(bridge_host, int(bridge_port), hosts_facing(app), threaded=True)
        threading.Thread(target=bridge.serve_forever, daemon=True).start()
        print(f"mailu double's /internal for testbed hosts on http://{args.hosts_bind}", flush=True)
    server.serve_forever()


def wait_ready(host: str, port: int, log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TestbedError(f"double on {host}:{port} did not start within {timeout:.0f}s:\n{tail(log)}")


if __name__ == "__main__":
    main()
