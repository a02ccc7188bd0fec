"""Recovery time of a lost server on the testbed, through the control plane's recovery: from "the
server is lost" to "DNS points at the restored server and it answers IMAP", beside its goal.

    MAILFLEET_TESTBED_INSTANCE=16 .venv/bin/python bench/rto_bench.py [--megabytes 1024]

A control plane of its own (tests/controlplane.py) with the testbed's site settings and an SFTP
backup repository on a third host of the tenant (the store: provisioned, not converged). The lost
server is provisioned and converged with its domain by the control plane (site.yml), gets a mailbox
with a message filed over IMAP and --megabytes of mail (maildir messages of 100 kB of base64), and
is backed up ("Back up now"). Then its network goes down, and the clock starts with the recovery
request: provisioning of the new server, the restore of the lost server's latest snapshot, the
restore check, the DNS switch (the domain run: site.yml on the new server, which publishes the
mail host's A record); the clock stops once the testbed's primary answers the new address for the
mail host and the mailbox logs in over IMAP there and sees its message. Prints each step's run
time and the total beside the 10-minute goal.
"""

from __future__ import annotations

import imaplib
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "integration" / "mail"))

from controlplane import running_plane, scope_of_admin, work  # noqa: E402
from mailfill import mail_testbed, write_mail  # noqa: E402
from mailtest import Imap, tls_context  # noqa: E402

GOAL_SECONDS = 600.0
ANSWER_WAIT = 300.0  # seconds DNS and IMAP get after the last run before the bench gives up


def a_record(primary: str, name: str) -> set[str]:
    query = dns.message.make_query(name, dns.rdatatype.A)
    answer = dns.query.udp(query, primary, timeout=3)
    return {item.address for rrset in answer.answer for item in rrset if rrset.rdtype == dns.rdatatype.A}


def sees(address: str, mail_host: str, context, email: str, password: str, subject: str) -> bool:
    try:
        with Imap(address, mail_host, context) as imap:
            imap.login(email, password)
            imap.select("INBOX")
            _, found = imap.search(None, "SUBJECT", f'"{subject}"')
            imap.logout()
            return bool(found[0])
    except (OSError, imaplib.IMAP4.error):
        return False


def finished(app, run_id: int):
    from webapp.extensions import db
    from webapp.models import Run, RunStatus

    work(app)
    run = db.session.get(Run, run_id)
    if run.status != RunStatus.SUCCESSFUL:
        raise SystemExit(f"run {run.id} ({run.catalogue_key}) {run.status}: {run.failure_reason} {run.recap}")
    return run


def main(argv: list[str] | None = None) -> int:
    with (
        mail_testbed(__doc__.splitlines()[0], argv) as (tb, megabytes, started_hosts),
        tempfile.TemporaryDirectory(prefix="rto-bench-") as work_dir,
    ):
        plane_dir = Path(work_dir) / "plane"
        plane_dir.mkdir()
        with running_plane(tb, plane_dir) as plane:
            return bench(tb, plane, megabytes, started_hosts)


