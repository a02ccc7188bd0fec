"""Backup and recovery times on testbed hosts: the snapshot of a 1 GB change set, and the recovery
time of a host holding 1 GB of mail restored onto a new host.

    MAILFLEET_TESTBED_INSTANCE=11 .venv/bin/python bench/backup_bench.py [--megabytes 1024]

Three hosts: bkstore serves the SFTP repository, bksrc is the mail host (the backup role, then
--megabytes of mail as maildir messages of 100 kB of base64, as attachments are stored), bknew a
fresh host. "snapshot" is playbooks/backup.yml after the mail was written (the whole change set
goes into one snapshot); "restore" is playbooks/restore.yml on bknew from bksrc's latest snapshot,
which installs restic and the repository access there first: the recovery time of the data, not
counting the provider's boot or site.yml's converge (bench/site_bench.py measures that).
Prints each figure beside its goal.
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration" / "roles"))

from mailfill import mail_testbed, write_mail  # noqa: E402
from roletest import run_playbook, write_inventory_groups  # noqa: E402

GOALS = {"snapshot": 600.0, "restore": 600.0}
PLAY = """
- name: backup role
  hosts: tenant_bench
  gather_facts: false
  roles:
    - role: backup
"""


def main(argv: list[str] | None = None) -> int:
    with mail_testbed(__doc__.splitlines()[0], argv) as (tb, megabytes, started_hosts):
        started_hosts += ["bkstore", "bksrc", "bknew"]
        store, src, new = tb.start_hosts(started_hosts)
        with tempfile.TemporaryDirectory(prefix="backup-bench-") as work:
            env = {
                "MAILFLEET_SECRETS_BACKEND": "local",
                "MAILFLEET_SECRETS_FILE": str(Path(work) / "store.enc"),
                "MAILFLEET_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "ANSIBLE_SSH_COMMON_ARGS": f"-o UserKnownHostsFile={tb.known_hosts}",
            }
            tenant = {
                "backup_tenant": "bench",
                "backup_repository_type": "sftp",
                "backup_sftp_host": store.address,
                "backup_sftp_inventory_host": store.name,
            }
            inventory = write_inventory_groups(
                Path(work), {"tenant_bench": ([src, new], tenant), "stores": ([store], {})}
            )
            play = Path(work) / "play.yml"
            play.write_text(PLAY)
            run_playbook(play, inventory, limit="bksrc", env=env, timeout=1800).assert_ok()
            maildirs = [f"/mailu/mail/user{box}@bench.test" for box in range(10)]
            written = write_mail(src, maildirs, megabytes)
            snapshot = run_playbook("playbooks/backup.yml", inventory, limit="bksrc", env=env, timeout=3600)
            snapshot.assert_ok()
            restore = run_playbook("playbooks/restore.yml", inventory, limit="bknew", env=env, timeout=3600,
                                   extra_vars={"restore_from_host": "bksrc"})
            restore.assert_ok()
            restored = int(new.ssh("du -sb /mailu/mail | cut -f1").stdout.split()[-1])
            files = [h.ssh("find /mailu/mail -type f | wc -l").stdout.strip() for h in (src, new)]

    print(f"backup bench (instance {tb.instance}): {written / 2**20:.0f} MiB of mail in {files[0]} messages; "
          f"restored {restored / 2**20:.0f} MiB in {files[1]} messages")
    print(f"{'figure':<10} {'wall time':>10} {'goal':>8}  met")
    for label, run in (("snapshot", snapshot), ("restore", restore)):
        met = "yes" if run.seconds < GOALS[label] else "NO"
        print(f"{label:<10} {run.seconds:>9.1f}s {GOALS[label]:>7.0f}s  {met}")
    return 0 if files[0] == files[1] else 1


if __name__ == "__main__":
    sys.exit(main())
