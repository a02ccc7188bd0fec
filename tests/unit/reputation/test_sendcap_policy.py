"""The mailu role's sending caps policy service (roles/mailu/files/sendcap.py): Postfix's policy
protocol on a real socket, caps per IP, domain and mailbox, 451 above a cap, counts kept across a
restart, the table read again when it changes."""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.resolver
import dns.rrset
import pytest

pytestmark = pytest.mark.unit

SOURCE = Path(__file__).resolve().parents[3] / "roles/mailu/files/sendcap.py"
spec = importlib.util.spec_from_file_location("sendcap", SOURCE)
sendcap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sendcap)

NOW = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
ALICE = {"sasl_username": "alice@acme.test", "recipient_count": "1", "protocol_state": "END-OF-MESSAGE"}


def table(daily=None, hourly=None, **extra):
    caps = {k: v for k, v in (("daily", daily), ("hourly", hourly)) if v is not None}
    return {"sending_ip": "198.18.0.10", "ip_days": {"2026-12-01": caps}, **extra}


def send(n, request, tbl, counts, now=NOW):
    return [sendcap.decide(request, tbl, counts, now) for _ in range(n)]


def test_daily_cap_lets_n_through_and_defers_the_next_with_451():
    counts = {}
    answers = send(4, ALICE, table(daily=3), counts)
    assert answers[:3] == ["DUNNO"] * 3
    assert answers[3].startswith("451 4.7.1 ")
    assert "ip 198.18.0.10 may send 3 messages per day" in answers[3]


def test_hourly_cap_resets_next_hour_and_daily_next_day():
    tbl, counts = table(daily=5, hourly=2), {}
    at = [NOW, NOW.replace(hour=11), NOW.replace(hour=12)]
    assert [a.split(" ")[0] for a in send(3, ALICE, tbl, counts, at[0])] == ["DUNNO", "DUNNO", "451"]
    assert "per hour" in send(3, ALICE, tbl, counts, at[1])[2]
    assert send(1, ALICE, tbl, counts, at[2]) == ["DUNNO"]  # the day's 5th
    assert "5 messages per day" in send(1, ALICE, tbl, counts, at[2])[0]
    assert send(1, ALICE, tbl, counts, NOW.replace(day=3)) == ["DUNNO"]


def test_a_message_to_several_recipients_counts_each_and_is_deferred_whole():
    counts = {}
    many = {**ALICE, "recipient_count": "3"}
    assert sendcap.decide(many, table(daily=4), counts, NOW) == "DUNNO"
    assert sendcap.decide(many, table(daily=4), counts, NOW).startswith("451")
    assert sendcap.decide(ALICE, table(daily=4), counts, NOW) == "DUNNO"  # the 4th still fits


def test_domain_and_mailbox_caps_hold_on_their_own():
    tbl = table(daily=100, domains={"acme.test": {"daily": 3}}, mailboxes={"bob@acme.test": {"daily": 1}})
    counts = {}
    bob = {**ALICE, "sasl_username": "Bob@acme.test"}
    assert sendcap.decide(bob, tbl, counts, NOW) == "DUNNO"
    assert "mailbox bob@acme.test may send 1" in sendcap.decide(bob, tbl, counts, NOW)
    assert send(2, ALICE, tbl, counts) == ["DUNNO", "DUNNO"]
    assert "domain acme.test may send 3" in sendcap.decide(ALICE, tbl, counts, NOW)
    other = {**ALICE, "sasl_username": "carol@other.test"}
    assert sendcap.decide(other, tbl, counts, NOW) == "DUNNO"


def test_the_latest_dated_ip_caps_up_to_today_hold():
    tbl = {"sending_ip": "x", "ip_days": {"2026-12-01": {"daily": 1}, "2026-12-02": {"daily": 2},
                                          "2026-12-03": {}}}
    counts = {}
    assert send(3, ALICE, tbl, counts)[2].startswith("451")  # the 2nd's cap of 2
    assert send(5, ALICE, tbl, {}, NOW.replace(day=4)) == ["DUNNO"] * 5  # warm from the 3rd


def test_inbound_mail_is_not_counted_and_a_missing_table_defers_senders():
    assert sendcap.decide({"recipient_count": "1"}, table(daily=0), {}, NOW) == "DUNNO"
    assert sendcap.decide(ALICE, None, {}, NOW).startswith("451 4.3.0")
    assert sendcap.decide(ALICE, {}, {}, NOW) == "DUNNO"  # an empty table caps nothing