def bench(tb, plane, megabytes: int, started_hosts: list[str]) -> int:  # noqa: PLR0915
    import secrets

    import yaml
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Server
    from webapp.services import fleet, mailboxes, recovery, runs, tenants

    app = plane["app"]
    scope = scope_of_admin()
    slug = f"rto{secrets.token_hex(2)}"
    zone = f"{slug}.test"
    mail_host = f"mail.{zone}"
    tb.add_zone(zone)
    tenant = tenants.create_tenant(scope, slug, "RTO bench")
    store_run = fleet.provision_server(scope, tenant, "Seattle", "101", f"store.{zone}")
    lost_run = fleet.provision_server(scope, tenant, "Seattle", "101", mail_host)
    work(app, workers=2)
    servers = {
        s.mail_hostname: s for s in db.session.scalars(select(Server).where(Server.tenant_id == tenant.id))
    }
    store, lost = servers[f"store.{zone}"], servers[mail_host]
    started_hosts += [store.name, lost.name]
    for run in (store_run, lost_run):
        db.session.refresh(run)
        if run.status != "successful":
            raise SystemExit(f"provisioning run {run.id} {run.status}: {runs.failure_summary(run)}")
    # The tenant's repository: SFTP on the store, which the backup role authorizes each host's key on.
    site_file = Path(plane["env"]["MAILFLEET_SITE_VARS_FILE"])
    site = yaml.safe_load(site_file.read_text())
    site.update(
        {
            "backup_repository_type": "sftp",
            "backup_sftp_host": store.public_ipv4,
            "backup_sftp_inventory_host": store.name,
        }
    )
    site_file.write_text(yaml.safe_dump(site, sort_keys=False))

    converge = time.monotonic()
    domain_run = fleet.add_domain(scope, tenant, lost.id, zone)
    finished(app, domain_run.id)
    print(f"lost server {lost.name} converged in {time.monotonic() - converge:.0f} s", flush=True)
    domain = next(d for d in lost.domains if d.name == zone)
    batch = mailboxes.create_mailboxes(scope, tenant, domain.id, ["rto"], dns_override=True)
    ((email, password),) = batch.passwords.items()
    context = tls_context(tb)
    subject = f"before the loss {secrets.token_hex(3)}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with Imap(lost.public_ipv4, mail_host, context) as imap:
                imap.login(email, password)
                imap.append(
                    "INBOX",
                    None,
                    imaplib.Time2Internaldate(time.time()),
                    f"Subject: {subject}\r\n\r\nkept\r\n".encode(),
                )
                imap.logout()
            break
        except (OSError, imaplib.IMAP4.error):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    host = tb.host(lost.name)
    written = write_mail(host, [f"/mailu/mail/{email}"], megabytes)
    backup = runs.submit_run(scope, tenant, "backup", limit=lost.name)
    backup = finished(app, backup.id)
    print(
        f"{written / 2**20:.0f} MiB of mail backed up in "
        f"{(backup.finished_at - backup.created_at).total_seconds():.0f} s",
        flush=True,
    )

    # The server is lost: its network goes down (a second later, after this ssh returned). The host
    # keeps running, so the testbed does not hand its address to the new server, as a provider
    # would not while the old instance exists.
    host.ssh("systemd-run --on-active=1 ip link set host0 down")
    time.sleep(2)
    lost_at, clock = datetime.now(UTC), time.monotonic()
    first = recovery.start_recovery(scope, tenant, lost.id, "Seattle", "101", confirmed=True)
    work(app)
    db.session.expire_all()
    chain = [step.run for step in recovery.recovery(scope, tenant, first.id).steps if step.run is not None]
    for run in chain:
        if run.status != "successful":
            raise SystemExit(
                f"recovery step {run.catalogue_key} (run {run.id}) {run.status}: {run.failure_reason}: "
                f"{runs.failure_summary(run)}"
            )
    if [r.catalogue_key for r in chain] != ["provision", "recover", "restore_check", "domain"]:
        raise SystemExit(f"the recovery ran {[r.catalogue_key for r in chain]}")
    new = db.session.scalar(select(Server).where(Server.name == chain[1].limit))
    started_hosts.append(new.name)
    runs_done = time.monotonic() - clock
    deadline = time.monotonic() + ANSWER_WAIT
    while a_record(tb.dns.primary, mail_host) != {new.public_ipv4} or not sees(
        new.public_ipv4, mail_host, context, email, password, subject
    ):
        if time.monotonic() > deadline:
            raise SystemExit(
                f"{mail_host} does not answer IMAP from {new.public_ipv4} {ANSWER_WAIT:.0f} s after the runs"
            )
        time.sleep(1)
    rto = time.monotonic() - clock

    print(
        f"rto bench (instance {tb.instance}): {written / 2**20:.0f} MiB of mail; {lost.name} lost at "
        f"{lost_at:%H:%M:%S} UTC, recovered onto {new.name}"
    )
    print(f"{'step':<16} {'run':>6} {'wall time':>10}")
    for run in chain:
        print(
            f"{run.catalogue_key:<16} {run.id:>6} {(run.finished_at - run.created_at).total_seconds():>9.1f}s"
        )
    print(f"{'runs, chained':<16} {'':>6} {runs_done:>9.1f}s")
    met = "yes" if rto < GOAL_SECONDS else "NO"
    print(f"{'RTO':<16} {'':>6} {rto:>9.1f}s  goal {GOAL_SECONDS:.0f}s  met: {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
