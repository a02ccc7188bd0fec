# ruff: noqa: E501  (shell fixtures read better unwrapped)
"""roles/backup and the backup, restore and drill playbooks on one testbed host.

bak1 backs up to an SFTP repository served by its own sshd (the role authorizes its backup key
there as on a separate store) and copies each backup to a second SFTP repository, the storage of
another region (served by the same sshd under another alias and path): one host covers the role's
SFTP paths, the key authorization, both repositories, and a second run must change nothing. The
last test loses the first repository and restores from the copy. The restore test writes known mail data, backs
up, changes and deletes some, backs up again, restores a point in time and compares checksums.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shlex
import time

import pytest
from roletest import run_playbook, write_inventory_groups

pytestmark = pytest.mark.testbed

# The role alone, as site.yml applies it (site.yml as a whole: bench/site_bench.py).
PLAY = """
- name: backup role under test
  hosts: all
  gather_facts: false
  roles:
    - role: backup
"""

# Known mail data: maildirs, DKIM key, env file, and a SQLite main.db; clamav/ must not come back.
SEED = r"""
set -e
rm -rf /mailu
mkdir -p /mailu/mail/alice@example.test/cur /mailu/mail/bob@example.test/new /mailu/dkim /mailu/data /mailu/clamav
for i in 1 2 3 4 5; do printf 'Subject: note %s\n\nbody %s\n' $i $i > /mailu/mail/alice@example.test/cur/$i.msg:2,S; done
printf 'Subject: hi bob\n\nhello\n' > /mailu/mail/bob@example.test/new/1.msg
head -c 4096 /dev/urandom > /mailu/mail/bob@example.test/new/attachment.bin
printf 'DOMAIN=example.test\nSECRET_KEY=drill\n' > /mailu/mailu.env
printf 'services: {}\n' > /mailu/docker-compose.yml
printf -- '-----BEGIN PRIVATE KEY-----\nZHJpbGw=\n-----END PRIVATE KEY-----\n' > /mailu/dkim/example.test.dkim.key
printf 'signatures' > /mailu/clamav/main.cvd
sqlite3 /mailu/data/main.db "create table user(email text primary key, quota int);
  insert into user values ('alice@example.test', 1000), ('bob@example.test', 2000);"
"""

CHANGE = r"""
set -e
printf 'Subject: note 1 edited\n\nnew body\n' > /mailu/mail/alice@example.test/cur/1.msg:2,S
rm /mailu/mail/alice@example.test/cur/2.msg:2,S /mailu/mail/bob@example.test/new/attachment.bin
mkdir -p /mailu/mail/carol@example.test/cur
printf 'Subject: welcome carol\n\n.\n' > /mailu/mail/carol@example.test/cur/1.msg:2,S
sqlite3 /mailu/data/main.db "delete from user where email = 'bob@example.test';
  insert into user values ('carol@example.test', 3000); update user set quota = 1500 where email like 'alice%';"