def ask(port: int, *requests: dict[str, str]) -> list[str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        stream = sock.makefile("rwb")
        answers = []
        for request in requests:
            stream.write("".join(f"{k}={v}\n" for k, v in request.items()).encode() + b"\n")
            stream.flush()
            answers.append(stream.readline().decode().strip())
            assert stream.readline() == b"\n"
        return answers


@pytest.fixture
def service(tmp_path):
    """The service as the unit runs it, on a free loopback port; stopped (and flushed) afterwards."""
    caps, state = tmp_path / "caps.json", tmp_path / "counts.json"

    def start():
        server = sendcap.Server(("127.0.0.1", 0), sendcap.Handler)
        server.policy = sendcap.Policy(caps, state)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        return server, thread

    started = []

    def run():
        started.append(start())
        return started[-1][0].server_address[1]

    def stop():
        server, thread = started.pop()
        server.shutdown()
        thread.join()
        server.server_close()
        server.policy.flush()

    yield caps, run, stop
    while started:
        stop()


def test_policy_protocol_over_a_socket_counts_survive_a_restart_and_new_tables_apply(service):
    caps, run, stop = service
    today = datetime.now(UTC).date().isoformat()
    caps.write_text(json.dumps({"sending_ip": "198.18.0.10", "ip_days": {today: {"daily": 2}}}))
    port = run()
    answers = ask(port, ALICE, ALICE, ALICE, {"recipient_count": "1"})
    assert [a.split(" ")[0] for a in answers] == ["action=DUNNO"] * 2 + ["action=451", "action=DUNNO"]
    stop()
    port = run()  # the day's counts are back after a restart
    assert ask(port, ALICE)[0].startswith("action=451 4.7.1")
    caps.write_text(json.dumps({"sending_ip": "198.18.0.10", "ip_days": {today: {"daily": 3}}}))
    assert ask(port, ALICE, ALICE)[0] == "action=DUNNO"  # the raised cap, read without a restart
    caps.unlink()
    assert ask(port, ALICE)[0].startswith("action=451 4.3.0")


GROUPS = {
    "gmail": {"suffixes": ["gmail.com", "google.com"], "days": {"2026-12-01": {"daily": 2}}},
    "yahoo": {"suffixes": ["yahoo.com", "yahoodns.net"], "days": {"2026-12-01": {"daily": 5, "hourly": 4}}},
    "other": {"suffixes": [], "days": {"2026-12-01": {"daily": 1}}},
}
WORKSPACE_MX = {"acme-workspace.test": "ASPMX.L.GOOGLE.COM.", "lists.test": None}


def rcpt(to, instance="t1", user="alice@acme.test"):
    return {"sasl_username": user, "protocol_state": "RCPT", "recipient": to, "instance": instance}


def end(recipients, instance="t1"):
    return {**ALICE, "recipient_count": str(recipients), "instance": instance}


def test_each_receiver_group_has_its_own_cap_per_recipient_counted_with_the_message():
    tbl, counts, pending = table(daily=100, groups=GROUPS), {}, {}

    def ask(request):
        return sendcap.decide(request, tbl, counts, NOW, pending, WORKSPACE_MX.get)

    assert [ask(rcpt(to)) for to in ("a@gmail.com", "b@GMAIL.com", "d@yahoo.com")] == ["DUNNO"] * 3
    refused = ask(rcpt("c@gmail.com"))
    assert refused.startswith("451 4.7.1 ")
    assert "receivers gmail may get 2 messages per day (0 sent)" in refused
    assert ask(end(3)) == "DUNNO" and pending == {}
    assert (counts["group:gmail"]["day_count"], counts["group:yahoo"]["day_count"]) == (2, 1)
    assert counts["ip:198.18.0.10"]["day_count"] == 3
    # The next message: Gmail's cap is spent for the day, Yahoo's is not; a Workspace domain is
    # Gmail's by its MX host, a domain whose MX matches no group is among the rest.
    assert "(2 sent)" in ask(rcpt("e@gmail.com", "t2"))
    assert ask(rcpt("f@acme-workspace.test", "t2")).startswith("451")
    assert ask(rcpt("g@yahoo.com", "t2")) == "DUNNO"
    assert ask(rcpt("h@lists.test", "t2")) == "DUNNO"
    assert "receivers other may get 1" in ask(rcpt("i@lists.test", "t2"))
    assert ask(end(2, "t2")) == "DUNNO"
    assert counts["group:other"]["day_count"] == 1 and counts["group:yahoo"]["day_count"] == 2
    # Next day the new day's caps hold (the dated entry of the 1st still, with fresh counts).
    assert sendcap.decide(rcpt("j@gmail.com", "t3"), tbl, counts, NOW.replace(day=3), pending) == "DUNNO"


def test_a_message_deferred_at_its_end_counts_none_of_its_recipients_groups():
    tbl, counts, pending = table(daily=1, groups=GROUPS), {}, {}
    for to in ("a@gmail.com", "b@yahoo.com"):
        assert sendcap.decide(rcpt(to), tbl, counts, NOW, pending) == "DUNNO"
    assert "ip 198.18.0.10 may send 1" in sendcap.decide(end(2), tbl, counts, NOW, pending)
    assert pending == {} and counts.get("group:gmail", {}).get("day_count", 0) == 0
    # The client tries again: the same recipients are accepted again, nothing was used up.
    for to in ("a@gmail.com", "c@gmail.com"):
        assert sendcap.decide(rcpt(to, "t9"), tbl, counts, NOW, pending) == "DUNNO"


def test_recipients_of_inbound_mail_or_without_groups_are_not_paced():
    inbound = {"protocol_state": "RCPT", "recipient": "a@gmail.com", "instance": "x"}
    assert sendcap.decide(inbound, table(daily=1, groups=GROUPS), {}, NOW) == "DUNNO"
    assert sendcap.decide(rcpt("a@gmail.com"), table(daily=1), {}, NOW) == "DUNNO"
    # The server's own domains are no group's: "other" allows 1 recipient, its own domain takes 3.
    local, pending = table(daily=9, groups=GROUPS, local_domains=["acme.test"]), {}
    recipients = ["b@Acme.test"] * 3 + ["b@x.test"] * 2
    answers = [sendcap.decide(rcpt(to), local, {}, NOW, pending) for to in recipients]
    assert answers[:4] == ["DUNNO"] * 4 and answers[4].startswith("451")
    # Without a table the recipient passes and the end of the message defers (one answer, one place).
    assert sendcap.decide(rcpt("a@gmail.com"), None, {}, NOW) == "DUNNO"
    assert sendcap.decide(end(1), None, {}, NOW).startswith("451 4.3.0")


MANY_MX = [(10 + n, f"mx{n}.a-rather-long-mail-exchanger-name.acme-workspace.test.") for n in range(12)]


@pytest.fixture
def truncating_dns():
    """A DNS server on loopback whose UDP answer to an MX query is cut (TC set, no records: a
    domain with more MX hosts than a datagram carries) and whose TCP answer is whole. Yields its port
    and the transports each query came over."""
    udp, tcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket()
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    tcp.bind(("127.0.0.1", port))
    tcp.listen()
    asked: list[str] = []

    def whole(query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        name = query.question[0].name
        if name == dns.name.from_text("acme-workspace.test."):  # names compare case-insensitively
            rdatas = [dns.rdata.from_text("IN", "MX", f"{pref} {host}") for pref, host in MANY_MX]
            reply.answer.append(dns.rrset.from_rdata_list(name, 300, rdatas))
        else:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply

    def serve_udp():
        while True:
            try:
                data, peer = udp.recvfrom(4096)
            except OSError:
                return
            asked.append("udp")
            reply = dns.message.make_response(dns.message.from_wire(data))
            reply.flags |= dns.flags.TC
            udp.sendto(reply.to_wire(), peer)

    def serve_tcp():
        while True:
            try:
                conn, _ = tcp.accept()
            except OSError:
                return
            with conn:
                query, _ = dns.query.receive_tcp(conn)
                asked.append("tcp")
                dns.query.send_tcp(conn, whole(query))

    for serve in (serve_udp, serve_tcp):
        threading.Thread(target=serve, daemon=True).start()
    yield port, asked
    udp.close()
    tcp.close()


def test_the_mx_lookup_asks_again_over_tcp_when_the_udp_answer_is_truncated(truncating_dns):
    port, asked = truncating_dns
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = ["127.0.0.1"], port
    assert sendcap.first_mx("Acme-Workspace.test", resolver) == MANY_MX[0][1].rstrip(".")
    assert asked == ["udp", "tcp"]
    assert sendcap.first_mx("nowhere.test", resolver) is None  # NXDOMAIN: the group of the rest
    assert sendcap.first_mx("bad..name", resolver) is None
    cache = sendcap.MxCache(resolver)
    assert cache("acme-workspace.test") == cache("ACME-workspace.test") == MANY_MX[0][1].rstrip(".")
    assert asked.count("tcp") == 3  # the second answer came from the cache


def test_answers_never_write_the_counts_the_flusher_thread_does(tmp_path):
    """An answer does not wait on the disk: the counts reach the state file through flush_every's
    thread (once a second while they change, and once more when it stops)."""
    caps, state = tmp_path / "caps.json", tmp_path / "counts.json"
    caps.write_text(json.dumps({"sending_ip": "198.18.0.10", "ip_days": {}}))
    policy = sendcap.Policy(caps, state)
    assert [policy.answer(ALICE) for _ in range(3)] == ["DUNNO"] * 3
    assert not state.exists()
    stopping = threading.Event()
    flusher = threading.Thread(target=policy.flush_every, args=(stopping,))
    flusher.start()
    for _ in range(100):
        if state.exists():
            break
        stopping.wait(0.1)
    policy.answer(ALICE)
    stopping.set()
    flusher.join()
    assert json.loads(state.read_text())["ip:198.18.0.10"]["day_count"] == 4


def test_recipients_over_a_socket_are_paced_per_group(service):
    caps, run, _stop = service
    today = datetime.now(UTC).date().isoformat()
    groups = {"gmail": {"suffixes": ["gmail.com"], "days": {today: {"daily": 1}}}}
    caps.write_text(json.dumps({"sending_ip": "198.18.0.10", "ip_days": {today: {}}, "groups": groups}))
    port = run()
    answers = ask(port, rcpt("a@gmail.com"), rcpt("b@gmail.com"), end(1), rcpt("c@gmail.com", "t2"))
    assert answers[0] == answers[2] == "action=DUNNO"
    assert answers[1].startswith("action=451 4.7.1") and answers[3].startswith("action=451 4.7.1")


def test_a_slow_mx_query_holds_up_its_own_recipient_alone(tmp_path):
    """A recipient whose group is known by its domain's MX host waits for the DNS answer without
    holding the lock: other connections' recipients and messages are answered meanwhile."""
    caps = tmp_path / "caps.json"
    caps.write_text(json.dumps(table(groups=GROUPS)))
    asked, dns_answers = threading.Event(), threading.Event()

    def slow_mx(domain):
        asked.set()
        dns_answers.wait(30)
        return WORKSPACE_MX.get(domain)

    policy = sendcap.Policy(caps, tmp_path / "counts.json", mx=slow_mx)
    slow_answer, others = [], []
    workspace = rcpt("a@acme-workspace.test", "t1")
    slow = threading.Thread(target=lambda: slow_answer.append(policy.answer(workspace)))
    slow.start()
    assert asked.wait(30)
    meanwhile = threading.Thread(target=lambda: others.extend(
        policy.answer(request) for request in (rcpt("b@gmail.com", "t2"), end(1, "t2"))))
    meanwhile.start()
    meanwhile.join(10)
    waited = meanwhile.is_alive()
    dns_answers.set()
    slow.join(30)
    meanwhile.join(30)
    assert not waited, "another connection's requests waited for the MX query"
    assert others == ["DUNNO", "DUNNO"] and slow_answer == ["DUNNO"]
    assert policy.pending["t1"]["groups"] == {"gmail": 1}  # Gmail's by its MX host


@pytest.fixture
def lossy_dns():
    """A DNS server on loopback that drops the first UDP query of each name (a datagram lost on the
    way) and answers the next one with the domain's MX hosts. Yields its port and the names asked."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    asked: list[str] = []

    def serve():
        while True:
            try:
                data, peer = udp.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            name = query.question[0].name
            asked.append(name.to_text())
            if asked.count(name.to_text()) == 1:
                continue
            reply = dns.message.make_response(query)
            reply.answer.append(dns.rrset.from_text_list(name, 300, "IN", "MX", ["10 aspmx.l.google.com."]))
            udp.sendto(reply.to_wire(), peer)

    threading.Thread(target=serve, daemon=True).start()
    yield udp.getsockname()[1], asked
    udp.close()


def test_a_lost_mx_query_is_asked_again_not_taken_for_a_domain_without_mx(lossy_dns):
    port, asked = lossy_dns
    resolver = sendcap.host_resolver()
    resolver.nameservers, resolver.port = ["127.0.0.1"], port
    assert sendcap.first_mx("acme-workspace.test", resolver) == "aspmx.l.google.com"
    assert asked == ["acme-workspace.test."] * 2
