"""Real mail on testbed hosts: each tenant's server, provisioned and given a domain through the
control plane, answers SMTP, IMAP and HTTPS with the Pebble certificate; a mailbox created on the
tenant's page logs in by IMAP and a deleted one cannot; tenant A's mailbox writes to tenant B's on
another host through MX lookups, signed and checked (SPF, DKIM, DMARC); nobody relays through it;
bad logins are refused and counted by the host's fail2ban jail for Mailu."""

from __future__ import annotations

import email
import imaplib
import secrets
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage

import pytest
from mailtest import Imap, Smtps, create_mailboxes, imap_login, tls_context, wait_for_login

pytestmark = pytest.mark.testbed

MAIL_PORTS = (25, 465, 587, 143, 993, 110, 995, 4190, 80, 443)


@pytest.fixture(scope="module")
def context(testbed) -> ssl.SSLContext:
    return tls_context(testbed)


@pytest.fixture(scope="module")
def alice(mail_servers, context) -> tuple[str, str]:
    """A mailbox of tenant A, made with the tenant page's action, usable by IMAP."""
    a, _ = mail_servers
    (address, password), = create_mailboxes(a, "alice").items()
    wait_for_login(a, context, address, password)
    return address, password


@pytest.fixture(scope="module")
def bob(mail_servers, context) -> tuple[str, str]:
    _, b = mail_servers
    (address, password), = create_mailboxes(b, "bob").items()
    wait_for_login(b, context, address, password)
    return address, password


def test_every_mail_port_answers(mail_servers):
    for server in mail_servers:
        closed = []
        for port in MAIL_PORTS:
            try:
                socket.create_connection((server.host.address, port), timeout=5).close()
            except OSError as exc:
                closed.append(f"{port}: {exc}")
        assert closed == [], f"{server.mail_host}: {closed}"


def test_starttls_on_25_587_and_143_with_the_pebble_certificate(mail_servers, context):
    a, _ = mail_servers
    for port in (25, 587):
        with smtplib.SMTP(a.host.address, port, local_hostname="client.test", timeout=15) as smtp:
            smtp._host = a.mail_host  # the name the certificate is checked against  # noqa: SLF001
            code, _ = smtp.starttls(context=context)
            assert code == 220
    with imaplib.IMAP4(a.host.address, 143, timeout=15) as imap:
        imap.host = a.mail_host
        assert imap.starttls(ssl_context=context)[0] == "OK"


def test_created_mailbox_logs_in_and_deleted_one_cannot(mail_servers, context, mail_plane):
    from webapp.integrations import mailu_client

    a, _ = mail_servers
    (address, password), = create_mailboxes(a, f"temp{secrets.token_hex(2)}").items()
    wait_for_login(a, context, address, password)
    with mailu_client(a.tenant.slug, a.mail_host) as client:
        client.delete_user(address)
    assert not imap_login(a, context, address, password)


def test_unknown_mailbox_and_wrong_password_are_refused(mail_servers, context, alice):
    a, _ = mail_servers
    assert not imap_login(a, context, f"nobody@{a.zone}", "whatever password")
    assert not imap_login(a, context, alice[0], alice[1] + "x")
    assert imap_login(a, context, *alice)


def test_wrong_password_is_counted_by_fail2ban(mail_servers, alice):
    """From the other host (the controller's address is on fail2ban's ignore list)."""
    a, b = mail_servers
    before = _failed_count(a)
    script = (
        "import imaplib, ssl\n"
        "ctx = ssl._create_unverified_context()\n"
        f"i = imaplib.IMAP4_SSL('{a.host.address}', 993, ssl_context=ctx)\n"
        "try:\n"
        f"    i.login('{alice[0]}', 'not the password')\n"
        "except imaplib.IMAP4.error as exc:\n"
        "    print('refused', exc)\n"
    )
    result = b.host.ssh(f"python3 -c \"{script}\"")
    assert "refused" in result.stdout
    deadline = time.monotonic() + 30
    while _failed_count(a) <= before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _failed_count(a) == before + 1


def _failed_count(server) -> int:
    status = server.host.ssh("fail2ban-client status mailu-front").stdout
    line = next(x for x in status.splitlines() if "Total failed:" in x)
    return int(line.rsplit(":", 1)[1])


def test_mail_from_tenant_a_reaches_tenant_b_signed_and_checked(mail_servers, context, alice, bob):
    a, b = mail_servers
    subject = f"hello {secrets.token_hex(4)}"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = alice[0], bob[0], subject
    message["Message-ID"] = f"<{secrets.token_hex(8)}@{a.zone}>"
    message["Date"] = email.utils.formatdate()
    message.set_content("Delivered between two testbed hosts.\n")
    with Smtps(a.host.address, a.mail_host, context) as smtp:
        smtp.login(*alice)
        smtp.send_message(message)
    received = _wait_for_message(b, context, bob, subject)
    results = " ".join(received.get_all("Authentication-Results", []))
    assert received["DKIM-Signature"] and f"d={a.zone}" in received["DKIM-Signature"]
    for verdict in ("dkim=pass", "spf=pass", "dmarc=pass"):
        assert verdict in results, results


