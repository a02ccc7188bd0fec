"""TLSA in a signed zone is compared with the certificate the mail server really serves: a local SMTP
listener offers STARTTLS with a certificate of its own, and the DANE check reads it as a sender does
(banner, EHLO, STARTTLS, handshake) before comparing it with the published DANE-EE record."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import dns.rdata
import pytest
from selfsigned import self_signed

from mailfleet.monitoring import MailDomain, ServerTarget, Status
from mailfleet.monitoring import dnschecks as dc
from mailfleet.monitoring.dnsclient import DnsClient
from mailfleet.monitoring.netprobe import served_certificate
from mailfleet.monitoring.outcome import ok
from mailfleet.monitoring.tlsinfo import dane_ee_value

pytestmark = pytest.mark.unit

HOST = "mail.example.test"
ZONE = "example.test"
TARGET = ServerTarget("mail1", HOST, ipv4=("127.0.0.1",), domains=(MailDomain(ZONE),))
SECURE = ok(f"{ZONE} is signed; the parent's DS names key 1 and the signatures validate", "1 13 2 ab")


class Zone(DnsClient):
    """A zone DNSSEC secures (SECURE is its chain's outcome) holding the given TLSA values for the
    mail host."""

    def __init__(self, tlsa: list[str]) -> None:
        super().__init__("127.0.0.1")
        self.records = {(f"_25._tcp.{HOST}", "TLSA"): tlsa}

    async def rdatas(self, name, rdtype):
        return [dns.rdata.from_text("IN", rdtype, text) for text in self.records.get((name, rdtype), [])]


def certificate(folder: Path) -> tuple[Path, Path, bytes]:
    return self_signed(folder, HOST)


async def with_smtp(tls: ssl.SSLContext | None, check: Callable[[int], Awaitable[object]]) -> object:
    """Run ``check(port)`` while an SMTP listener answers on 127.0.0.1 (STARTTLS offered with ``tls``,
    not offered without)."""
    sessions: list[asyncio.Task[None]] = []
    offer = b"250 STARTTLS\r\n" if tls else b"250 8BITMIME\r\n"

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail.example.test ESMTP\r\n")
        while line := (await reader.readline()).upper():
            if line.startswith(b"EHLO"):
                writer.write(b"250-mail.example.test\r\n" + offer)
            elif line.startswith(b"STARTTLS") and tls:
                writer.write(b"220 go ahead\r\n")
                await writer.drain()
                await writer.start_tls(tls)
            elif line.startswith(b"QUIT"):
                writer.write(b"221 bye\r\n")
                break
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sessions.append(asyncio.current_task())
        await talk(reader, writer)

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    async with server:
        result = await check(server.sockets[0].getsockname()[1])
    await asyncio.gather(*sessions, return_exceptions=True)
    return result


@pytest.fixture
def served(tmp_path):
    cert, key, der = certificate(tmp_path / "tls")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    return tls, der


def dane(tls: ssl.SSLContext | None, tlsa: list[str]):
    async def check(port: int):
        return await dc.dane(Zone(tlsa), TARGET, ZONE, SECURE,
                             lambda: served_certificate("127.0.0.1", HOST, "doctor.test", 10, port=port))
    return asyncio.run(with_smtp(tls, check))


def test_a_dane_ee_record_of_the_served_key_matches(served):
    tls, der = served
    outcome = dane(tls, [dane_ee_value(der)])
    assert outcome.status is Status.OK and "matches the certificate served on port 25" in outcome.detail


def test_a_record_of_another_key_is_a_mismatch_whose_fix_is_the_served_key(served, tmp_path):
    tls, der = served
    *_, other = certificate(tmp_path / "old")
    outcome = dane(tls, [dane_ee_value(other)])
    assert (outcome.status, outcome.code) == (Status.ERROR, "tlsa.mismatch"), outcome.detail
    assert outcome.value == dane_ee_value(der)  # the record to publish instead


def test_no_certificate_to_compare_is_unknown_not_failing():
    outcome = dane(None, ["3 1 1 " + "ab" * 32])  # the server offers no STARTTLS
    assert outcome.status is Status.UNKNOWN and "no certificate could be read" in outcome.detail


def test_trust_anchor_records_alone_never_connect():
    async def never():
        raise AssertionError("the certificate was read although no DANE-EE record pins it")

    outcome = asyncio.run(dc.dane(Zone(["2 0 1 " + "ab" * 32]), TARGET, ZONE, SECURE, never))
    assert outcome.status is Status.OK
