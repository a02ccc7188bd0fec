"""The mailu role's sending caps policy service (roles/mailu/files/sendcap.py): Postfix's policy
protocol on a real socket, caps per IP, domain and mailbox, 451 above a cap, counts kept across a
restart, the table read again when it changes."""

from __future__ import annotations

import importlib.util
import json
import socket
import struct
import threading
from datetime import UTC, datetime
from pathlib import Path

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


def _mx_reply(query: bytes, rcode: int = 0) -> bytes:
    """A resolver's answer to `query`: two MX records, the preferred one's name compressed into the
    other's (as real servers write them)."""
    question = query[12:]
    first_rdata_at = 12 + len(question) + 12
    exchange = b"\x04alt1\x05aspmx\x01l\x06google\x03com\x00"
    first = b"\xc0\x0c" + struct.pack("!HHIHH", 15, 1, 300, 2 + len(exchange), 20) + exchange
    pointer = 0xC000 | (first_rdata_at + 2 + 5 + 6)  # "l.google.com" inside the first exchange
    second_exchange = b"\x02mx" + struct.pack("!H", pointer)
    second = b"\xc0\x0c" + struct.pack("!HHIHH", 15, 1, 300, 2 + len(second_exchange), 10)
    header = query[:2] + struct.pack("!HHHHH", 0x8180 | rcode, 1, 2, 0, 0)
    return header + question + first + second + second_exchange


def test_the_preferred_mx_host_is_read_from_a_compressed_reply():
    query = sendcap.mx_query("acme-workspace.test", 0x1234)
    assert query[12:] == b"\x0eacme-workspace\x04test\x00\x00\x0f\x00\x01"
    assert sendcap.best_mx(_mx_reply(query), 0x1234) == "mx.l.google.com"
    assert sendcap.best_mx(_mx_reply(query), 0x4321) is None  # not the answer to our query
    assert sendcap.best_mx(_mx_reply(query, rcode=3), 0x1234) is None  # NXDOMAIN
    with pytest.raises((ValueError, IndexError, struct.error)):
        sendcap.best_mx(_mx_reply(query)[:-3], 0x1234)


def test_recipients_over_a_socket_are_paced_per_group(service):
    caps, run, _stop = service
    today = datetime.now(UTC).date().isoformat()
    groups = {"gmail": {"suffixes": ["gmail.com"], "days": {today: {"daily": 1}}}}
    caps.write_text(json.dumps({"sending_ip": "198.18.0.10", "ip_days": {today: {}}, "groups": groups}))
    port = run()
    answers = ask(port, rcpt("a@gmail.com"), rcpt("b@gmail.com"), end(1), rcpt("c@gmail.com", "t2"))
    assert answers[0] == answers[2] == "action=DUNNO"
    assert answers[1].startswith("action=451 4.7.1") and answers[3].startswith("action=451 4.7.1")
