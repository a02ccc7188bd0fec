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
