"""Sending caps enforced by the server's Postfix on a testbed host: the mailu role's policy service,
installed through Mailu's Postfix override, which the host's mail stack loads. A mailbox that sends
above its server's warm-up cap gets a 451 at the end of the message and keeps it (nothing is
queued or delivered); once the plan's next day raises the cap, the same message goes through. Each
receiver group has its own cap, asked per recipient: a recipient on tenant B's server (the group of
the rest) above it is answered 451 on its own, the server's own domain is not paced. The tenant's
domain cap holds for every mailbox of the domain, a mailbox's cap for that mailbox alone. A
policy service that is down defers mail too (451 for each recipient): a submission stays with its
sender, mail from another server waits in that server's queue, and both are delivered once it is
back; the facts run reports it (the `sendcap` check, an alert after the sweeps' failures in a row)
along with the day's message counts from Postfix's log."""

from __future__ import annotations

import json
import secrets
import smtplib
import time
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage

import pytest
from controlplane import scope_of_admin, work
from mailtest import Imap, Smtps, create_mailboxes, imap_login, tls_context, wait_for_login

pytestmark = pytest.mark.testbed

OVERRIDE_WAIT = 60.0  # seconds the host's mail stack gets to apply a changed override


@pytest.fixture(scope="module")
def context(testbed):
    return tls_context(testbed)


@pytest.fixture(scope="module")
def sender(converged_servers, mail_plane, context):
    """A mailbox of tenant A's converged server, made with the tenant page's action, usable by IMAP.
    The server shares its host with the folder's other tests: its plan is removed afterwards."""
    from webapp.extensions import db
    from webapp.models import Server
    from webapp.services import warmup

    server = converged_servers("ma")  # tenant B's server is not needed here
    (address, password), = create_mailboxes(server, f"warm{secrets.token_hex(2)}").items()
    wait_for_login(server, context, address, password)
    yield server, address, password
    # The file's domain and mailbox caps go with its plan, in one push.
    for cap in warmup.caps_of(db.session.get(Server, server.server_id)):
        db.session.delete(cap)
    db.session.commit()
    warmup.remove_plan(scope_of_admin(), server.server_id)
    work(mail_plane["app"])


def set_plan(mail_plane, server, table: str, days_ago: int = 0):
    """The warm-up page's form: a custom plan, pushed to the server by its sendcap run."""
    from webapp.models import RunStatus
    from webapp.services import warmup

    started = warmup.today() - timedelta(days=days_ago)
    run = warmup.set_plan(scope_of_admin(), server.server_id, "custom", table, started_on=started)
    work(mail_plane["app"])
    assert run is not None and run.status == RunStatus.SUCCESSFUL, (run.failure_reason, run.recap)


