"""Helpers of the mail tests: the "create mailboxes" action, and IMAP/SMTP clients that check the
Pebble certificate for the mail host name while connecting to the host's address. The servers
themselves come from tests/controlplane.py (shared per session by tests/conftest.py)."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl
import time

import pytest
from controlplane import MailServer, scope_of_admin, work

__all__ = [
    "Imap", "MailServer", "Smtps", "create_mailboxes", "imap_login", "scope_of_admin", "tls_context",
    "wait_for_login", "work",
]

LOGIN_WAIT = 30.0  # seconds a new mailbox gets to become usable before a test gives up


def create_mailboxes(server: MailServer, *local_parts: str) -> dict[str, str]:
    """The "create mailboxes" action of the tenant's page: email -> the password shown once. The
    admin creates them whatever the DNS doctor says (its override): these tests are about mail
    flow, and the testbed gives the hosts no reverse DNS."""
    from webapp.services import mailboxes

    batch = mailboxes.create_mailboxes(
        scope_of_admin(), server.tenant, server.domain_id, list(local_parts), dns_override=True
    )
    assert batch.error is None and not batch.failed, (batch.error, batch.failed)
    return batch.passwords


def tls_context(testbed) -> ssl.SSLContext:
    """Trusts only the root Pebble issues certificates under, and checks the host name."""
    return ssl.create_default_context(cafile=str(testbed.acme.issuing_root_path))


class Imap(imaplib.IMAP4_SSL):
    """IMAP over TLS to an address, verifying the certificate for the mail host name."""

    def __init__(self, address: str, name: str, context: ssl.SSLContext, port: int = 993) -> None:
        self._name = name
        super().__init__(address, port, ssl_context=context, timeout=15)

    def _create_socket(self, timeout: float | None) -> ssl.SSLSocket:
        sock = socket.create_connection((self.host, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self._name)


class Smtps(smtplib.SMTP_SSL):
    """SMTP submission over TLS (465) to an address, verifying the certificate for the host name."""

    def __init__(self, address: str, name: str, context: ssl.SSLContext) -> None:
        self._address = address
        super().__init__(name, 465, context=context, timeout=30)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return super()._get_socket(self._address, port, timeout)


def imap_login(server: MailServer, context: ssl.SSLContext, email: str, password: str) -> bool:
    """One IMAP login over 993: True when accepted, False when refused."""
    with Imap(server.host.address, server.mail_host, context) as imap:
        try:
            imap.login(email, password)
        except imaplib.IMAP4.error:
            return False
        imap.logout()
        return True


def wait_for_login(server: MailServer, context: ssl.SSLContext, email: str, password: str,
                   timeout: float = LOGIN_WAIT) -> float:
    """Seconds until the first accepted IMAP login; fails the test after `timeout`."""
    started = time.monotonic()
    while True:
        try:
            if imap_login(server, context, email, password):
                return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            pytest.fail(f"{email} could not log in by IMAP within {timeout:.0f} s")
        time.sleep(0.2)
