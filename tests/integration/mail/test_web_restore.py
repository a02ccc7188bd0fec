"""A restore through the web on tenant A's converged server: a mailbox holds a message, "Back up now"
takes snapshot A, a later message arrives, a second backup takes snapshot B; the facts run carries
the snapshots to the control plane, the admin picks A's time on the restore page, the run restores
it, and IMAP shows the mailbox as it was at A: the first message there, the later one gone. The
tenant page lists the restore with A's snapshot and its RPO/RTO."""

from __future__ import annotations

import email
import html
import imaplib
import re
import secrets
import time
from email.message import EmailMessage

import pytest
from controlplane import ADMIN_EMAIL, ADMIN_PASSWORD, scope_of_admin, work
from mailtest import Imap, create_mailboxes, tls_context, wait_for_login

pytestmark = pytest.mark.testbed

# A row of the restore page's snapshot table: its time, short id, and the link that picks it.
SNAPSHOT_ROW = re.compile(
    r"<tr><td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)</td><td><code>([0-9a-f]+)</code></td>"
    r'<td><a class="pick-snapshot" href="([^"]+)"'
)


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


def test_an_admin_restores_the_snapshot_picked_on_the_restore_page(converged_servers, mail_plane, testbed,
                                                                   tmp_path):
    from webapp.testing import login

    server = converged_servers("ma")
    app, context = mail_plane["app"], tls_context(testbed)
    (address, password), = create_mailboxes(server, f"keep{secrets.token_hex(2)}").items()
    wait_for_login(server, context, address, password)
    scope_of_admin()  # the plane's administrator exists
    client = app.test_client()
    login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    slug = server.tenant.slug

    kept, later = f"kept {secrets.token_hex(3)}", f"later {secrets.token_hex(3)}"
    append(server, context, address, password, kept)
    finished(app, start(client, slug, "backup", server_id=server.server_id))
    (a_time, a_id, _), *_ = snapshots_shown(client, mail_plane, server, tmp_path / "facts")
    time.sleep(1.1)  # snapshot times have whole seconds on the page: B must not share A's second
    append(server, context, address, password, later)
    finished(app, start(client, slug, "backup", server_id=server.server_id))
    shown = snapshots_shown(client, mail_plane, server, tmp_path / "facts")
    assert shown[0][1] != a_id and a_id in [each[1] for each in shown], shown
    assert subjects(server, context, address, password) >= {kept, later}

    # The admin picks A in the list: the form comes back filled in with A's server and time.
    pick = html.unescape(next(link for _, short_id, link in shown if short_id == a_id))
    form = client.get(pick).get_data(as_text=True)
    assert re.search(rf'name="restore_before"[^>]*value="{a_time}"', form), pick
    assert re.search(rf'<option selected value="{server.server_id}">{server.host.name}</option>', form), pick
    restore = start(client, slug, "restore", server_id=server.server_id, source_server_id=server.server_id,
                    restore_before=a_time, confirm="y")
    run = finished(app, restore)
    assert run.extravars == {"restore_before": a_time, "restore_from_host": server.host.name}

    seen = subjects(server, context, address, password)
    assert kept in seen and later not in seen, seen
    restores = client.get(f"/tenants/{slug}").get_data(as_text=True).split('id="restores"', 1)[1]
    row = restores.split("</tr>", 2)[1]  # the header's row, then the newest restore's
    assert f">{restore}<" in row and f"<code>{a_id}" in row, row
    rpo = re.search(r'data-field="rpo">([^<]+)<', row).group(1)
    rto = re.search(r'data-field="rto">([^<]+)<', row).group(1)
    assert "—" not in (rpo, rto), row
    print(f"\nweb restore of {server.host.name} to snapshot {a_id} ({a_time} UTC): RPO {rpo}, RTO {rto}")
