"""A point-in-time recovery through the web, from tenant A's converged server onto a new one.

A mailbox holds a message, "Back up now" takes snapshot A, a later message arrives, a second backup
takes snapshot B; the facts run carries the snapshots to the control plane. rq cron's drill job
finds the tenant due (a backup, no drill yet) and its drill run restores the latest snapshot on the
host and records a pass, which the next facts collection shows as a passing drill check. The admin
picks A on the restore page and follows its link to the recovery page, which orders a new server in
another location. The chain runs step by step: the provider's double boots a new testbed host, A is
restored there from the old host's repository (a local one, read over SFTP), the restored data is
checked, and only then does the domain move: after the check the DNS still names the old host, after
the domain run the new one. IMAP on the new host shows the mailbox as it was at A (the first message
there, the later one not); the old host is untouched (both messages). The tenant page lists the
recovery with A's snapshot and its RPO/RTO.

The recovery retires A's server (its domain lives on the new host, stopped at the end), so this is
the last test of the session to use "ma" (see CONVERGED_USERS in tests/scheduling.py)."""

from __future__ import annotations

import email
import html
import imaplib
import json
import re
import secrets
import time
from dataclasses import replace
from email.message import EmailMessage

import dns.message
import dns.query
import dns.rdatatype
import pytest
from controlplane import ADMIN_EMAIL, ADMIN_PASSWORD, cron_job, scope_of_admin, work
from mailtest import Imap, create_mailboxes, tls_context, wait_for_login
from sqlalchemy import select

pytestmark = pytest.mark.testbed

# A row of the restore page's snapshot table: its time, short id, and the link that picks it.
SNAPSHOT_ROW = re.compile(
    r"<tr><td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)</td><td><code>([0-9a-f]+)</code></td>"
    r'<td><a class="pick-snapshot" href="([^"]+)"'
)
NEW_LOCATION = "Dallas"  # the converged servers are in Seattle


def append(server, context, address: str, password: str, subject: str) -> None:
    """The mailbox's owner files a message into INBOX over IMAP (Dovecot writes it into the maildir)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = address, address, subject
    message["Date"] = email.utils.formatdate()
    message.set_content(f"{subject}\n")
    with Imap(server.host.address, server.mail_host, context) as imap:
        imap.login(address, password)
        status, _ = imap.append("INBOX", None, imaplib.Time2Internaldate(time.time()), message.as_bytes())
        assert status == "OK"
        imap.logout()


def subjects(server, context, address: str, password: str) -> set[str]:
    """The subjects the mailbox's owner sees in INBOX."""
    with Imap(server.host.address, server.mail_host, context) as imap:
        imap.login(address, password)
        imap.select("INBOX")
        _, found = imap.search(None, "ALL")
        seen = set()
        for number in found[0].split():
            _, data = imap.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            seen.add(email.message_from_bytes(data[0][1])["Subject"])
        imap.logout()
    return seen


