"""The secondary MX's health check: does the server accept mail for the domain? Probed as a sending
MTA would start (banner, EHLO, null sender, RCPT TO postmaster@<domain>) against a small SMTP
listener on loopback that answers as Postfix does; nothing is ever sent."""

from __future__ import annotations

import asyncio

import pytest

from mailfleet.monitoring.netprobe import probe_relay
from mailfleet.monitoring.outcome import Status

pytestmark = pytest.mark.unit


async def _probe(rcpt_reply: bytes, domain: str = "shop.example.test") -> tuple[object, list[str]]:
    heard: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx2.example.test ESMTP\r\n")
        while line := (await reader.readline()).decode().strip():
            heard.append(line)
            verb = line.split()[0].upper()
            reply = {"EHLO": b"250-mx2.example.test\r\n250 8BITMIME\r\n", "MAIL": b"250 2.1.0 Ok\r\n",
                     "RCPT": rcpt_reply, "RSET": b"250 2.0.0 Ok\r\n", "QUIT": b"221 2.0.0 Bye\r\n"}[verb]
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        outcome = await probe_relay("127.0.0.1", domain, "probe.example.test", 5.0, port=port)
        await asyncio.sleep(0.05)
    return outcome, heard


def test_a_secondary_that_accepts_the_domain_is_ok_and_nothing_is_sent():
    outcome, heard = asyncio.run(_probe(b"250 2.1.5 Ok\r\n"))
    assert outcome.status is Status.OK and "accepts mail for shop.example.test" in outcome.detail
    assert heard[:3] == ["EHLO probe.example.test", "MAIL FROM:<>", "RCPT TO:<postmaster@shop.example.test>"]
    assert not any(line.upper().startswith("DATA") for line in heard)


def test_a_secondary_without_the_relay_is_an_error_with_its_answer():
    outcome, _ = asyncio.run(_probe(b"554 5.7.1 <postmaster@shop.example.test>: Relay access denied\r\n"))
    assert outcome.status is Status.ERROR and "Relay access denied" in outcome.detail


def test_a_secondary_that_does_not_answer_is_an_error():
    outcome = asyncio.run(probe_relay("127.0.0.1", "shop.example.test", "probe.example.test", 2.0, port=9))
    assert outcome.status is Status.ERROR and "port 9" in outcome.detail