def _wait_for_message(server, context, mailbox, subject, timeout: float = 60) -> email.message.Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Imap(server.host.address, server.mail_host, context) as imap:
            imap.login(*mailbox)
            imap.select("INBOX")
            _, found = imap.search(None, "SUBJECT", f'"{subject}"')
            if found[0]:
                _, data = imap.fetch(found[0].split()[0], "(RFC822)")
                return email.message_from_bytes(data[0][1])
        time.sleep(1)
    pytest.fail(f"no message {subject!r} in {mailbox[0]} after {timeout:.0f} s")


def test_no_open_relay(mail_servers, alice):
    """An unauthenticated client cannot send to a domain the server does not host."""
    a, b = mail_servers
    with smtplib.SMTP(a.host.address, 25, local_hostname="client.test", timeout=15) as smtp:
        smtp.ehlo()
        assert smtp.mail(f"someone@{b.zone}")[0] == 250
        code, text = smtp.rcpt(f"bob@{b.zone}")
        assert code == 554 and b"Relay access denied" in text
        # A local mailbox is still reachable from outside (that is what MX means).
        assert smtp.rcpt(alice[0])[0] == 250


def test_a_mailbox_quota_set_in_mailu_is_enforced(mail_servers, context, mail_plane):
    """Dovecot takes each mailbox's quota from Mailu's userdb answer, as Mailu's does."""
    from webapp.integrations import mailu_client

    a, _ = mail_servers
    (address, password), = create_mailboxes(a, f"small{secrets.token_hex(2)}").items()
    with mailu_client(a.tenant.slug, a.mail_host) as client:
        client.update_user(address, quota_bytes=20_000)
    wait_for_login(a, context, address, password)
    with Imap(a.host.address, a.mail_host, context) as imap:
        imap.login(address, password)
        fits = b"Subject: fits\r\n\r\n" + b"x" * 1_000 + b"\r\n"
        assert imap.append("INBOX", None, None, fits)[0] == "OK"
        typ, data = imap.append("INBOX", None, None, b"Subject: too big\r\n\r\n" + b"x" * 50_000 + b"\r\n")
        assert typ == "NO" and b"Quota exceeded" in data[0], (typ, data)


#: Checks that are not green here, by name prefix: the status they show, words of their detail, and
#: why (the README's testbed section lists the testbed's reasons too).
NOT_GREEN_HERE = {
    "dnsbl:": ("unknown", "", "the testbed resolver refuses every zone but its own: no blocklist answers"),
    "dns:delegation:": ("unknown", "parent zone's servers cannot be asked",
                        "the testbed serves the test zones, not their parent (test.), so no delegation"),
    "mta_sts:": ("warning", "mode testing, not enforce",
                 "the roles publish MTA-STS in testing mode by default; the warning comes only after the "
                 "policy was fetched over verified HTTPS (Pebble's root) and covers the mail host"),
    "facts": ("unknown", "no inside facts yet",
              "this test runs no health_facts.yml play (the demo's scheduler does)"),
}


def test_health_board_is_green_but_what_the_testbed_cannot_have(mail_servers, mail_plane, alice):
    """The status board of tenant A's server after one sweep (the job the "check now" button queues)."""
    from mailtest import scope_of_admin

    from jobs.health import sweep_health
    from webapp.services import health

    a, _ = mail_servers
    sweep_health(a.server_id)
    board = health.board(scope_of_admin(), a.server_id)
    rows = {row.check.check: row.check for _, section in board.sections for row in section}
    for family in ("port:25@", "port:993@", "smtp:starttls", "tls:25", "imap:login", "tls:993",
                   f"mx:{a.zone}", f"spf:{a.zone}", f"dkim:{a.zone}", f"dmarc:{a.zone}", "tlsa:",
                   f"mta_sts:{a.zone}", "ptr:", f"dns:a:{a.mail_host}"):
        assert any(check.startswith(family) for check in rows), (family, sorted(rows))
    not_green = {
        check: f"{state.last_status}: {state.last_detail}"
        for check, state in rows.items()
        if state.last_status != "ok" and not check.startswith(tuple(NOT_GREEN_HERE))
    }
    assert not_green == {}
    for prefix, (status, words, _why) in NOT_GREEN_HERE.items():
        shown = {check: state for check, state in rows.items() if check.startswith(prefix)}
        assert shown, (prefix, sorted(rows))
        for check, state in shown.items():
            assert state.last_status == status and words in state.last_detail, (check, state.last_detail)
    days = rows["tls:25"].last_value
    assert days is not None and float(days) > 14, rows["tls:25"].last_detail