def start(client, slug: str, key: str, **fields) -> int:
    """The action's confirmation page, submitted: the id of the run it queued."""
    from webapp.testing import csrf_token

    url = f"/tenants/{slug}/actions/{key}"
    token = csrf_token(client, url)
    data = {"csrf_token": token, "submission_key": f"{key}-{secrets.token_hex(4)}", **fields}
    response = client.post(url, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    return int(re.fullmatch(r"/runs/(\d+)", response.headers["Location"]).group(1))


def finished(app, run_id: int):
    from webapp.extensions import db
    from webapp.models import Run, RunStatus

    work(app)
    run = db.session.get(Run, run_id)
    assert run.status == RunStatus.SUCCESSFUL, (run.failure_reason, run.recap)
    return run


def snapshots_shown(client, mail_plane, server, facts_dir) -> list[tuple[str, str, str]]:
    """The facts run (as the scheduler submits it) and the sweep's reader of the backup status, then
    the restore page's snapshots of the server: (time, short id, link picking it), newest first."""
    from jobs.periodic import submit_per_tenant
    from webapp.services import backups

    facts_dir.mkdir(exist_ok=True)
    submit_per_tenant("health_facts", {"health_facts_dir": str(facts_dir)}, tenant_ids={server.tenant.id})
    work(mail_plane["app"])
    assert backups.record_statuses([server.host.name], facts_dir) == 1
    page = client.get(f"/tenants/{server.tenant.slug}/actions/restore?server_id={server.server_id}")
    text = page.get_data(as_text=True)
    table = text.split(f'data-server="{server.host.name}"', 1)[1].split("</table>", 1)[0]
    return SNAPSHOT_ROW.findall(table)


def a_record(testbed, name: str) -> set[str]:
    """The addresses the testbed's primary answers for `name`."""
    answer = dns.query.udp(dns.message.make_query(name, dns.rdatatype.A), testbed.dns.primary, timeout=5)
    return {item.address for rrset in answer.answer for item in rrset if rrset.rdtype == dns.rdatatype.A}


def step_until(app, scope, tenant, first_id: int, key: str):
    """The recovery's queued jobs, one at a time, until its step `key` has finished: that step's run."""
    from webapp.models import RunStatus
    from webapp.services import recovery

    for _ in range(12):  # one job per step, and the server refresh after provisioning
        steps = {step.key: step.run for step in recovery.recovery(scope, tenant, first_id).steps}
        ended = [run for run in steps.values() if run is not None and run.status.finished]
        failed = [(r.catalogue_key, r.id, r.failure_reason) for r in ended
                  if r.status != RunStatus.SUCCESSFUL]
        assert not failed, failed
        if steps[key] in ended:
            return steps[key]
        work(app, max_jobs=1)
    pytest.fail(f"the recovery's {key} step did not finish: {steps}")


def test_an_admin_recovers_the_snapshot_picked_on_the_restore_page_onto_a_new_server(
    converged_servers, mail_plane, testbed, tmp_path
):
    from mailfleet.clock import utcnow
    from mailfleet.monitoring import FactsThresholds, evaluate_facts
    from webapp.extensions import db
    from webapp.models import Run, RunStatus, Server, ServerStatus
    from webapp.testing import csrf_token, login

    server = converged_servers("ma")
    app, context = mail_plane["app"], tls_context(testbed)
    (address, password), = create_mailboxes(server, f"keep{secrets.token_hex(2)}").items()
    wait_for_login(server, context, address, password)
    scope = scope_of_admin()  # the plane's administrator exists
    client = app.test_client()
    login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    slug, old_address = server.tenant.slug, server.host.address

    kept, later = f"kept {secrets.token_hex(3)}", f"later {secrets.token_hex(3)}"
    append(server, context, address, password, kept)
    finished(app, start(client, slug, "backup", server_id=server.server_id))
    time.sleep(1.1)  # snapshot times have whole seconds on the page: B must not share A's second
    append(server, context, address, password, later)
    finished(app, start(client, slug, "backup", server_id=server.server_id))
    shown = snapshots_shown(client, mail_plane, server, tmp_path / "facts")
    assert len(shown) >= 2, shown
    (_, b_id, _), (a_time, a_id, pick) = shown[:2]  # newest first: B, then A
    assert subjects(server, context, address, password) >= {kept, later}

    # The scheduled restore drill: the tenant has a backup and no drill yet, so rq cron's drill job
    # runs one; it restores the latest snapshot (B) on the host and records a pass, which the next
    # facts collection turns into a passing backup:drill check.
    cron_job(app, "jobs.drills.enqueue_drills")
    drill = db.session.scalar(
        select(Run)
        .where(Run.catalogue_key == "backup_drill", Run.tenant_id == server.tenant.id)
        .order_by(Run.id.desc())
    )
    assert drill is not None, "rq cron's drill job submitted no drill for the tenant"
    assert drill.status == RunStatus.SUCCESSFUL, (drill.failure_reason, drill.recap)
    assert drill.created_by_id is None and server.host.name in drill.limit.split(","), drill.limit
    drilled = json.loads(server.host.ssh("cat /var/lib/mailfleet-backup/status.json").stdout)["drill"]
    assert drilled["ok"] and drilled["files"] >= 1 and drilled["snapshot_id"], drilled
    snapshots_shown(client, mail_plane, server, tmp_path / "facts")  # the facts collection, after the drill
    facts = json.loads((tmp_path / "facts" / f"{server.host.name}.json").read_text())
    checks = {r.check: r for r in evaluate_facts(server.host.name, facts, FactsThresholds(), utcnow())}
    assert checks["backup:drill"].status.value == "ok", checks["backup:drill"]

    # The admin picks A in the list, then follows the restore page's link to the recovery page: it
    # comes with A's server and time filled in.
    restore_page = client.get(html.unescape(pick)).get_data(as_text=True)
    link = restore_page.split('id="recover-link"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    link = html.unescape(link)
    form = client.get(link).get_data(as_text=True)
    assert re.search(rf'name="restore_before"[^>]*value="{a_time}"', form), link
    assert f'<option selected value="{server.server_id}">{server.host.name}</option>' in form, link
    url = f"/tenants/{slug}/recover"
    response = client.post(url, data={
        "csrf_token": csrf_token(client, url), "submission_key": f"recover-{secrets.token_hex(4)}",
        "server_id": server.server_id, "restore_before": a_time, "location": NEW_LOCATION, "plan": "101",
        "confirm": "y",
    })
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    first_id = int(re.fullmatch(r"/runs/(\d+)", response.headers["Location"]).group(1))

    new_name = None
    try:
        check = step_until(app, scope, server.tenant, first_id, "restore_check")
        new_name = check.limit
        new = db.session.scalar(select(Server).where(Server.name == new_name))
        assert new.location == NEW_LOCATION and new.public_ipv4 != old_address
        # The check passed; the domain has not moved yet: DNS still names the old host.
        assert a_record(testbed, server.mail_host) == {old_address}
        domain_run = step_until(app, scope, server.tenant, first_id, "domain")
        assert domain_run.limit == new_name and domain_run.created_at >= check.finished_at
        assert a_record(testbed, server.mail_host) == {new.public_ipv4}

        # On the new host, the mailbox as it was at A; the old host is left as it was.
        moved = replace(server, host=testbed.host(new_name))
        wait_for_login(moved, context, address, password)
        seen = subjects(moved, context, address, password)
        assert kept in seen and later not in seen, seen
        assert subjects(server, context, address, password) >= {kept, later}
        assert db.session.get(Server, server.server_id).status == ServerStatus.ERROR  # set aside

        restores = client.get(f"/tenants/{slug}").get_data(as_text=True).split('id="restores"', 1)[1]
        row = restores.split("</tr>", 2)[1]  # the header's row, then the newest restore's
        assert 'data-field="kind">recovery<' in row and f"<code>{a_id}" in row and new_name in row, row
        rpo = re.search(r'data-field="rpo">([^<]+)<', row).group(1)
        rto = re.search(r'data-field="rto">([^<]+)<', row).group(1)
        assert "—" not in (rpo, rto), row
        print(f"\nrecovery of {server.host.name} at snapshot {a_id} ({a_time} UTC; not {b_id}) onto "
              f"{new_name} in {NEW_LOCATION}: RPO {rpo}, RTO {rto}")
    finally:
        if new_name and new_name in testbed.state.read()["hosts"]:
            testbed.stop_host(new_name)
