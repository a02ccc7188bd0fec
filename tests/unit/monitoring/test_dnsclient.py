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

from mailfleet.monitoring.dnsclient import DnsClient, DnsUnavailable

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