"""

# sha256 of every file under /mailu except clamav/ and the database, which is compared by its
# content (`.dump`): the restore puts the consistent `.backup` copy in place, equal row for row.
MANIFEST = r"""
cd /mailu && find . -path ./clamav -prune -o -type f ! -name main.db -print0 | sort -z | xargs -0 -r sha256sum
if [ -f data/main.db ]; then echo "$(sqlite3 data/main.db .dump | sha256sum | cut -d' ' -f1)  ./data/main.db(dump)"; fi
"""


def manifest(host) -> dict[str, str]:
    out = host.ssh(MANIFEST).stdout
    return {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in out.splitlines() if line.strip()}


def differences(got: dict[str, str], want: dict[str, str]) -> dict[str, list[str]]:
    return {
        "lost": sorted(set(want) - set(got)),
        "extra": sorted(set(got) - set(want)),
        "changed": sorted(k for k in set(got) & set(want) if got[k] != want[k]),
    }


@pytest.fixture(scope="module")
def secrets_env(tmp_path_factory) -> dict[str, str]:
    """A fresh local secrets store for the lookup (the same one the web app would use)."""
    directory = tmp_path_factory.mktemp("secrets")
    return {
        "MAILFLEET_SECRETS_BACKEND": "local",
        "MAILFLEET_SECRETS_FILE": str(directory / "store.enc"),
        "MAILFLEET_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }


REPOSITORY = "/srv/restic/drill"  # on bak1, served to itself over SFTP
COPY = "/srv/restic-other-region/drill"  # the second repository, on bak1 over SFTP too


@pytest.fixture(scope="module")
def drill(start_hosts, tmp_path_factory, secrets_env):
    (bak1,) = start_hosts("bak1")
    sftp = {
        "backup_tenant": "drill",
        "backup_repository_type": "sftp",
        "backup_sftp_host": bak1.address,
        "backup_sftp_inventory_host": bak1.name,
        "backup_sftp_path": REPOSITORY,
        "backup_on_calendar": "hourly",
        "backup_copy_repository_type": "sftp",
        "backup_copy_sftp_host": bak1.address,
        "backup_copy_sftp_inventory_host": bak1.name,
        "backup_copy_sftp_path": COPY,
    }
    work = tmp_path_factory.mktemp("backup")
    play = work / "play.yml"
    play.write_text(PLAY)
    inventory = write_inventory_groups(work, {"tenant_drill": ([bak1], sftp)})
    first = run_playbook(play, inventory, env=secrets_env)
    second = run_playbook(play, inventory, env=secrets_env)
    print(f"\nbackup: converge {first.seconds:.1f}s, second run {second.seconds:.1f}s")
    return {"bak1": bak1, "inventory": inventory, "env": secrets_env, "first": first, "second": second}


def test_converges_then_second_run_changes_nothing(drill):
    drill["first"].assert_ok()
    drill["second"].assert_idempotent()


def test_password_comes_from_the_secrets_store_into_a_root_only_file(drill):
    drill["first"].assert_ok()
    from mailfleet.secrets import get_store

    bak1 = drill["bak1"]
    password = get_store(drill["env"]).get("tenants/drill/restic")["password"]
    assert bak1.ssh("stat -c '%a %U' /etc/mailfleet-backup/restic.password").stdout.split() == ["600", "root"]
    same = bak1.ssh(f"printf %s {shlex.quote(password)} | cmp -s - /etc/mailfleet-backup/restic.password",
                    check=False)
    assert same.returncode == 0, "the password file differs from the store"
    units = bak1.ssh("systemctl is-enabled mailfleet-backup.timer mailfleet-backup-prune.timer "
                     "mailfleet-backup-check.timer").stdout.split()
    assert units == ["enabled"] * 3
    # Never on a command line or in a unit: only the file holds it.
    assert password not in bak1.ssh("cat /etc/mailfleet-backup/restic.env /etc/systemd/system/mailfleet-*").stdout


def test_backup_over_sftp_and_repository_check(drill):
    drill["first"].assert_ok()
    bak1 = drill["bak1"]
    bak1.ssh("mkdir -p /mailu/data && sqlite3 /mailu/data/main.db 'create table t(x); insert into t values (1);'")
    run_playbook("playbooks/backup.yml", drill["inventory"], env=drill["env"]).assert_ok()
    snapshots = json.loads(bak1.ssh("mailfleet-backup restic snapshots --json").stdout)
    assert len(snapshots) == 1 and snapshots[0]["hostname"] == "bak1"
    # The repository is where the SFTP path says, written through the authorized backup key.
    assert bak1.ssh(f"test -f {REPOSITORY}/config", check=False).returncode == 0
    assert "mailfleet-backup@bak1" in bak1.ssh("cat /root/.ssh/authorized_keys").stdout
    # The second repository holds its copy (restic notes the source snapshot as `original`),
    # written over SFTP where its path says.
    assert bak1.ssh(f"test -f {COPY}/config", check=False).returncode == 0
    copies = json.loads(bak1.ssh("mailfleet-backup copy-restic snapshots --json").stdout)
    assert [c["original"] for c in copies] == [snapshots[0]["id"]]
    bak1.ssh("systemctl start mailfleet-backup-check.service")  # restic check --read-data-subset
    assert "Result=success" in bak1.ssh("systemctl show -p Result mailfleet-backup-check.service").stdout


def test_restore_at_a_point_in_time(drill):
    drill["first"].assert_ok()
    bak1 = drill["bak1"]
    # The snapshots are the test's own: the hourly timer's backup, were the test to cross the
    # hour, would take the changes the post-restore check makes as the latest.
    bak1.ssh("systemctl stop mailfleet-backup.timer")
    try:
        _restore_at_a_point_in_time(drill)
    finally:
        bak1.ssh("systemctl start mailfleet-backup.timer")


def _restore_at_a_point_in_time(drill):
    bak1, inventory, env = drill["bak1"], drill["inventory"], drill["env"]
    bak1.ssh(SEED)
    state_a = manifest(bak1)
    assert len(state_a) == 11, state_a
    run_playbook("playbooks/backup.yml", inventory, env=env).assert_ok()

    time.sleep(1.2)
    restore_before = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    time.sleep(1.2)

    bak1.ssh(CHANGE)
    state_b = manifest(bak1)
    assert state_b != state_a
    run_playbook("playbooks/backup.yml", inventory, env=env).assert_ok()
    listed = bak1.ssh("mailfleet-backup restic ls latest").stdout
    assert "/mailu/mail/carol@example.test" in listed and "/mailu/clamav" not in listed, "clamav/ is rebuilt, never saved"

    # Point in time: exactly state A again, nothing lost, nothing extra.
    restored = run_playbook("playbooks/restore.yml", inventory, env={**env, "ANSIBLE_SHOW_CUSTOM_STATS": "1"},
                            extra_vars={"restore_before": restore_before, "restore_from_host": "bak1"})
    restored.assert_ok()
    # The snapshot it used reaches the control plane (set_stats): the restore's recovery point.
    first = json.loads(bak1.ssh("cat /var/lib/mailfleet-backup/status.json").stdout)["history"][-2]
    assert first["snapshot_id"] in restored.stdout.split("CUSTOM STATS")[1]
    diff = differences(manifest(bak1), state_a)
    print(f"\nrestore (before {restore_before} UTC): {len(state_a)} files, {diff}")
    assert diff == {"lost": [], "extra": [], "changed": []}

    # The post-restore check a recovery runs before its DNS switch: the live data is that snapshot's;
    # a file changed since, or one the snapshot does not hold, fails it with its name.
    check = {"restore_snapshot_id": first["snapshot_id"]}
    run_playbook("playbooks/restore_check.yml", inventory, env=env, extra_vars=check).assert_ok()
    bak1.ssh("printf 'Subject: note 3\n\nbody X\n' > '/mailu/mail/alice@example.test/cur/3.msg:2,S'")
    changed = run_playbook("playbooks/restore_check.yml", inventory, env=env, extra_vars=check)
    assert changed.returncode != 0 and "alice@example.test/cur/3.msg:2,S: its content differs" in changed.stdout
    bak1.ssh("touch /mailu/mail/alice@example.test/cur/stray")
    extra = run_playbook("playbooks/restore_check.yml", inventory, env=env, extra_vars=check)
    assert extra.returncode != 0 and "1 not in it (first ['/mailu/mail/alice@example.test/cur/stray'])" in extra.stdout

    # Latest, over state A: files deleted between A and B go too (rsync --delete).
    run_playbook("playbooks/restore.yml", inventory, env=env).assert_ok()
    diff = differences(manifest(bak1), state_b)
    print(f"restore (latest): {len(state_b)} files, {diff}")
    assert diff == {"lost": [], "extra": [], "changed": []}


def test_restore_refuses_bad_time_and_changes_nothing(drill):
    drill["first"].assert_ok()
    bak1 = drill["bak1"]
    before = manifest(bak1)
    # A malformed time stops at the input check (a time before every snapshot stops at the pick
    # with "no snapshot at or before ...": pick_snapshot.py; not run here to keep the tier short).
    for bad in ("2026-11-25 14:00:00; rm -rf /", "yesterday"):
        run = run_playbook("playbooks/restore.yml", drill["inventory"], env=drill["env"],
                           extra_vars={"restore_before": bad, "restore_from_host": "bak1"})
        assert run.returncode != 0, bad
        assert "restore_before must be" in run.stdout or "no snapshot at or before" in run.stdout, run.stdout[-1500:]
    assert manifest(bak1) == before


def backup_facts(drill, tmp_path) -> dict:
    """playbooks/health_facts.yml on bak1, as the control plane collects it; the checks it gives."""
    from mailfleet.monitoring import FactsThresholds, evaluate_facts

    tmp_path.mkdir()
    run_playbook("playbooks/health_facts.yml", drill["inventory"],
                 extra_vars={"health_facts_dir": str(tmp_path)}).assert_ok()
    doc = json.loads((tmp_path / "bak1.json").read_text())
    results = {r.check: r for r in evaluate_facts("bak1", doc, FactsThresholds(), dt.datetime.now(dt.UTC))}
    return {"doc": doc["backup"]["status"], "backup": results["backup"], "drill": results["backup:drill"],
            "copy": results["backup:copy"]}


def test_status_drill_and_an_unreadable_repository_reach_the_health_checks(drill, tmp_path):
    """A backup records its status on the host; the facts play carries it to the checks; a restore
    drill verifies the latest snapshot; a repository whose data is gone fails the drill (an alert)."""
    drill["first"].assert_ok()
    bak1, inventory, env = drill["bak1"], drill["inventory"], drill["env"]
    bak1.ssh("mkdir -p /mailu/mail/ann@example.test/cur && for i in 1 2 3 4; do "
             "printf 'Subject: %s\\n\\nbody\\n' $i > /mailu/mail/ann@example.test/cur/$i.msg:2,S; done")
    run_playbook("playbooks/backup.yml", inventory, env=env).assert_ok()
    run_playbook("playbooks/backup_drill.yml", inventory, env=env).assert_ok()

    got = backup_facts(drill, tmp_path / "good")
    status = got["doc"]
    assert status["backup"]["ok"] and status["forget"]["kept"] >= 1 and status["repository"]["repository_bytes"] > 0
    assert status["backup"]["snapshot_id"] == status["repository"]["snapshots"][-1]["short_id"]
    assert status["drill"]["ok"] and status["drill"]["files"] >= 4 and status["drill"]["sampled"] >= 3
    assert got["backup"].status.value == "ok" and "RPO 1 h" in got["backup"].detail, got["backup"]
    assert got["drill"].status.value == "ok", got["drill"]
    assert status["copy"]["ok"] and status["copy"]["missing"] == [], status["copy"]
    assert status["copy"]["snapshots"] == len(status["repository"]["snapshots"])
    assert got["copy"].status.value == "ok" and "second repository" in got["copy"].detail, got["copy"]
    print(f"\nrestore drill on bak1: {status['drill']}")

    bak1.ssh(f"mv {REPOSITORY}/data {REPOSITORY}/data.away")
    try:
        failed = run_playbook("playbooks/backup_drill.yml", inventory, env=env)
        assert failed.returncode != 0
        got = backup_facts(drill, tmp_path / "bad")
    finally:
        bak1.ssh(f"rm -rf {REPOSITORY}/data && mv {REPOSITORY}/data.away {REPOSITORY}/data")
    assert got["doc"]["drill"]["ok"] is False and got["doc"]["drill"]["error"]
    assert got["drill"].status.value == "error" and "restore drill failed" in got["drill"].detail
    assert bak1.ssh("test -e /var/lib/mailfleet-backup/drill", check=False).returncode != 0  # scratch removed

    # The second repository's keys gone (unreadable): the next backup's copy fails, an alert of its own.
    bak1.ssh(f"mv {COPY}/keys {COPY}/keys.away")
    try:
        run_playbook("playbooks/backup.yml", inventory, env=env)
        got = backup_facts(drill, tmp_path / "copy")
    finally:
        bak1.ssh(f"rm -rf {COPY}/keys && mv {COPY}/keys.away {COPY}/keys")
    assert got["doc"]["backup"]["ok"] and got["doc"]["copy"]["ok"] is False, got["doc"]["copy"]
    assert got["copy"].status.value == "error" and "copying to the second repository failed" in got["copy"].detail


def test_a_backup_started_during_a_check_waits_for_it(drill):
    """The timers' runs meet (a check still reading when the hourly backup starts): the backup waits
    its turn instead of failing on the repository's lock and recording a failure."""
    drill["first"].assert_ok()
    bak1 = drill["bak1"]
    bak1.ssh("systemctl start --no-block mailfleet-backup-check.service && systemctl start mailfleet-backup.service")
    bak1.ssh("while systemctl is-active -q mailfleet-backup-check.service; do sleep 1; done")
    results = bak1.ssh("systemctl show -P Result mailfleet-backup-check.service mailfleet-backup.service")
    assert results.stdout.split() == ["success", "success"], results.stdout
    status = json.loads(bak1.ssh("cat /var/lib/mailfleet-backup/status.json").stdout)
    assert status["check"]["ok"] and status["forget"]["ok"] and status["forget"]["kept"] >= 1, status


