# ruff: noqa: E501  (shell fixtures read better unwrapped)
"""roles/backup and the backup/restore playbooks on testbed hosts.

Hosts: bak1 (the mail host) and bak2 (a new host to restore to) back up to an SFTP repository on
store1; store1 itself backs up to a local-path repository. One converge covers all three, then a
second run must change nothing. The restore drill writes known mail data, backs up, changes and
deletes some, backs up again, restores a point in time on bak2 and compares checksums.
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


@pytest.fixture(scope="module")
def drill(start_hosts, tmp_path_factory, secrets_env):
    bak1, bak2, store1 = start_hosts("bak1", "bak2", "store1")
    sftp = {
        "backup_tenant": "drill",
        "backup_repository_type": "sftp",
        "backup_sftp_host": store1.address,
        "backup_sftp_inventory_host": store1.name,
        "backup_on_calendar": "hourly",
    }
    local = {"backup_tenant": "local", "backup_repository_type": "local",
             "backup_repository_path": "/var/backups/restic"}
    work = tmp_path_factory.mktemp("backup")
    play = work / "play.yml"
    play.write_text(PLAY)
    inventory = write_inventory_groups(
        work,
        {"tenant_drill": ([bak1, bak2], sftp), "tenant_local": ([store1], local)},
    )
    first = run_playbook(play, inventory, env=secrets_env)
    second = run_playbook(play, inventory, env=secrets_env)
    print(f"\nbackup: converge {first.seconds:.1f}s, second run {second.seconds:.1f}s")
    return {"bak1": bak1, "bak2": bak2, "store1": store1, "inventory": inventory, "env": secrets_env,
            "first": first, "second": second}


def test_converges_then_second_run_changes_nothing(drill):
    drill["first"].assert_ok()
    drill["second"].assert_idempotent()


def test_password_comes_from_the_secrets_store_into_a_root_only_file(drill):
    drill["first"].assert_ok()
    from mailfleet.secrets import get_store

    store = get_store(drill["env"])
    password = store.get("tenants/drill/restic")["password"]
    for host in (drill["bak1"], drill["bak2"]):
        assert host.ssh("stat -c '%a %U' /etc/mailfleet-backup/restic.password").stdout.split() == ["600", "root"]
        same = host.ssh(f"printf %s {shlex.quote(password)} | cmp -s - /etc/mailfleet-backup/restic.password",
                        check=False)
        assert same.returncode == 0, f"{host.name}: the password file differs from the store"
        units = host.ssh("systemctl is-enabled mailfleet-backup.timer mailfleet-backup-prune.timer "
                         "mailfleet-backup-check.timer").stdout.split()
        assert units == ["enabled"] * 3
    # Never on a command line or in a unit: only the file holds it.
    assert password not in drill["bak1"].ssh("cat /etc/mailfleet-backup/restic.env /etc/systemd/system/mailfleet-*").stdout


def test_local_repository_backup_and_check(drill):
    drill["first"].assert_ok()
    store1 = drill["store1"]
    store1.ssh("mkdir -p /mailu/data && sqlite3 /mailu/data/main.db 'create table t(x); insert into t values (1);'")
    run_playbook("playbooks/backup.yml", drill["inventory"], limit="store1").assert_ok()
    snapshots = json.loads(store1.ssh("mailfleet-backup restic snapshots --json").stdout)
    assert len(snapshots) == 1 and snapshots[0]["hostname"] == "store1"
    assert store1.ssh("test -f /var/backups/restic/config", check=False).returncode == 0
    store1.ssh("systemctl start mailfleet-backup-check.service")  # restic check --read-data-subset
    assert "Result=success" in store1.ssh("systemctl show -p Result mailfleet-backup-check.service").stdout


def test_restore_drill_point_in_time_to_a_new_host(drill):
    drill["first"].assert_ok()
    bak1, bak2, inventory, env = drill["bak1"], drill["bak2"], drill["inventory"], drill["env"]
    bak1.ssh(SEED)
    state_a = manifest(bak1)
    assert len(state_a) == 11, state_a
    run_playbook("playbooks/backup.yml", inventory, limit="bak1", env=env).assert_ok()

    time.sleep(1.2)
    restore_before = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    time.sleep(1.2)

    bak1.ssh(CHANGE)
    state_b = manifest(bak1)
    assert state_b != state_a
    run_playbook("playbooks/backup.yml", inventory, limit="bak1", env=env).assert_ok()

    # Point in time, to a new host: exactly state A, nothing lost, nothing extra.
    restored = run_playbook("playbooks/restore.yml", inventory, limit="bak2",
                            env={**env, "ANSIBLE_SHOW_CUSTOM_STATS": "1"},
                            extra_vars={"restore_before": restore_before, "restore_from_host": "bak1"})
    restored.assert_ok()
    # The snapshot it used reaches the control plane (set_stats): the restore's recovery point.
    first = json.loads(bak1.ssh("cat /var/lib/mailfleet-backup/status.json").stdout)["history"][-2]
    assert first["snapshot_id"] in restored.stdout.split("CUSTOM STATS")[1]
    diff = differences(manifest(bak2), state_a)
    print(f"\nrestore drill (before {restore_before} UTC -> bak2): {len(state_a)} files, {diff}")
    assert diff == {"lost": [], "extra": [], "changed": []}
    assert bak2.ssh("test -e /mailu/clamav", check=False).returncode != 0, "clamav/ must not be restored"

    # Latest, over state A: files deleted between A and B go too (rsync --delete).
    run_playbook("playbooks/restore.yml", inventory, limit="bak2", env=env,
                 extra_vars={"restore_from_host": "bak1"}).assert_ok()
    diff = differences(manifest(bak2), state_b)
    print(f"restore drill (latest -> bak2): {len(state_b)} files, {diff}")
    assert diff == {"lost": [], "extra": [], "changed": []}


def test_restore_refuses_bad_time_and_changes_nothing(drill):
    drill["first"].assert_ok()
    bak2 = drill["bak2"]
    before = manifest(bak2)
    # A malformed time stops at the input check (a time before every snapshot stops at the pick
    # with "no snapshot at or before ...": pick_snapshot.py; not run here to keep the tier short).
    for bad in ("2026-11-25 14:00:00; rm -rf /", "yesterday"):
        run = run_playbook("playbooks/restore.yml", drill["inventory"], limit="bak2", env=drill["env"],
                           extra_vars={"restore_before": bad, "restore_from_host": "bak1"})
        assert run.returncode != 0, bad
        assert "restore_before must be" in run.stdout or "no snapshot at or before" in run.stdout, run.stdout[-1500:]
    assert manifest(bak2) == before


def backup_facts(drill, tmp_path) -> dict:
    """playbooks/health_facts.yml on store1, as the control plane collects it; the checks it gives."""
    from mailfleet.monitoring import FactsThresholds, evaluate_facts

    tmp_path.mkdir()
    run_playbook("playbooks/health_facts.yml", drill["inventory"], limit="store1",
                 extra_vars={"health_facts_dir": str(tmp_path)}).assert_ok()
    doc = json.loads((tmp_path / "store1.json").read_text())
    results = {r.check: r for r in evaluate_facts("store1", doc, FactsThresholds(), dt.datetime.now(dt.UTC))}
    return {"doc": doc["backup"]["status"], "backup": results["backup"], "drill": results["backup:drill"]}


def test_status_drill_and_an_unreadable_repository_reach_the_health_checks(drill, tmp_path):
    """A backup records its status on the host; the facts play carries it to the checks; a restore
    drill verifies the latest snapshot; a repository whose data is gone fails the drill (an alert)."""
    drill["first"].assert_ok()
    store1, inventory = drill["store1"], drill["inventory"]
    store1.ssh("mkdir -p /mailu/mail/ann@example.test/cur && for i in 1 2 3; do "
               "printf 'Subject: %s\\n\\nbody\\n' $i > /mailu/mail/ann@example.test/cur/$i.msg:2,S; done")
    run_playbook("playbooks/backup.yml", inventory, limit="store1").assert_ok()
    run_playbook("playbooks/backup_drill.yml", inventory, limit="store1").assert_ok()

    got = backup_facts(drill, tmp_path / "good")
    status = got["doc"]
    assert status["backup"]["ok"] and status["forget"]["kept"] >= 1 and status["repository"]["repository_bytes"] > 0
    assert status["backup"]["snapshot_id"] == status["repository"]["snapshots"][-1]["short_id"]
    assert status["drill"]["ok"] and status["drill"]["files"] >= 4 and status["drill"]["sampled"] >= 3
    assert got["backup"].status.value == "ok" and "RPO 1 h" in got["backup"].detail, got["backup"]
    assert got["drill"].status.value == "ok", got["drill"]
    print(f"\nrestore drill on store1: {status['drill']}")

    store1.ssh("mv /var/backups/restic/data /var/backups/restic/data.away")
    try:
        failed = run_playbook("playbooks/backup_drill.yml", inventory, limit="store1")
        assert failed.returncode != 0
        got = backup_facts(drill, tmp_path / "bad")
    finally:
        store1.ssh("rm -rf /var/backups/restic/data && mv /var/backups/restic/data.away /var/backups/restic/data")
    assert got["doc"]["drill"]["ok"] is False and got["doc"]["drill"]["error"]
    assert got["drill"].status.value == "error" and "restore drill failed" in got["drill"].detail
    assert store1.ssh("test -e /var/lib/mailfleet-backup/drill", check=False).returncode != 0  # scratch removed
