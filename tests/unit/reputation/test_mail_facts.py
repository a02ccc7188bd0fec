"""The facts run's mail collector (playbooks/files/mail_facts.py): today's counts from real Postfix
log lines (reputation deferrals told apart from greylisting and dead hosts, receiver groups by MX),
and the probe that asks the sending caps policy service the way Postfix does, against the real
service on a socket and against a closed port."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import threading
from pathlib import Path

import pytest

from mailfleet import warmup
from mailfleet.clock import utcnow
from mailfleet.monitoring import FactsThresholds, Status, evaluate_facts

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


def _load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mail_facts = _load("mail_facts", "playbooks/files/mail_facts.py")
sendcap = _load("sendcap", "roles/mailu/files/sendcap.py")

# One day of a server's Postfix log (journal and syslog line formats).
LOG = (Path(__file__).parent / "data" / "postfix-day.log").read_text()


def _caps_service(directory: Path, groups: dict) -> Path:
    """The policy service and its cap table, as the mailu role installs them side by side."""
    directory.mkdir(exist_ok=True)
    shutil.copy(ROOT / "roles/mailu/files/sendcap.py", directory / "sendcap.py")
    table = {"sending_ip": "198.51.100.7", "ip_days": {}, "groups": groups}
    (directory / "caps.json").write_text(json.dumps(table))
    return directory / "caps.json"


def test_counts_tell_reputation_deferrals_from_other_deferrals_and_group_by_mx(tmp_path):
    """The groups are the policy service's: the control plane's receiver groups as its table
    carries them, matched by its own function."""
    groups = {group.name: {"suffixes": list(group.suffixes), "days": {}} for group in warmup.RECEIVER_GROUPS}
    group_of = mail_facts.relay_groups(_caps_service(tmp_path, groups))
    got = mail_facts.count(LOG.splitlines(), "2026-12-02", group_of)
    assert {k: v for k, v in got.items() if k not in ("groups", "senders")} == {
        "day": "2026-12-02", "sent": 2, "received": 1, "deferred": 5, "bounced": 1, "rejected": 2,
        "reputation_deferrals": 3,
    }
    assert got["groups"] == {
        "gmail": {"sent": 2, "deferred": 1, "bounced": 0, "reputation_deferrals": 1},
        "microsoft": {"sent": 0, "deferred": 1, "bounced": 0, "reputation_deferrals": 1},
        "yahoo": {"sent": 0, "deferred": 1, "bounced": 0, "reputation_deferrals": 1},
        "apple": {"sent": 0, "deferred": 0, "bounced": 1, "reputation_deferrals": 0},
        "other": {"sent": 0, "deferred": 2, "bounced": 0, "reputation_deferrals": 0},
    }


def test_without_a_policy_service_or_its_groups_every_relay_is_other(tmp_path):
    """No caps service installed, or a table without groups (no warm-up plan): nothing is paced
    per receiver, and the facts count every relay as "other"."""
    for group_of in (mail_facts.relay_groups(tmp_path / "absent" / "caps.json"),
                     mail_facts.relay_groups(_caps_service(tmp_path / "noplan", {}))):
        got = mail_facts.count(LOG.splitlines(), "2026-12-02", group_of)
        assert list(got["groups"]) == ["other"] and got["groups"]["other"]["deferred"] == got["deferred"]


def test_senders_are_the_logged_in_mailbox_or_the_envelope_sender_by_queue_id():
    lines = (Path(__file__).parent / "data" / "postfix-senders.log").read_text().splitlines()
    got = mail_facts.count(lines, "2026-12-02", lambda _host: "other")
    assert (got["sent"], got["deferred"], got["bounced"], got["received"]) == (4, 2, 1, 1)
    # The server's own bounce (from=<>) and 1A2B31C0001, queued before the day, name no sender.
    assert got["senders"] == {
        "alice@acme.test": {"sent": 1, "deferred": 2, "bounced": 1},
        "newsletter@acme.test": {"sent": 2, "deferred": 0, "bounced": 0},
    }
    assert list(got["senders"]) == ["alice@acme.test", "newsletter@acme.test"]  # busiest first


def test_only_the_busiest_senders_are_kept(monkeypatch):
    monkeypatch.setattr(mail_facts, "MAX_SENDERS", 2)
    lines = []
    for n, (sender, count) in enumerate([("a@x.test", 1), ("b@x.test", 3), ("c@x.test", 2)]):
        qid = f"ABCDE{n}"
        lines.append(f"x postfix/qmgr[1]: {qid}: from=<{sender}>, size=1, nrcpt={count} (queue active)")
        lines += [
            f"x postfix/smtp[2]: {qid}: to=<r{i}@example.org>, relay=mx.example.org[203.0.113.5]:25, "
            "delay=1, dsn=2.0.0, status=sent (250 ok)"
            for i in range(count)
        ]
    got = mail_facts.count(lines, "2026-12-02", lambda _host: "other")
    assert list(got["senders"]) == ["b@x.test", "c@x.test"]


def test_log_commands_read_the_day_from_midnight_utc():
    journal = mail_facts.log_command("journald", "2026-12-02", "mailu")
    assert journal[0] == "journalctl" and "--since=2026-12-02 00:00:00 UTC" in journal
    assert "postfix/submission/smtpd" in journal
    docker = mail_facts.log_command("docker", "2026-12-02", "mailu")
    assert docker[:5] == ["docker", "compose", "-p", "mailu", "logs"] and docker[-1] == "smtp"
    assert "--since=2026-12-02T00:00:00Z" in docker


@pytest.fixture
def policy_service(tmp_path):
    (tmp_path / "caps.json").write_text(json.dumps({"sending_ip": "198.18.0.10", "ip_days": {}}))
    server = sendcap.Server(("127.0.0.1", 0), sendcap.Handler)
    server.policy = sendcap.Policy(tmp_path / "caps.json", tmp_path / "state.json")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address
    server.shutdown()
    server.server_close()


def _override(tmp_path, port: int) -> Path:
    path = tmp_path / "postfix.cf"
    path.write_text(
        "# BEGIN mailfleet sending caps\n"
        "# smtpd_end_of_data_restrictions = check_policy_service inet:10.0.0.1:1\n"
        f"smtpd_end_of_data_restrictions = check_policy_service inet:127.0.0.1:{port}\n"
        "smtpd_policy_service_default_action = 451 4.3.5 Sending caps unavailable, try again later\n"
    )
    return path


def _sendcap_check(section) -> object:
    doc = {"schema": 1, "host": "ma", "sendcap": section}
    return {r.check: r for r in evaluate_facts("ma", doc, FactsThresholds(), utcnow())}["sendcap"]


def test_a_running_policy_service_answers_the_probe_and_reads_green(tmp_path, policy_service):
    address = mail_facts.policy_address(_override(tmp_path, policy_service[1]))
    assert address == ("127.0.0.1", policy_service[1])
    section = mail_facts.probe(address)
    assert section == {"configured": True, "address": f"127.0.0.1:{policy_service[1]}",
                       "answering": True, "error": None}
    assert _sendcap_check(section).status is Status.OK


def test_a_policy_service_that_is_down_is_an_error_that_says_mail_is_deferred(tmp_path):
    with socket.socket() as placeholder:  # a port nothing listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    section = mail_facts.probe(mail_facts.policy_address(_override(tmp_path, port)))
    assert section["answering"] is False and section["error"]
    check = _sendcap_check(section)
    assert check.status is Status.ERROR
    assert f"127.0.0.1:{port} does not answer" in check.detail and "451" in check.detail


def test_no_override_means_no_policy_service_and_no_alert(tmp_path):
    assert mail_facts.policy_address(tmp_path / "missing.cf") is None
    assert _sendcap_check({"configured": False}).status is Status.OK
    assert _sendcap_check({"configured": True, "answering": False}).status is Status.ERROR
