#!/usr/bin/python3
"""Mail facts of a server for playbooks/health_facts.yml: today's delivery counts from Postfix's log
and whether the sending caps policy service answers. Prints one JSON object,
{"mail": {...} or null, "sendcap": {...}}. Read-only; Python standard library only (it runs with
the host's python3 through ansible.builtin.script).

`mail` counts one UTC day (`--day`, from 00:00 UTC), one per recipient line Postfix logs:
sent, deferred and bounced are delivery attempts out (postfix/smtp), received are deliveries into
mailboxes (postfix/lmtp), rejected are messages refused on the way in (`reject:` and
`milter-reject:`, including the caps' own 451). A deferral is a reputation deferral when the
receiver's answer says so (rate limited for the IP's reputation, unsolicited mail, Yahoo's TSS
codes...): those are what warm-up back-off reacts to, a full mailbox or a greylisting is not. Each
outbound count is also kept per receiver group, from the relay's MX host name, by the groups the
sending caps policy service paces (Gmail, Microsoft, Yahoo, Apple, everything else "other"): its
cap table (`--caps`) and its matching, read from beside the table.
Outbound counts are also kept per sender: the mailbox that logged in to submit the message (smtpd's
sasl_username), else its envelope sender (qmgr's from=), matched to the delivery by the queue ID;
the MAX_SENDERS busiest only. Bounces the server makes itself (from=<>) and messages queued before
the day began (their from= line is in an earlier day) count in the totals only.

The log comes from Mailu's smtp container (`docker compose logs`, `--source docker`) or from the
journal where Postfix runs on the host itself (`--source journald`).

`sendcap` asks the policy service the way Postfix does: the address is read from the
check_policy_service line of Mailu's Postfix override, and a request without a login must be
answered with an action. {"configured": false} when the override names no policy service.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

OTHER = "other"
MAX_SENDERS = 50
SENDER_COUNTS = ("sent", "deferred", "bounced")
OUTBOUND = ("sent", "deferred", "bounced", "reputation_deferrals")
REPUTATION = re.compile(
    r"reputation|rate[ -]?limit|unsolicited|TSS\d\d|TS0\d|unexpected volume|user complaints"
    r"|too many (?:messages|mails|emails|connections)|4\.7\.(?:28|650|651|500)|S3114|throttl",
    re.IGNORECASE,
)
_LINE = re.compile(r"postfix(?:/[\w.-]+)*/(?P<service>smtp|lmtp|smtpd|cleanup|qmgr)\[\d+\]: (?P<text>.*)$")
_QUEUE_ID = re.compile(r"^(?P<qid>[0-9A-Za-z]{5,}): ")
_FROM = re.compile(r"^[0-9A-Za-z]{5,}: from=<(?P<sender>[^>]*)>")
_LOGIN = re.compile(r"\bsasl_username=(?P<login>[^\s,]+)")
_DELIVERY = re.compile(
    r"\bto=<(?:[^>@]*@)?(?P<domain>[^>]*)>.*?\brelay=(?P<relay>[^\s,\[]+)"
    r".*?\bstatus=(?P<status>sent|deferred|bounced)\b(?P<reason>.*)"
)
_POLICY = re.compile(r"check_policy_service\s+inet:(?P<host>[^\s:]+):(?P<port>\d+)")
JOURNAL_IDS = ("postfix/smtp", "postfix/lmtp", "postfix/smtpd", "postfix/submission/smtpd",
               "postfix/smtps/smtpd", "postfix/cleanup", "postfix/qmgr")


def relay_groups(caps: Path) -> Callable[[str], str]:
    """The receiver group of a relay (an MX host, or the recipient domain without one) as the
    policy service beside the cap table paces it: its own group_of, with the table's groups, so
    the facts and the caps name the same receivers. Everything is "other" where the server has no
    policy service or its table no groups (no warm-up plan)."""
    try:
        spec = importlib.util.spec_from_file_location("sendcap", caps.parent / "sendcap.py")
        if spec is None or spec.loader is None:
            raise ImportError(caps.parent / "sendcap.py")
        sendcap = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sendcap)
    except (ImportError, OSError, SyntaxError):
        return lambda _host: OTHER
    groups = (sendcap.load_table(caps) or {}).get("groups") or {}
    return lambda host: sendcap.group_of(host, groups, lambda _domain: None) or OTHER


def count(lines: Iterable[str], day: str, group_of: Callable[[str], str]) -> dict[str, Any]:
    """The day's counts from Postfix log lines (any prefix before `postfix/...[pid]:` is ignored),
    outbound ones also per receiver group (`group_of` the relay)."""
    totals = {"day": day, "sent": 0, "received": 0, "deferred": 0, "bounced": 0, "rejected": 0,
              "reputation_deferrals": 0}
    groups: dict[str, dict[str, int]] = {}
    logins: dict[str, str] = {}  # queue ID -> the mailbox that submitted it
    senders_of: dict[str, str] = {}  # queue ID -> envelope sender
    senders: dict[str, dict[str, int]] = {}
    for line in lines:
        match = _LINE.search(line.rstrip("\n"))
        if match is None:
            continue
        service, text = match["service"], match["text"]
        queue_id = _QUEUE_ID.match(text)
        if service == "qmgr":
            found = _FROM.match(text)
            if found and queue_id:
                senders_of[queue_id["qid"]] = found["sender"].lower()
            continue
        if service in ("smtpd", "cleanup"):
            if " reject: " in f" {text}" or "milter-reject:" in text:
                totals["rejected"] += 1
            elif queue_id and (login := _LOGIN.search(text)):
                logins[queue_id["qid"]] = login["login"].lower()
            continue
        delivery = _DELIVERY.search(text)
        if delivery is None:
            continue
        status = delivery["status"]
        if service == "lmtp":
            totals["received"] += status == "sent"
            continue
        sender = queue_id and (logins.get(queue_id["qid"]) or senders_of.get(queue_id["qid"]))
        if sender:
            senders.setdefault(sender, dict.fromkeys(SENDER_COUNTS, 0))[status] += 1
        relay = delivery["relay"]
        group = groups.setdefault(group_of(delivery["domain"] if relay == "none" else relay),
                                  dict.fromkeys(OUTBOUND, 0))
        keys = [status]
        if status == "deferred" and " said: " in delivery["reason"] and REPUTATION.search(delivery["reason"]):
            keys.append("reputation_deferrals")
        for key in keys:
            totals[key] += 1
            group[key] += 1
    busiest = sorted(senders.items(), key=lambda item: (-sum(item[1].values()), item[0]))[:MAX_SENDERS]
    return totals | {"groups": groups, "senders": dict(busiest)}


def log_command(source: str, day: str, project: str) -> list[str]:
    if source == "journald":
        ids = [arg for name in JOURNAL_IDS for arg in ("-t", name)]
        return ["journalctl", "--quiet", "--no-pager", "--output=short-iso", f"--since={day} 00:00:00 UTC",
                *ids]
    return ["docker", "compose", "-p", project, "logs", "--no-color", "--no-log-prefix",
            f"--since={day}T00:00:00Z", "smtp"]


def mail_counts(source: str, day: str, project: str, group_of: Callable[[str], str]) -> dict[str, Any] | None:
    """The day's counts, or None when the log cannot be read."""
    try:
        proc = subprocess.Popen(log_command(source, day, project), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, errors="replace")
    except OSError:
        return None
    assert proc.stdout is not None
    with proc:
        counts = count(proc.stdout, day, group_of)
    return counts if proc.returncode == 0 else None


