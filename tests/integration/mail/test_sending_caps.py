"""Sending caps enforced by the server's Postfix on a testbed host: the mailu role's policy service,
installed through Mailu's Postfix override, which the host's mail stack loads. A mailbox that sends
above its server's warm-up cap gets a 451 at the end of the message and keeps it (nothing is
queued or delivered); once the plan's next day raises the cap, the same message goes through. Each
receiver group has its own cap, asked per recipient: a recipient on tenant B's server (the group of
the rest) above it is answered 451 on its own, the server's own domain is not paced. A
policy service that is down defers mail too (451 for each recipient), and the facts run reports it
(the `sendcap` check) along with the day's message counts from Postfix's log."""

from __future__ import annotations

import secrets
import smtplib
import time
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
    from webapp.services import warmup

    server = converged_servers("ma")  # tenant B's server is not needed here
    (address, password), = create_mailboxes(server, f"warm{secrets.token_hex(2)}").items()
    wait_for_login(server, context, address, password)
    yield server, address, password
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


def test_policy_service_down_defers_instead_of_sending_uncapped(sender, context):
    server, address, password = sender
    server.host.ssh("systemctl stop mailu-sendcap")
    try:
        # Postfix asks the service first for the recipient: the default action answers it.
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            submit(server, context, address, password, "while the policy service is down")
        [(code, reply)] = refused.value.recipients.values()
        assert code == 451 and b"Sending caps unavailable" in reply
    finally:
        server.host.ssh("systemctl start mailu-sendcap")
    submit(server, context, address, password, "after the policy service is back")


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
    from mailfleet.monitoring import Status

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
