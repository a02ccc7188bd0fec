#!/usr/bin/python3
"""Load for the sending caps policy service as Postfix's smtpd processes ask it, at a steady rate;
prints every answer time as JSON. Standard library only: bench/sendcap_bench.py runs it on this
machine or copies it to a testbed host and runs it there with the host's python3.

    python3 sendcap_load.py --port 10040 [--address 127.0.0.1] [--rate 500] [--seconds 20]
        [--connections 8] [--company-zone example.test]

Each connection is a process of its own, as each smtpd process of Postfix keeps its own policy
connection open, and sends its share of the rate evenly spaced. A message is one transaction: a
logged-in sender (a mailbox of one of the server's domains, port 587), one request per recipient
(protocol_state RCPT, where the receiver group's caps are asked) and one at its end
(END-OF-MESSAGE, counted against the IP's, domain's and mailbox's caps). Recipients per message
and their domains follow MIX: mostly the big mailbox providers, matched by name; a share in the
server's own domains; and company domains (co<N>.<company zone>), which the service matches by
their MX host: the first recipient of each such domain costs it a DNS query. Every attribute
Postfix sends is sent, so parsing costs what it does in production. A requests/s figure counts
both kinds of request. With --service-pid, the CPU time the service spent during the run is
reported too: unlike the answer times, it does not grow with the load of a shared machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import sys
import time
from pathlib import Path

SENDER_DOMAINS = ("acme.test", "shop.test")
MAILBOXES_PER_DOMAIN = 40
COMPANY_DOMAINS = 500
#: (recipients in a message, weight): a mean of about 1.95.
RECIPIENT_COUNTS = ((1, 60), (2, 20), (3, 10), (5, 7), (10, 3))
#: (recipient domain, weight); "local" is one of SENDER_DOMAINS, "company" one of the company domains.
MIX = (
    ("gmail.com", 30), ("outlook.com", 8), ("hotmail.com", 5), ("yahoo.com", 8), ("icloud.com", 4),
    ("local", 10), ("company", 35),
)
KINDS = ("rcpt", "end")  # a recipient's request, a message's last
CONNECT_WAIT = 30.0  # seconds the service gets to start listening


def mailboxes() -> list[str]:
    """Every logged-in sender of the mix."""
    return [f"user{n}@{domain}" for domain in SENDER_DOMAINS for n in range(MAILBOXES_PER_DOMAIN)]


def attributes(state: str, sender: str, instance: str, recipient: str, count: int, queue_id: str) -> bytes:
    """One policy request as Postfix 3.7's smtpd writes it for a submission (port 587, SASL login)."""
    return (
        f"request=smtpd_access_policy\nprotocol_state={state}\nprotocol_name=ESMTP\n"
        "client_address=198.51.100.23\nclient_name=unknown\nclient_port=53122\n"
        "reverse_client_name=client23.example.net\nserver_address=203.0.113.7\nserver_port=587\n"
        f"helo_name=[192.168.1.23]\nsender={sender}\nrecipient={recipient}\nrecipient_count={count}\n"
        f"queue_id={queue_id}\ninstance={instance}\nsize=48213\netrn_domain=\nstress=\n"
        f"sasl_method=PLAIN\nsasl_username={sender}\nsasl_sender=\nccert_subject=\nccert_issuer=\n"
        "ccert_fingerprint=\nccert_pubkey_fingerprint=\nencryption_protocol=TLSv1.3\n"
        "encryption_cipher=TLS_AES_256_GCM_SHA384\nencryption_keysize=256\npolicy_context=\n"
        "compatibility_level=3.6\nmail_version=3.7.11\n\n"
    ).encode()


def messages(rng: random.Random, company_zone: str, tag: str):
    """Endless (kind, request) pairs: each message's recipients, then its end."""
    senders = mailboxes()
    counts, count_weights = zip(*RECIPIENT_COUNTS, strict=True)
    kinds, kind_weights = zip(*MIX, strict=True)
    number = 0
    while True:
        number += 1
        sender = rng.choice(senders)
        instance, queue_id = f"{tag}.{number}.0", f"{tag}{number:X}"
        count = rng.choices(counts, count_weights)[0]
        for kind in rng.choices(kinds, kind_weights, k=count):
            if kind == "local":
                domain = rng.choice(SENDER_DOMAINS)
            elif kind == "company":
                domain = f"co{rng.randrange(COMPANY_DOMAINS)}.{company_zone}"
            else:
                domain = kind
            recipient = f"r{rng.randrange(10**6)}@{domain}"
            yield "rcpt", attributes("RCPT", sender, instance, recipient, 0, "")
        yield "end", attributes("END-OF-MESSAGE", sender, instance, "", count, queue_id)


def connect(address: str, port: int) -> socket.socket:
    deadline = time.monotonic() + CONNECT_WAIT
    while True:
        try:
            return socket.create_connection((address, port), timeout=10)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) process `pid` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def connection(args: argparse.Namespace, index: int, start: float, results) -> None:
    """One smtpd process's policy connection: its share of the rate until the run's end."""
    try:
        results.put(ask(args, index, start))
    except (OSError, ValueError) as exc:
        results.put({"error": f"connection {index}: {exc}"})


def ask(args: argparse.Namespace, index: int, start: float) -> dict[str, object]:
    rng = random.Random(index)
    every = args.connections / args.rate
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    answers: dict[str, int] = {}
    with connect(args.address, args.port) as sock:
        stream = sock.makefile("rb")
        next_at = start + index / args.rate  # the connections' requests interleave
        until = start + args.seconds
        for kind, request in messages(rng, args.company_zone, f"{os.getpid():x}"):
            if next_at >= until:
                break
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sent = time.perf_counter()
            sock.sendall(request)
            action = stream.readline()
            stream.readline()  # the empty line that ends an answer
            latencies[kind].append(round((time.perf_counter() - sent) * 1000, 4))
            if not action.startswith(b"action="):
                raise ValueError(f"the service answered {action!r}")
            verdict = " ".join(action.decode().split("=", 1)[1].split()[:2])  # "DUNNO", "451 4.7.1"
            answers[verdict] = answers.get(verdict, 0) + 1
            next_at += every
    return {"latencies": latencies, "answers": answers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=500, help="requests per second, all connections")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--company-zone", default="example.test",
                        help="the company domains' parent (a zone the host's resolver answers)")
    parser.add_argument("--service-pid", type=int, help="the service's process: its CPU time is reported")
    args = parser.parse_args(argv)
    connect(args.address, args.port).close()
    cpu_before = cpu_seconds(args.service_pid) if args.service_pid else None
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start = time.monotonic() + 0.5
    processes = [
        context.Process(target=connection, args=(args, index, start, results))
        for index in range(args.connections)
    ]
    for process in processes:
        process.start()
    parts = [results.get(timeout=args.seconds + 60) for _ in processes]
    for process in processes:
        process.join()
    errors = [part["error"] for part in parts if "error" in part]
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    report: dict[str, object] = {
        "seconds": args.seconds,
        "service_cpu_seconds": None if cpu_before is None else cpu_seconds(args.service_pid) - cpu_before,
        "load_average": os.getloadavg(),
        "latencies": {kind: [ms for part in parts for ms in part["latencies"][kind]] for kind in KINDS},
        "answers": {},
    }
    for part in parts:
        for answer, number in part["answers"].items():
            report["answers"][answer] = report["answers"].get(answer, 0) + number  # type: ignore[index]
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