def test_restore_reads_the_copy_when_the_first_repository_is_lost(drill):
    """The first repository's region is lost: restore.yml with restore_from_copy restores the
    latest snapshot from the second repository, exactly the data that was backed up."""
    drill["first"].assert_ok()
    bak1, inventory, env = drill["bak1"], drill["inventory"], drill["env"]
    bak1.ssh("systemctl start mailfleet-backup.service")  # backup, then its copy
    backed_up = manifest(bak1)
    latest = json.loads(bak1.ssh("mailfleet-backup pick '' bak1").stdout)
    copies = json.loads(bak1.ssh("mailfleet-backup copy-restic snapshots --json").stdout)
    (its_copy,) = (c["id"] for c in copies if c.get("original") == latest["id"])
    bak1.ssh("rm /mailu/mail/alice@example.test/cur/1.msg:2,S && touch /mailu/mail/stray")
    bak1.ssh(f"mv {REPOSITORY} {REPOSITORY}.lost")
    try:
        restored = run_playbook("playbooks/restore.yml", inventory, env={**env, "ANSIBLE_SHOW_CUSTOM_STATS": "1"},
                                extra_vars={"restore_from_copy": True})
        restored.assert_ok()
    finally:
        bak1.ssh(f"rm -rf {REPOSITORY} && mv {REPOSITORY}.lost {REPOSITORY}")
    assert differences(manifest(bak1), backed_up) == {"lost": [], "extra": [], "changed": []}
    # The snapshot restored is the second repository's copy of the first one's latest.
    stats = restored.stdout.split("CUSTOM STATS")[1]
    assert its_copy in stats and latest["id"] not in stats, stats