def policy_address(override: Path) -> tuple[str, int] | None:
    try:
        text = override.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        match = None if line.lstrip().startswith("#") else _POLICY.search(line)
        if match:
            return match["host"], int(match["port"])
    return None


def probe(address: tuple[str, int], timeout: float = 3.0) -> dict[str, Any]:
    """Ask the policy service as Postfix would (a request with no login is let through: DUNNO)."""
    where = f"{address[0]}:{address[1]}"
    request = b"request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nrecipient_count=1\n\n"
    try:
        with socket.create_connection(address, timeout=timeout) as conn:
            conn.sendall(request)
            answer = b""
            while not answer.endswith(b"\n\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except OSError as exc:
        return {"configured": True, "address": where, "answering": False, "error": str(exc)}
    if not answer.startswith(b"action="):
        return {"configured": True, "address": where, "answering": False,
                "error": f"unexpected answer {answer[:80].decode('utf-8', 'replace')!r}"}
    return {"configured": True, "address": where, "answering": True, "error": None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", required=True, help="UTC day YYYY-MM-DD")
    parser.add_argument("--source", choices=("docker", "journald"), default="docker")
    parser.add_argument("--project", default="mailu", help="Mailu's compose project")
    parser.add_argument("--override", type=Path, default=Path("/mailu/overrides/postfix/postfix.cf"))
    parser.add_argument("--caps", type=Path, default=Path("/mailu/sendcap/caps.json"),
                        help="the policy service's cap table (its receiver groups)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.day):
        parser.error("--day must be YYYY-MM-DD")
    address = policy_address(args.override)
    doc = {
        "mail": mail_counts(args.source, args.day, args.project, relay_groups(args.caps)),
        "sendcap": {"configured": False} if address is None else probe(address),
    }
    json.dump(doc, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