def submit(server, context, address, password, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = address, address, subject
    message.set_content("warm-up test")
    with Smtps(server.host.address, server.mail_host, context) as smtp:
        smtp.login(address, password)
        smtp.send_message(message)


def delivered(server, context, address, password, subject: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        with Imap(server.host.address, server.mail_host, context) as imap:
            imap.login(address, password)
            imap.select("INBOX")
            found = imap.search(None, "SUBJECT", f'"{subject}"')[1][0].split()
            imap.logout()
        if found or time.monotonic() > deadline:
            return bool(found)
        time.sleep(0.5)


def test_the_role_override_is_loaded_into_postfix(sender):
    server, _, _ = sender
    deadline = time.monotonic() + OVERRIDE_WAIT
    names = "smtpd_end_of_data_restrictions smtpd_recipient_restrictions"
    while True:
        values = server.host.ssh(f"postconf -h {names}").stdout.split("\n")[:2]
        if all("inet:127.0.0.1:10040" in v for v in values) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert values == ["check_policy_service inet:127.0.0.1:10040"] * 2
    assert server.host.ssh("systemctl is-active mailu-sendcap").stdout.strip() == "active"


def test_above_the_cap_the_message_is_deferred_and_stays_with_the_sender(sender, context, mail_plane):
    server, address, password = sender
    set_plan(mail_plane, server, "1 3 3\n2 50 20")  # day 1: 3 a day, 3 an hour
    tag = secrets.token_hex(3)
    for n in range(3):
        submit(server, context, address, password, f"capped {tag} {n}")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit(server, context, address, password, f"capped {tag} over")
    assert refused.value.smtp_code == 451
    assert b"may send 3 messages per day" in refused.value.smtp_error
    assert delivered(server, context, address, password, f"capped {tag} 2")
    assert not delivered(server, context, address, password, f"capped {tag} over", timeout=3)

    set_plan(mail_plane, server, "1 3 3\n2 50 20", days_ago=1)  # warm-up day 2: 50 a day
    submit(server, context, address, password, f"capped {tag} over")
    assert delivered(server, context, address, password, f"capped {tag} over")


def recipients_answers(server, context, address, password, to: str, count: int) -> list[tuple[int, bytes]]:
    """The answers to `count` RCPT TO:<to> in one transaction, then RSET: nothing is sent or counted."""
    with Smtps(server.host.address, server.mail_host, context) as smtp:
        smtp.login(address, password)
        smtp.mail(address)
        answers = [smtp.rcpt(to) for _ in range(count)]
        smtp.rset()
    return answers


def test_each_receiver_group_has_its_own_cap_asked_per_recipient(sender, context, mail_plane,
                                                                 converged_servers):
    from webapp.integrations import mailu_client

    server, address, password = sender
    other = converged_servers("mb")  # shared: its mailbox is deleted afterwards
    (outside, outside_password), = create_mailboxes(other, f"paced{secrets.token_hex(2)}").items()
    try:
        wait_for_login(other, context, outside, outside_password)
        set_plan(mail_plane, server, "1 5 5\n2 50 20")  # day 1: the rest of the receivers get 3 (x0.6)
        answers = recipients_answers(server, context, address, password, outside, 4)
        assert [code for code, _ in answers] == [250, 250, 250, 451], answers
        assert b"receivers other may get 3 messages per day" in answers[3][1]
        own = recipients_answers(server, context, address, password, address, 4)
        assert [code for code, _ in own] == [250] * 4, own  # its own mailboxes: no receiver to pace for

        set_plan(mail_plane, server, "1 5 5\n2 50 20", days_ago=1)  # day 2: the rest get 30
        subject = f"paced {secrets.token_hex(3)}"
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = address, outside, subject
        message.set_content("paced per receiver group")
        with Smtps(server.host.address, server.mail_host, context) as smtp:
            smtp.login(address, password)
            smtp.send_message(message)
        assert delivered(other, context, outside, outside_password, subject, timeout=60)
    finally:
        with mailu_client(other.tenant.slug, other.mail_host) as client:
            client.delete_user(outside)
    assert not imap_login(other, context, outside, outside_password)


def queued_for(host, recipient: str) -> list[dict]:
    """The messages for `recipient` in the host's Postfix queue (postqueue -j, one JSON a line)."""
    lines = host.ssh("postqueue -j").stdout.splitlines()
    return [m for m in map(json.loads, lines) if any(r["address"] == recipient for r in m["recipients"])]


def test_policy_service_down_defers_instead_of_sending_uncapped(sender, context, converged_servers):
    """Nothing is lost: the submission is refused with 451 and goes through when sent again, and
    mail from another server waits in that server's queue and is delivered once the service is back."""
    server, address, password = sender
    other = converged_servers("mb")
    tag = secrets.token_hex(3)
    server.host.ssh("systemctl stop mailu-sendcap")
    try:
        # Postfix asks the service first for the recipient: the default action answers it.
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            submit(server, context, address, password, f"while down {tag}")
        [(code, reply)] = refused.value.recipients.values()
        assert code == 451 and b"Sending caps unavailable" in reply
        sender_address = f"postmaster@{other.zone}"
        other.host.ssh(f"sendmail -f {sender_address} {address}",
                       stdin=f"From: {sender_address}\nTo: {address}\nSubject: queued {tag}\n\nwaits\n")
        deadline = time.monotonic() + 30
        while not (waiting := [m for m in queued_for(other.host, address) if m["queue_name"] == "deferred"]):
            assert time.monotonic() < deadline, other.host.ssh("postqueue -p").stdout
            time.sleep(0.5)
        [reason] = [r.get("delay_reason", "") for r in waiting[0]["recipients"]]
        assert "said: 451 4.3.5" in reason and "Sending caps unavailable" in reason, reason
    finally:
        server.host.ssh("systemctl start mailu-sendcap")
    submit(server, context, address, password, f"while down {tag}")
    other.host.ssh("postqueue -f")
    assert delivered(server, context, address, password, f"while down {tag}")
    assert delivered(server, context, address, password, f"queued {tag}", timeout=60)
    assert queued_for(other.host, address) == []


def inside_facts(mail_plane, server, facts_dir):
    """The facts run of the server's tenant (playbooks/health_facts.yml through the runner bridge,
    as the scheduler submits it), then the sweep's readers of its document: the inside checks by
    name, and the day's counts stored in mail_counts."""
    from jobs.periodic import submit_per_tenant
    from mailfleet.clock import utcnow
    from mailfleet.monitoring import FactsThresholds, facts_results
    from webapp.extensions import db
    from webapp.models import MailCount, Server
    from webapp.services import mailstats

    name = db.session.get(Server, server.server_id).name
    facts_dir.mkdir(exist_ok=True)
    submit_per_tenant("health_facts", {"health_facts_dir": str(facts_dir)}, tenant_ids={server.tenant.id})
    work(mail_plane["app"])
    checks = {r.check: r for r in facts_results([name], facts_dir, FactsThresholds(), utcnow())}
    mailstats.record_counts([name], facts_dir, utcnow())
    counts = db.session.query(MailCount).filter_by(server_id=server.server_id, day=utcnow().date()).one()
    return checks, counts


def test_facts_count_the_days_mail_and_a_policy_service_down_is_an_alert(sender, context, mail_plane,
                                                                        tmp_path):
    from mailfleet.monitoring import Status, monitoring_config, record_results
    from webapp.extensions import db
    from webapp.models import HealthAlert, SqlHealthStore

    server, address, password = sender
    subject = f"counted {secrets.token_hex(3)}"
    submit(server, context, address, password, subject)
    assert delivered(server, context, address, password, subject)
    checks, counts = inside_facts(mail_plane, server, tmp_path / "facts")
    assert checks["facts"].status is Status.OK, checks["facts"].detail
    assert checks["sendcap"].status is Status.OK, checks["sendcap"].detail
    assert counts.received >= 1  # this test's message, delivered into the mailbox from Postfix's log

    server.host.ssh("systemctl stop mailu-sendcap")
    try:
        checks, _ = inside_facts(mail_plane, server, tmp_path / "facts")
    finally:
        server.host.ssh("systemctl start mailu-sendcap")
    assert checks["sendcap"].status is Status.ERROR
    assert "does not answer" in checks["sendcap"].detail and "451" in checks["sendcap"].detail
    # Each sweep reads the latest facts document: the failures in a row its policy asks open an alert.
    policies, down = monitoring_config().alerts, checks["sendcap"]
    for n in range(policies.for_check("sendcap").fail_after):
        sweep = replace(down, checked_at=down.checked_at + timedelta(minutes=5 * n))
        record_results(SqlHealthStore(), [sweep], policies)
    [alert] = db.session.query(HealthAlert).filter_by(server_id=server.server_id, check="sendcap").all()
    assert alert.resolved_at is None and alert.severity == "critical", (alert.severity, alert.detail)
    assert "does not answer" in alert.detail

    # The service is back: the next facts answer green and the passes its policy asks resolve the alert
    # (the server is shared with the folder's other tests, whose health board must be green again).
    checks, _ = inside_facts(mail_plane, server, tmp_path / "facts")
    back = checks["sendcap"]
    assert back.status is Status.OK, back.detail
    for n in range(policies.for_check("sendcap").pass_after):
        later = down.checked_at + timedelta(minutes=5 * (policies.for_check("sendcap").fail_after + n))
        record_results(SqlHealthStore(), [replace(back, checked_at=later)], policies)
    db.session.refresh(alert)
    assert alert.resolved_at is not None


def sent_today(server, key: str) -> int:
    """The policy service's count of today for `key` ("domain:<name>", "mailbox:<email>"): what
    its caps are measured against, from the state file it writes within a second of a change."""
    time.sleep(1.5)
    state = json.loads(server.host.ssh("cat /var/lib/mailu-sendcap/counts.json").stdout or "{}")
    entry = state.get(key) or {}
    return entry.get("day_count", 0) if entry.get("day") == time.strftime("%Y-%m-%d", time.gmtime()) else 0


def test_the_tenants_domain_cap_and_a_mailbox_cap_each_hold(sender, context, mail_plane):
    """One push: the domain allows 3 more messages today, a second mailbox of it 1. That mailbox is
    stopped by its own cap while the domain has room; the first mailbox, without a cap of its own,
    by the domain's. Last in the file: the caps stay until its end, which removes them with the plan."""
    from webapp.models import RunStatus
    from webapp.services import warmup

    server, address, password = sender
    (capped, capped_password), = create_mailboxes(server, f"capped{secrets.token_hex(2)}").items()
    wait_for_login(server, context, capped, capped_password)
    domain = address.rpartition("@")[2]
    allowed = sent_today(server, f"domain:{domain}") + 3
    run = warmup.set_caps(scope_of_admin(), server.server_id, f"{domain} {allowed}\n{capped} 1")
    work(mail_plane["app"])
    assert run is not None and run.status == RunStatus.SUCCESSFUL, (run.failure_reason, run.recap)
    tag = secrets.token_hex(3)

    submit(server, context, capped, capped_password, f"mailbox cap {tag}")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit(server, context, capped, capped_password, f"mailbox cap {tag} over")
    assert refused.value.smtp_code == 451
    assert f"mailbox {capped} may send 1 messages per day (1 sent)".encode() in refused.value.smtp_error

    for n in range(2):
        submit(server, context, address, password, f"domain cap {tag} {n}")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit(server, context, address, password, f"domain cap {tag} over")
    assert refused.value.smtp_code == 451
    assert f"domain {domain} may send {allowed} messages per day ({allowed} sent)".encode() in (
        refused.value.smtp_error
    )
    assert delivered(server, context, capped, capped_password, f"mailbox cap {tag}")
    assert delivered(server, context, address, password, f"domain cap {tag} 1")
    assert not delivered(server, context, address, password, f"domain cap {tag} over", timeout=0)
