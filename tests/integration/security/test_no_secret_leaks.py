"""After a full provisioning run through the control plane's job path, no secret of the store is
anywhere it should not be.

The path is the product's: tenant creation (its secrets generated into the store), "provision a
server" (provision.yml through the Hostwinds double, which boots a real testbed host) and "add a
domain" (site.yml, every role, limited to that server), each run executed by an RQ SimpleWorker
calling jobs.execute.execute_run exactly as the worker pool does. The server is the session's
converged tenant server (tests/conftest.py), which the mail tests share; this module runs site.yml
on the tenant once more itself. The testbed's settings come from the site variables file
(testbed/site_file.py); the Mailu API is the double.

Then every value in the store for the tenant and the global ones (SSH private key, Mailu secret
key / API token / admin password, restic password, ACME account key, Hostwinds API key, TSIG
secret) is looked for in: every column of every table (and the raw database file), every
RunEvent, the runs' private directories (must be gone), the control plane's data directory (site
file, HOME and its ~/.ssh, artifacts), the worker's log, and the testbed host's /etc, /root, /mailu,
/var/log, /tmp and its journal over SSH. The only places allowed are the files in SERVICE_FILES
(each must be 0600 root).

While the runs this module starts execute, a sampler reads the environment and command line of
every process of a run and every regular file in the runs' private directories: the store's master
key (and its file and the store file) appear in none of them; the run had credentials of its own
instead. What the bridge's redactor cut out of any run of the session is recorded by the plane.

Last, a server of its own (provisioned only) gets a new SSH host key: the next run fails with
"host key of <server> changed" and an alert, and nothing on the host is touched.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from controlplane import provision_tenant, scope_of_admin, work
from sqlalchemy import inspect, select, text

from mailfleet.redact import REDACTED
from mailfleet.secrets import HOSTWINDS_PATH, tenant_prefix
from mailfleet.secrets.generators import acme_account_key, ssh_key_pair
from mailfleet.secrets.paths import DNS_TSIG_PATH
from testbed.hosts import SSH_OPTIONS

pytestmark = pytest.mark.testbed

#: Host files a service must read on its own host, so a secret may be in them (0600 root, checked).
SERVICE_FILES: dict[str, str] = {
    "/mailu/mailu.env": "Mailu's containers read SECRET_KEY, API_TOKEN and the first admin password",
    "/etc/mailfleet-backup/restic.password": "restic reads the repository password (RESTIC_PASSWORD_FILE)",
    "/mailu/certs/key.pem": "Mailu's front serves TLS with it (the certificate key; not a store secret)",
}
#: The store itself (encrypted) and its master key: where secrets are supposed to be.
STORE_FILES = ("secrets.enc", "master.key")
HOST_DIRS = ("/etc", "/root", "/mailu", "/var/log", "/tmp")
NON_SECRET_FIELDS = {"public_key"}
MIN_NEEDLE = 16


def needles(values: dict[str, str]) -> dict[str, str]:
    """needle -> label: each value whole, and each body line of a multi-line one (a PEM body line
    found alone, e.g. JSON-escaped, is a leak too)."""
    found: dict[str, str] = {}
    for label, value in values.items():
        if "\n" not in value.strip():  # a multi-line value is looked for line by line (grep -f)
            found[value.strip()] = label
        for line in value.splitlines():
            line = line.strip()
            if len(line) >= MIN_NEEDLE and not line.startswith("-----"):
                found[line] = label
    # Lines every key of a kind shares (the OpenSSH "openssh-key-v1 none none" header, a PKCS#8
    # algorithm prefix) are format, not secret: fresh keys show which.
    fresh = [g()["private_key"] for g in (ssh_key_pair, ssh_key_pair, acme_account_key, acme_account_key)]
    shared = {line.strip() for line in fresh[0].splitlines() + fresh[2].splitlines()}
    shared &= {line.strip() for line in fresh[1].splitlines() + fresh[3].splitlines()}
    return {n: label for n, label in found.items() if len(n) >= 8 and n not in shared}


def hits(blob: str, wanted: dict[str, str]) -> set[str]:
    return {label for needle, label in wanted.items() if needle in blob}


class RunSampler:
    """Every 0.1 s: environment and command line of each process whose command line names the runs'
    directory (ansible-playbook, its workers, ssh), and each regular file under that directory."""

    def __init__(self, runs_dir: Path) -> None:
        self.marker = str(runs_dir)
        self.runs_dir = runs_dir
        self.environ: dict[int, bytes] = {}
        self.cmdlines: set[bytes] = set()
        self.files: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    cmdline = (proc / "cmdline").read_bytes()
                    if self.marker.encode() in cmdline:
                        self.cmdlines.add(cmdline)
                        self.environ[int(proc.name)] = (proc / "environ").read_bytes()
                except OSError:
                    continue
            for folder, _, names in os.walk(self.runs_dir):  # a run's folders come and go: errors skipped
                for path in (os.path.join(folder, name) for name in names):
                    try:
                        if not stat.S_ISREG(os.lstat(path).st_mode):  # never open the SSH key's FIFO
                            continue
                        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
                        with os.fdopen(fd, "rb") as handle:
                            self.files[path] = handle.read(1 << 20)
                    except OSError:
                        continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture(scope="module")
def plane(control_plane) -> Iterator[dict[str, Any]]:
    """The session's control plane, with a worker log, the runs' SSH control directories in a
    folder of this module's own, and a sampler of the runs this module starts."""
    stack = control_plane["stack"]
    patcher = pytest.MonkeyPatch()
    root = logging.getLogger()
    old_level = root.level
    log_file = stack.data_dir / "logs" / "worker.log"
    handler: logging.Handler | None = None
    sampler: RunSampler | None = None
    # The bridge's SSH control directories go here (short: a socket path must stay under 108 bytes).
    run_tmp = Path(tempfile.mkdtemp(prefix="mfleak-", dir="/tmp"))
    try:
        log_file.parent.mkdir(mode=0o700, exist_ok=True)
        handler = logging.FileHandler(log_file)
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        patcher.setattr(tempfile, "tempdir", str(run_tmp))
        sampler = RunSampler(stack.data_dir / "runs")
        yield {**control_plane, "log": log_file, "tmp": run_tmp, "sampler": sampler}
    finally:
        if sampler is not None:
            sampler.stop()
        if handler is not None:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(old_level)
        patcher.undo()
        shutil.rmtree(run_tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def provisioned(plane, converged_servers) -> dict[str, Any]:
    """A tenant's server provisioned and converged through the job path (the session's, shared
    with the mail tests), then site.yml again on every server of the tenant, sampled."""
    from webapp.models import RunStatus
    from webapp.services import runs

    server = converged_servers("mb")
    server_name = server.host.name
    # "Configure the tenant's servers": site.yml on every server of the tenant, no limit; never
    # the controller, and nothing left to change.
    started = time.monotonic()
    again = runs.submit_run(scope_of_admin(), server.tenant, "site")
    work(plane["app"])
    assert again.status == RunStatus.SUCCESSFUL, (again.failure_reason, again.recap)
    assert set(again.recap) == {server_name}, again.recap
    changed = again.recap[server_name]["changed"]
    print(f"\nsite.yml again through the control plane: changed={changed}, "
          f"{time.monotonic() - started:.1f} s")
    return {
        "tenant": server.tenant.slug,
        "zone": server.zone,
        "mail_host": server.mail_host,
        "host": server.host,
        "run_ids": [*server.run_ids, again.id],
        "changed_again": changed,
    }


@pytest.fixture(scope="module")
def secret_values(plane, provisioned) -> dict[str, str]:
    """label -> value of every secret the store holds for the tenant and globally, read after the runs
    (the restic password and ACME account key are created on first use)."""
    store = plane["store"]
    values: dict[str, str] = {}
    paths = [*store.list(tenant_prefix(provisioned["tenant"])), HOSTWINDS_PATH, DNS_TSIG_PATH]
    for path in paths:
        for field, value in store.get(path).items():
            if field not in NON_SECRET_FIELDS:
                values[f"{path}:{field}"] = value
    expected = {
        f"tenants/{provisioned['tenant']}/{name}" for name in ("ssh_key", "mailu", "restic", "acme_account")
    }
    assert expected <= {label.split(":")[0] for label in values}, sorted(values)
    return values


def test_the_roles_read_what_the_site_file_and_mapping_say(provisioned, testbed):
    """The run really used the testbed's settings: Pebble issued the certificate for the mail host
    and the TSIG-signed updates published the domain's records on the primary."""
    import dns.message
    import dns.query

    host = provisioned["host"]
    assert f"DOMAIN={provisioned['zone']}" in host.ssh("cat /mailu/mailu.env").stdout
    subject = host.ssh("openssl x509 -noout -ext subjectAltName -in /mailu/certs/cert.pem").stdout
    assert f"DNS:{provisioned['mail_host']}" in subject
    answer = dns.query.udp(dns.message.make_query(provisioned["zone"], "MX"), testbed.dns.primary, timeout=5)
    assert f"10 {provisioned['mail_host']}." in [r.to_text() for rrset in answer.answer for r in rrset]


def test_site_run_again_changes_nothing(provisioned):
    assert provisioned["changed_again"] == 0


def test_no_secret_in_the_database(plane, provisioned, secret_values):
    from webapp.extensions import db
    from webapp.models import RunEvent

    wanted = needles(secret_values)
    found: dict[str, set[str]] = {}
    with plane["app"].app_context():
        tables = inspect(db.engine).get_table_names()
        assert {"runs", "run_events", "tenants", "servers", "users"} <= set(tables)
        with db.engine.connect() as connection:
            for table in tables:
                for row in connection.execute(text(f'SELECT * FROM "{table}"')).mappings():  # noqa: S608
                    for column, value in row.items():
                        if value is None:
                            continue
                        blob = value if isinstance(value, str) else json.dumps(value, default=str)
                        if isinstance(value, bytes):
                            blob = value.decode("utf-8", "replace")
                        for label in hits(blob, wanted):
                            found.setdefault(f"{table}.{column}", set()).add(label)
        events = list(
            db.session.execute(select(RunEvent).where(RunEvent.run_id.in_(provisioned["run_ids"]))).scalars()
        )
        assert len(events) > 100
        redacted = sum(REDACTED in f"{e.stdout}{json.dumps(e.event_data, default=str)}" for e in events)
        print(f"\n{len(events)} events scanned; {redacted} carried a value the bridge's redactor replaced")
        for event in events:
            blob = f"{event.stdout}\n{json.dumps(event.event_data, default=str)}"
            for label in hits(blob, wanted):
                found.setdefault(f"run_events#{event.id}", set()).add(label)
        db.session.remove()
        db.engine.dispose()
    # The raw file too (free pages, the WAL): nothing secret was ever written to the database.
    for path in plane["stack"].data_dir.glob("mailfleet.db*"):
        raw = path.read_bytes().decode("latin-1")
        for label in hits(raw, wanted):
            found.setdefault(path.name, set()).add(label)
    assert found == {}


def test_no_secret_value_needed_the_redactor(plane, provisioned, secret_values):
    """Events are clean because nothing printed a secret, not only because the bridge cut it out."""
    wanted = needles(secret_values)
    caught = {label for fragment in plane["caught"] for label in hits(fragment, wanted)}
    assert caught == set(), "a secret value reached the run's events; only the redactor kept it out"


def test_private_dirs_gone_and_no_secret_in_controller_files(plane, provisioned, secret_values):
    data_dir = plane["stack"].data_dir
    assert list((data_dir / "runs").iterdir()) == [], "a run's private directory was left behind"
    # The runs' SSH control directories (made under this test's own temp folder) are gone too.
    assert list(plane["tmp"].iterdir()) == [], "a run's SSH control directory was left behind"
    # The tenant's SSH key went to ssh-agent only: nothing under the worker's ~/.ssh holds it.
    ssh_dir = Path(plane["env"]["HOME"]) / ".ssh"
    kept = [p for p in ssh_dir.rglob("*") if p.is_file()] if ssh_dir.exists() else []
    assert [p for p in kept if p.name != "known_hosts"] == []
    wanted = needles(secret_values)
    found: dict[str, set[str]] = {}
    scanned = 0
    for path in data_dir.rglob("*"):
        if not path.is_file() or path.name in STORE_FILES or path.name.startswith("mailfleet.db"):
            continue
        scanned += 1
        labels = hits(path.read_bytes().decode("latin-1"), wanted)
        if labels:
            found[str(path.relative_to(data_dir))] = labels
    assert scanned >= 2  # at least the site file and the worker log
    assert found == {}
    log = plane["log"].read_text()
    assert "execute_run" in log or "run " in log, "the worker log captured nothing"
    site_file = Path(plane["env"]["MAILFLEET_SITE_VARS_FILE"]).read_text()
    assert "mailfleet.fleet.secret" in site_file  # the TSIG secret is named, not written


def test_runs_never_held_the_master_key(plane, provisioned, secret_values):
    """Environment, command lines and files of the runs, sampled while they ran: no master key, no
    name of the store's own files; the run's store credentials were files of its own; no SSH
    private key in a regular file (it went through runner's FIFO)."""
    sampler, env = plane["sampler"], plane["env"]
    master_key = Path(env["MAILFLEET_MASTER_KEY_FILE"]).read_text().strip()
    forbidden = {
        "master key": master_key.encode(),
        "master key file": env["MAILFLEET_MASTER_KEY_FILE"].encode(),
        "store file": env["MAILFLEET_SECRETS_FILE"].encode(),
    }
    assert len(sampler.environ) >= 3 and sampler.files, "the sampler saw no run"
    blobs = {
        **{f"environ of {pid}": blob for pid, blob in sampler.environ.items()},
        **{f"cmdline {n}": blob for n, blob in enumerate(sampler.cmdlines)},
        **{f"file {path}": blob for path, blob in sampler.files.items()},
    }
    leaks = {where: [name for name, needle in forbidden.items() if needle in blob]
             for where, blob in blobs.items()}
    assert {where: names for where, names in leaks.items() if names} == {}
    runs_dir = str(plane["stack"].data_dir / "runs")
    playbooks = [e for e in sampler.environ.values() if b"MAILFLEET_SECRETS_FILE=" in e]
    assert playbooks, "no run process had store settings"
    for blob in playbooks:
        variables = dict(v.split(b"=", 1) for v in blob.split(b"\0") if b"=" in v)
        assert b"MAILFLEET_MASTER_KEY" not in variables
        assert variables[b"MAILFLEET_MASTER_KEY_FILE"].decode().startswith(runs_dir)
        assert variables[b"MAILFLEET_SECRETS_FILE"].decode().startswith(runs_dir)
    # Ansible renders templates and `copy: content=` into its local temp folder (inside the run's
    # 0700 private directory, removed with it) before sending them to the host: secrets may pass
    # there, and nowhere else in the run's files. The SSH private key never: only runner's FIFO.
    wanted = needles(secret_values)
    in_files = {path: hits(blob.decode("latin-1"), wanted) for path, blob in sampler.files.items()}
    ssh_key = f"tenants/{provisioned['tenant']}/ssh_key:private_key"
    stray = {
        path: labels for path, labels in in_files.items()
        if labels and ("/tmp/ansible-local-" not in path or ssh_key in labels)
    }
    assert stray == {}


def test_no_secret_on_the_host_outside_the_service_files(provisioned, secret_values):
    host = provisioned["host"]
    wanted = needles(secret_values)
    # Needles go over stdin into tmpfs outside the scanned folders and are removed at once.
    script = (
        "set -e; n=$(mktemp -p /dev/shm); trap 'rm -f $n' EXIT; cat > $n; "
        f"grep -raoF -f $n {' '.join(HOST_DIRS)} 2>/dev/null | sort -u | sed 's/^/file /' || true; "
        "journalctl --no-pager -o export 2>/dev/null | grep -aoF -f $n | sort -u"
        " | sed 's/^/journal /' || true"
    )
    result = subprocess.run(
        ["ssh", *SSH_OPTIONS, "-i", str(host.ssh_key), f"root@{host.address}", script],
        input="\n".join(wanted) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, set[str]] = {}  # host file -> labels of the secrets in it
    for line in result.stdout.splitlines():
        if line.startswith("file "):
            path, _, needle = line[5:].partition(":")
            found.setdefault(path, set()).add(wanted.get(needle, needle[:6] + "..."))
    files = set(found)
    journal = {wanted[line[8:]] for line in result.stdout.splitlines() if line.startswith("journal ")}
    assert journal == set(), "secrets in the host's journal"
    stray = {path: labels for path, labels in found.items() if path not in SERVICE_FILES}
    assert stray == {}, "secrets in files no service needs"
    # The service files hold what they should (so the scan can see secrets at all), root-only.
    assert {"/mailu/mailu.env", "/etc/mailfleet-backup/restic.password"} <= files
    modes = host.ssh("stat -c '%a %U %G %n' " + " ".join(SERVICE_FILES)).stdout.split("\n")
    assert [line for line in modes if line] == [f"600 root root {path}" for path in SERVICE_FILES]


def test_a_changed_host_key_stops_the_next_run_and_alerts(testbed, plane):
    """A server of its own (provisioned only: it gets a new host key, so nobody else may share
    it). The control plane pinned the key provision.yml read at first contact; a different one
    fails the run before any task touches the host, with the reason on the run and an alert on
    the server."""
    from webapp.extensions import db
    from webapp.models import HealthAlert, RunStatus, Server
    from webapp.services import runs

    made = provision_tenant(testbed, plane["app"], "hostkey", converge=False)
    host, server_name = made.host, made.host.name
    try:
        server = db.session.get(Server, made.server_id)
        pinned = server.ssh_host_keys
        assert pinned and "ssh-ed25519 " in pinned, "provisioning pinned no host key"
        # the pinned key is the one the host presents (read on the host itself)
        assert host.ssh("cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub").stdout.strip() in pinned
        host.ssh("rm -f /etc/ssh/ssh_host_* && ssh-keygen -A -q && systemctl restart ssh")
        host.ssh("touch /root/before-run")
        run = runs.submit_run(scope_of_admin(), made.tenant, "site")
        work(plane["app"])
        assert run.status == RunStatus.FAILED
        assert run.failure_reason.startswith(f"host key of {server_name} changed"), run.failure_reason
        alert = db.session.scalars(
            select(HealthAlert).where(HealthAlert.check == "ssh_host_key", HealthAlert.server_id == server.id)
        ).one()
        assert alert.resolved_at is None
        assert db.session.get(Server, server.id).ssh_host_keys == pinned  # never re-pinned silently
        # Nothing ran on the host: the marker left before the run is the newest file in /root.
        assert host.ssh("ls -t /root | head -1").stdout.strip() == "before-run"
    finally:
        testbed.stop_host(server_name)
