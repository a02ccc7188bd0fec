"""The DNS client against a real UDP name server on loopback that drops the first copy of chosen
questions: a lost packet is asked again, a question is sent once however many checks ask it, and
a server that never answers is unknown (after two tries), never an empty answer."""

from __future__ import annotations

import asyncio
from collections import Counter

import dns.flags
import dns.message
import dns.rrset
import pytest

from mailfleet.monitoring.dnsclient import DnsClient, DnsUnavailable, parse_answer

pytestmark = pytest.mark.unit

ADDRESS = "192.0.2.25"


class LossyServer(asyncio.DatagramProtocol):
    """Answers every A question with ADDRESS; drops the first ``drop`` copies of a question
    (and every copy of a name starting with "silent")."""

    def __init__(self, drop: int) -> None:
        self.drop = drop
        self.seen: Counter[str] = Counter()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True)
        self.seen[name] += 1
        if name.startswith("silent") or self.seen[name] <= self.drop:
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", ADDRESS))
        self.transport.sendto(response.to_wire(), addr)


async def serving(drop: int, work):
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(lambda: LossyServer(drop),
                                                            local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        return await work(DnsClient("127.0.0.1", port, timeout=0.3), port), server
    finally:
        transport.close()


def test_a_lost_query_is_asked_once_more():
    async def work(client, port):
        return (await client.addresses("mail.example.test", "A"),
                (await client.ask("ns.example.test", "A", "127.0.0.1", port)).answer)

    (found, direct), server = asyncio.run(serving(1, work))
    assert found == [ADDRESS]
    assert direct[0][0].address == ADDRESS
    assert server.seen == {"mail.example.test": 2, "ns.example.test": 2}


def test_checks_asking_the_same_question_share_one_query():
    async def work(client, port):
        return await asyncio.gather(*(client.addresses("mail.example.test", "A") for _ in range(5)),
                                    *(client.ask("mail.example.test", "A", "127.0.0.1", port)
                                      for _ in range(5)))

    answers, server = asyncio.run(serving(0, work))
    assert answers[:5] == [[ADDRESS]] * 5
    # one through the resolver, one straight to the server: each question once
    assert server.seen == {"mail.example.test": 2}


def test_a_server_that_never_answers_is_unknown_after_two_tries():
    async def work(client, port):
        errors = []
        for ask in (lambda: client.addresses("silent.example.test", "A"),
                    lambda: client.ask("silent2.example.test", "A", "127.0.0.1", port)):
            with pytest.raises(DnsUnavailable) as caught:
                await ask()
            errors.append(str(caught.value))
        return errors

    errors, server = asyncio.run(serving(0, work))
    assert all("asked twice" in e for e in errors), errors
    assert server.seen == {"silent.example.test": 2, "silent2.example.test": 2}


class RecordingServer(LossyServer):
    """Answers as LossyServer does and notes each query's source port; with ``spoof``, first sends
    an answer with the right id for another question."""

    def __init__(self, spoof: bool = False) -> None:
        super().__init__(0)
        self.ports: list[int] = []
        self.spoof = spoof

    def datagram_received(self, data, addr):
        self.ports.append(addr[1])
        if self.spoof:
            query = dns.message.from_wire(data)
            forged = dns.message.make_response(dns.message.make_query("evil.example.test", "A"))
            forged.id = query.id
            forged.answer.append(dns.rrset.from_text("evil.example.test.", 60, "IN", "A", "203.0.113.66"))
            self.transport.sendto(forged.to_wire(), addr)
        super().datagram_received(data, addr)


async def recording(server: RecordingServer, work):
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: server, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        return await work(DnsClient("127.0.0.1", port, timeout=0.5), port)
    finally:
        transport.close()


def test_queries_in_flight_to_one_server_share_one_socket_closed_after():
    server = RecordingServer()

    async def work(client, port):
        found = await asyncio.gather(*(client.addresses(f"m{i}.example.test", "A") for i in range(20)))
        return found, dict(client._sockets)

    found, left_open = asyncio.run(recording(server, work))
    assert found == [[ADDRESS]] * 20
    assert len(server.ports) == 20 and len(set(server.ports)) == 1
    assert left_open == {}  # nothing in flight: no socket kept


def test_an_answer_to_another_question_is_not_taken():
    server = RecordingServer(spoof=True)

    async def work(client, port):
        return await client.addresses("mail.example.test", "A")

    found = asyncio.run(recording(server, work))
    assert found == [ADDRESS]  # the forged answer (same id, other question) was dropped


@pytest.mark.parametrize("name", ["mail.example.test", "_25._tcp.mail.example.test.", "*.example.test",
                                  "xn--bcher-kva.example.test", "a\\.b.example.test", "x y.example.test"])
def test_queries_are_built_as_dnspython_builds_them(name):
    from mailfleet.monitoring.dnsclient import query_wire, question_wire

    ours = dns.message.from_wire(query_wire(4242, question_wire(name, "TXT"), recursion=True))
    theirs = dns.message.make_query(name, "TXT", use_edns=0, payload=1232)
    theirs.flags |= dns.flags.CD
    assert ours.question == theirs.question
    assert (ours.id, ours.flags, ours.edns, ours.payload) == (4242, theirs.flags, 0, 1232)


def _referral() -> bytes:
    """A parent's answer for child.example.test NS: no answer, the referral in the authority
    section, the name servers' address and an EDNS record in the additional section."""
    query = dns.message.make_query("child.example.test", "NS", use_edns=0)
    response = dns.message.make_response(query)
    response.authority.append(dns.rrset.from_text("child.example.test.", 60, "IN", "NS",
                                                  "ns1.child.example.test.", "ns2.child.example.test."))
    response.additional.append(dns.rrset.from_text("ns1.child.example.test.", 60, "IN", "A", ADDRESS))
    return response.to_wire()


def test_an_answer_is_read_to_its_answer_section_and_a_referral_with_its_authority():
    plain = parse_answer(_referral())
    assert plain.question[0].name.to_text() == "child.example.test."
    assert (plain.answer, plain.authority, plain.additional, plain.edns) == ([], [], [], -1)
    with_authority = parse_answer(_referral(), authority=True)
    assert sorted(r.target.to_text() for r in with_authority.authority[0]) == [
        "ns1.child.example.test.", "ns2.child.example.test."
    ]
    assert with_authority.additional == []


class ReferringServer(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data[:2] + _referral()[2:], addr)


def test_the_delegation_a_parent_gives_is_read_from_its_referral():
    async def main():
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(ReferringServer, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        try:
            client = DnsClient("127.0.0.1", port, timeout=0.5)
            # the plain answer to the same question first: the referral is still read after it
            assert (await client.ask("child.example.test", "NS", "127.0.0.1", port)).authority == []
            return await client.delegation_at("child.example.test", "127.0.0.1", port)
        finally:
            transport.close()

    assert asyncio.run(main()) == ["ns1.child.example.test", "ns2.child.example.test"]
