"""The secondary's settable lag: the primary sends its NOTIFYs here; this relay answers them and
passes each on to the secondary after the delay in `delay_file` (read per NOTIFY, so changing the
delay needs no restart). Run as `python -m testbed.notify_relay LISTEN PRIMARY SECONDARY DELAY_FILE`.
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rdatatype


def read_delay(path: Path) -> float:
    try:
        return max(0.0, float(path.read_text().strip() or 0))
    except (OSError, ValueError):
        return 0.0


def forward(zone: str, primary: str, secondary: str) -> None:
    notify = dns.message.make_query(zone, dns.rdatatype.SOA)
    notify.set_opcode(dns.opcode.NOTIFY)
    notify.flags |= dns.flags.AA
    notify.flags &= ~dns.flags.RD
    try:
        # From the primary's address: the secondary accepts NOTIFY only from its primaries.
        dns.query.udp(notify, secondary, timeout=2, source=primary)
    except (OSError, dns.exception.DNSException) as exc:
        print(f"notify relay: forwarding {zone} failed: {exc}", flush=True)


def serve(listen: str, primary: str, secondary: str, delay_file: Path) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((listen, 53))
    while True:
        wire, peer = sock.recvfrom(65535)
        try:
            message = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            continue
        if message.opcode() != dns.opcode.NOTIFY or not message.question:
            continue
        sock.sendto(dns.message.make_response(message).to_wire(), peer)
        zone = message.question[0].name.to_text()
        timer = threading.Timer(read_delay(delay_file), forward, (zone, primary, secondary))
        timer.daemon = True
        timer.start()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]))
