#!/usr/bin/python3
"""Testbed only: Dovecot's password check (checkpassword interface) asked of the Mailu API double the
way Mailu's front asks its admin for every login: GET /internal/auth/email with nginx's auth_http
headers. On a refusal it logs what Mailu's front (nginx) logs, with the journal field the front's
container carries (CONTAINER_TAG=mailu-front), so the host's fail2ban jail for Mailu counts it.

Dovecot runs ``checkpassword.py <reply program>`` with ``user NUL password NUL`` on fd 3 and
SERVICE, TCPLOCALPORT, TCPREMOTEIP, TCPREMOTEPORT in the environment; exit 1 refuses, 111 is a
temporary failure, success execs the reply program with USER set.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

SETTINGS = "/etc/mailfleet-testbed/podop.env"  # MAILU_DOUBLE=<url>, MAILU_HOST=<mail host>
PROTOCOLS = {"imap": "imap", "pop3": "pop3", "smtp": "smtp", "sieve": "sieve", "managesieve": "sieve"}


def settings() -> dict[str, str]:
    with open(SETTINGS, encoding="utf-8") as handle:
        return dict(line.strip().split("=", 1) for line in handle if "=" in line)


def journal(message: str) -> None:
    """One entry in the journal, shaped as Docker's journald driver writes the front's log."""
    fields = f"MESSAGE={message}\nCONTAINER_TAG=mailu-front\nSYSLOG_IDENTIFIER=mailu-front\nPRIORITY=6\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(fields.encode(), "/run/systemd/journal/socket")


def main() -> int:
    with os.fdopen(3, "rb") as fd3:
        user, password = (fd3.read(2048).split(b"\0") + [b"", b""])[:2]
    email, protocol = user.decode("utf-8", "replace"), PROTOCOLS.get(os.environ.get("SERVICE", ""), "smtp")
    client_ip, local_port = os.environ.get("TCPREMOTEIP", ""), os.environ.get("TCPLOCALPORT", "")
    conf = settings()
    request = urllib.request.Request(  # noqa: S310 - the double's http URL
        f"{conf['MAILU_DOUBLE']}/{conf['MAILU_HOST']}/internal/auth/email",
        headers={
            "Auth-Method": "plain", "Auth-User": urllib.parse.quote(email),
            "Auth-Pass": urllib.parse.quote(password.decode("utf-8", "replace")), "Auth-Protocol": protocol,
            "Auth-Login-Attempt": "1", "Client-Ip": client_ip,
            "Client-Port": os.environ.get("TCPREMOTEPORT", ""), "Auth-Port": local_port,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            status = answer.headers.get("Auth-Status", "")
    except (OSError, urllib.error.HTTPError):
        return 111
    if status == "OK":
        # The mail user owns the mailboxes (else the reply program names the auth process's own).
        os.environ.update(USER=email, userdb_uid="8", userdb_gid="8", EXTRA="userdb_uid userdb_gid")
        os.execv(sys.argv[1], sys.argv[1:])  # noqa: S606 - Dovecot's reply program, as the interface says
    shown = "".join(c if c.isprintable() and c != '"' else "?" for c in email)  # never a new field
    journal(f'client login failed: "{status}" while in http auth state, client: {client_ip}, '
            f'server: 0.0.0.0:{local_port}, login: "{shown}"')
    return 1


if __name__ == "__main__":
    sys.exit(main())
