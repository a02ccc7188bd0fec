"""The testbed parts of bench/control_plane_bench.py (root, systemd-nspawn, a testbed instance).

1. The same 30-task play against a real testbed host over SSH: bare ansible-playbook (a fresh SSH
   control directory per run, the tenant's key as a file) vs API -> real Redis -> in-process RQ
   worker -> ansible-runner -> database (the tenant's key through runner's ssh_key=).
2. N concurrent tenant provisioning runs: N tenants, each provisions a server through the
   control plane (fleet.provision_server -> playbooks/provision.yml) against the Hostwinds double,
   which boots a real testbed host per server; N `rq worker` processes (jobs.worker.Worker) drain
   the queue at once. Every run must succeed with no lost events: the stored RunEvents' counters
   must be exactly 1..max(counter) of what runner numbered, and equal the run's event_count.

Runs on MAILFLEET_TESTBED_INSTANCE (default 1); the instance is brought up if needed, the doubles'
servers and the hosts started here are removed afterwards (the instance itself is left up).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TASKS = 30


@dataclass
class Bed:
    tb: Any
    root: Path
    env: dict[str, str]
    app: Any
    queue: str


def thirty_task_play(directory: Path) -> Path:
    """site.yml (the catalogue's filename for key "site"): 30 tasks, each an SSH round to the host."""
    directory.mkdir(parents=True)
    tasks = "".join(
        f'    - name: Task {n}\n      ansible.builtin.command: "true"\n      changed_when: false\n'
        for n in range(1, TASKS + 1)
    )
    (directory / "site.yml").write_text(
        f"- name: {TASKS} tasks on the tenant's server\n  hosts: mailfleet_servers\n"
        f"  gather_facts: false\n  tasks:\n{tasks}"
    )
    return directory


def setup(root: Path, play_dir: Path) -> Bed:
    """Testbed up, Hostwinds double up with our key, a control-plane app on a fresh database."""
    from jobs.app import use_app
    from mailfleet.secrets import get_store
    from testbed import Testbed
    from testbed.demo import seed_hostwinds_key
    from testbed.site_file import write_site_vars
    from testbed.stack import Stack
    from webapp.testing import make_app

    tb = Testbed()
    tb.up()
    tb.start_double("hostwinds")
    stack = Stack(tb, root / "data")
    stack.data_dir.mkdir(parents=True, mode=0o700)
    (root / "home").mkdir(mode=0o700)
    queue = f"mf-bench-{secrets.token_hex(3)}"
    env = {**stack.env(), "HOME": str(root / "home"), "MAILFLEET_QUEUE": queue}
    os.environ.update(env)  # the in-process app, its secrets store and the bridge read these
    seed_hostwinds_key(tb, stack)
    # The deployment's site variables, as Stack.up writes them (every run's group_vars get them).
    write_site_vars(tb, Path(env["MAILFLEET_SITE_VARS_FILE"]), get_store(env))
    app = make_app(
        stack.data_dir,
        REDIS_CONNECTION=None,
        REDIS_URL=tb.redis_url,
        SECRET_STORE=None,  # the store of the environment, as the worker processes see it
        MAILFLEET_QUEUE=queue,
        MAILFLEET_PLAYBOOK_DIR=play_dir,
        MAILFLEET_LEASE_SECONDS=60,  # production's heartbeat cadence
        MAILFLEET_RUN_TIMEOUT=600,
        MAILFLEET_JOB_TIMEOUT=720,
    )
    use_app(app)
    return Bed(tb, root, env, app, queue)


def teardown(bed: Bed) -> None:
    from jobs.app import use_app
    from webapp.extensions import db
    from webapp.queue import get_queue

    with bed.app.app_context():
        get_queue(bed.app).delete(delete_jobs=True)
        db.session.remove()
        db.engine.dispose()
    use_app(None)


def _admin_scope() -> Any:
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Role, User
    from webapp.services import accounts
    from webapp.services.scope import Scope

    admin = db.session.execute(select(User).where(User.role == Role.ADMIN)).scalars().first()
    return Scope(
        admin or accounts.create_user("bench@example.com", "a long bench password", Role.ADMIN, None)
    )


# -- 1. the 30-task play on a real host ------------------------------------------------------------
def _bare_run(inventory: Path, key_file: Path, play: Path, env: dict[str, str]) -> float:
    from jobs import processes

    control_dir = Path(tempfile.mkdtemp(prefix="mfbare-"))
    try:
        started = time.perf_counter()
        subprocess.run(
            ["ansible-playbook", "-i", str(inventory), "--private-key", str(key_file), str(play)],
            check=True,
            env={**env, "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir)},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - started
    finally:
        processes.kill_run_processes(None, str(control_dir))  # its SSH master (ControlPersist)
        shutil.rmtree(control_dir, ignore_errors=True)


def _control_plane_run(bed: Bed, token: str, slug: str) -> float:
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from webapp.extensions import db
    from webapp.models import Run, RunStatus
    from webapp.queue import get_queue

    client = bed.app.test_client()
    started = time.perf_counter()
    response = client.post(
        f"/api/v1/tenants/{slug}/runs",
        json={"playbook": "site"},
        headers={"Authorization": f"Bearer {token}"},
    )
    run_id = response.get_json()["id"]
    queue = get_queue(bed.app)
    SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
    elapsed = time.perf_counter() - started
    db.session.expire_all()
    run = db.session.get(Run, run_id)
    if (
        run.status != RunStatus.SUCCESSFUL
        or run.recap is None
        or run.recap.get(f"mf-{slug}-1", {}).get("ok") != TASKS
    ):
        raise RuntimeError(f"control-plane run {run_id}: {run.status} {run.failure_reason} {run.recap}")
    return elapsed


def play_on_testbed_host(bed: Bed, repeat: int) -> tuple[list[float], list[float]]:
    """(bare seconds, control-plane seconds), runs alternating so drift hits both alike."""
    from mailfleet.secrets.paths import SSH_KEY, tenant_path
    from webapp.extensions import db
    from webapp.integrations import secret_store
    from webapp.models import Server, ServerStatus
    from webapp.services import accounts, tenants

    slug = f"b{secrets.token_hex(2)}-play"
    with bed.app.app_context():
        scope = _admin_scope()
        tenant = tenants.create_tenant(scope, slug, "Bench play")
        token = accounts.issue_api_token(scope.user)
        keys = secret_store().get(tenant_path(slug, SSH_KEY))
        name = f"mf-{slug}-1"
        (host,) = bed.tb.start_hosts([name], authorized_keys=[keys["public_key"]])
        try:
            db.session.add(
                Server(tenant_id=tenant.id, name=name, public_ipv4=host.address, status=ServerStatus.ACTIVE,
                       ssh_host_keys=bed.tb.host_keys(name))  # as provisioning pins them
            )
            db.session.commit()
            key_file = bed.root / "bare_key"
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(keys["private_key"].rstrip("\n") + "\n")
            inventory = bed.root / "bare_inventory.ini"
            inventory.write_text(
                f"[mailfleet_servers]\n{name} ansible_host={host.address} ansible_user=root\n"
            )
            env = {
                "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                "HOME": bed.env["HOME"],
                "LANG": "C.UTF-8",
                "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                "ANSIBLE_SSH_COMMON_ARGS": f"-o UserKnownHostsFile={bed.tb.known_hosts}",
            }
            play = bed.app.config["MAILFLEET_PLAYBOOK_DIR"] / "site.yml"
            bare: list[float] = []
            ours: list[float] = []
            for _ in range(repeat):
                bare.append(_bare_run(inventory, key_file, play, env))
                ours.append(_control_plane_run(bed, token, slug))
            return bare, ours
        finally:
            bed.tb.stop_host(name)


# -- 2. concurrent provisioning --------------------------------------------------------------------
@dataclass
class ProvisionFigures:
    runs: int
    successful: int
    wall_s: float
    run_s: list[float]
    events_stored: int
    events_numbered: int  # runner's counters: the highest counter of each run, summed
    lost: int  # counters runner gave out that are not stored, summed over runs
    failures: list[str]


def _workers(bed: Bed, count: int) -> list[subprocess.Popen[bytes]]:
    rq = str(Path(sys.executable).parent / "rq")
    logs = bed.root / "logs"
    logs.mkdir(exist_ok=True)
    procs = []
    for n in range(count):
        with open(logs / f"worker-{n}.log", "wb") as log:
            procs.append(
                subprocess.Popen(
                    [
                        rq,
                        "worker",
                        "--burst",
                        "--worker-class",
                        "jobs.worker.Worker",
                        "--serializer",
                        "rq.serializers.JSONSerializer",
                        "--url",
                        bed.tb.redis_url,
                        "--name",
                        f"{bed.queue}-w{n}",
                        bed.queue,
                    ],
                    env=bed.env,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return procs


def concurrent_provisioning(bed: Bed, count: int, timeout: float = 1500) -> ProvisionFigures:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.integrations import hostwinds_client
    from webapp.models import Run, RunEvent, RunStatus
    from webapp.services import fleet, tenants

    prefix = f"p{secrets.token_hex(2)}"
    with bed.app.app_context():
        scope = _admin_scope()
        run_ids = []
        names = []
        for n in range(1, count + 1):
            slug = f"{prefix}-t{n:02d}"
            tenant = tenants.create_tenant(scope, slug, f"Bench tenant {n}")
            run = fleet.provision_server(scope, tenant, "Seattle", "101", f"mail.{slug}.example.test")
            run_ids.append(run.id)
            names.append(f"mf-{slug}-1")
        started = time.perf_counter()
        workers = _workers(bed, count)
        try:
            for proc in workers:
                proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - started)))
            wall = time.perf_counter() - started
            db.session.expire_all()
            runs = list(db.session.execute(select(Run).where(Run.id.in_(run_ids))).scalars())
            stored = numbered = lost = 0
            failures = []
            for run in runs:
                counters = set(
                    db.session.execute(select(RunEvent.counter).where(RunEvent.run_id == run.id)).scalars()
                )
                rows = db.session.execute(
                    select(func.count()).select_from(RunEvent).where(RunEvent.run_id == run.id)
                ).scalar_one()
                highest = max(counters, default=0)
                missing = set(range(1, highest + 1)) - counters
                stored += rows
                numbered += highest
                lost += len(missing) + (run.event_count - rows if run.event_count > rows else 0)
                if run.status != RunStatus.SUCCESSFUL:
                    failures.append(f"run {run.id} {run.tenant.slug}: {run.status} {run.failure_reason}")
                if rows != len(counters):
                    failures.append(f"run {run.id}: {rows} events for {len(counters)} counters (duplicates)")
            return ProvisionFigures(
                runs=len(runs),
                successful=sum(1 for r in runs if r.status == RunStatus.SUCCESSFUL),
                wall_s=wall,
                run_s=[r.duration_seconds or 0.0 for r in runs],
                events_stored=stored,
                events_numbered=numbered,
                lost=lost,
                failures=failures,
            )
        finally:
            for proc in workers:
                if proc.poll() is None:
                    proc.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=30)
            _remove_servers(bed, hostwinds_client(), names)


def _remove_servers(bed: Bed, client: Any, names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(Exception):
            found = client.find_instance(name)
            if found is not None:
                client.terminate(found["serviceid"])
        with contextlib.suppress(Exception):
            bed.tb.stop_host(name)


def run_all(repeat: int, tenants: int) -> list[tuple[str, str, str, str]]:
    """Both measures on the testbed; rows (measure, figure, vs baseline, goal) for the table."""
    root = Path(tempfile.mkdtemp(prefix="mailfleet-bench-tb-"))
    saved = dict(os.environ)
    bed = setup(root, thirty_task_play(root / "play"))
    try:
        bare, ours = play_on_testbed_host(bed, repeat)
        prov = concurrent_provisioning(bed, tenants) if tenants > 0 else None
    finally:
        teardown(bed)
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(root, ignore_errors=True)
    b, o = statistics.median(bare), statistics.median(ours)
    rows = [
        (f"{TASKS}-task play on a testbed host: bare (median)", f"{b:.2f} s", "baseline", ""),
        (
            f"{TASKS}-task play on a testbed host: API->RQ->runner->DB",
            f"{o:.2f} s",
            f"{(o / b - 1) * 100:+.1f} %",
            "< +10 %",
        ),
    ]
    print(f"testbed runs: bare {[round(x, 2) for x in bare]}  control plane {[round(x, 2) for x in ours]}")
    if prov is None:
        return rows
    rows += [
        (
            f"{tenants} concurrent provisionings: succeeded",
            f"{prov.successful}/{prov.runs}",
            f"{prov.wall_s:.0f} s wall",
            f"{tenants}/{tenants}",
        ),
        (
            f"{tenants} concurrent provisionings: events lost",
            str(prov.lost),
            f"{prov.events_stored}/{prov.events_numbered}",
            "0",
        ),
    ]
    print(f"provisioning run durations (s): {sorted(round(x) for x in prov.run_s)}")
    for failure in prov.failures:
        print(f"FAILED: {failure}")
    return rows
