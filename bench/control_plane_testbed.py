"""The testbed parts of bench/control_plane_bench.py (root, systemd-nspawn, a testbed instance).

1. The same 30-task play against a real testbed host over SSH (goal: within 5 %): bare
   ansible-playbook (a fresh SSH control directory per run, the tenant's key as a file) vs API ->
   real Redis -> in-process RQ worker -> ansible-runner -> database (the tenant's key through
   runner's ssh_key=).
2. N concurrent tenant provisioning runs beside one provisioning alone: N tenants each order a
   server through the control plane (fleet.provision_server -> playbooks/provision.yml) against the
   Hostwinds double, which boots a real testbed host per server; one `rq worker-pool` (the
   Procfile's worker) drains the queue, each machine taking runs up to its fork budget
   (jobs.capacity). Every run must succeed with no lost events: the stored RunEvents' counters must
   be exactly 1..max(counter) of what runner numbered, and equal the run's event_count. Printed:
   queue wait and run time p50/p95, throughput against one at a time, the peak runs in flight.

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


def setup(root: Path, play_dir: Path | None = None) -> Bed:
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
        MAILFLEET_PLAYBOOK_DIR=play_dir or REPO / "playbooks",
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
                Server(
                    tenant_id=tenant.id,
                    name=name,
                    public_ipv4=host.address,
                    status=ServerStatus.ACTIVE,
                    ssh_host_keys=bed.tb.host_keys(name),
                )  # as provisioning pins them
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
    queue_wait_s: list[float]  # enqueued (the run's row) -> claimed by a worker (RUNNING)
    peak_in_flight: int
    events_stored: int
    events_numbered: int  # runner's counters: the highest counter of each run, summed
    lost: int  # counters runner gave out that are not stored, summed over runs
    failures: list[str]


def _worker_pool(bed: Bed, workers: int) -> subprocess.Popen[bytes]:
    """The production shape (the Procfile's `worker`): one `rq worker-pool` of ``workers`` workers,
    up and registered before anything is enqueued so a run's queue wait is the fleet's own."""
    from rq import Worker

    from webapp.queue import get_queue

    logs = bed.root / "logs"
    logs.mkdir(exist_ok=True)
    with open(logs / "worker-pool.log", "ab") as log:
        pool = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "rq"),
                "worker-pool",
                "--num-workers",
                str(workers),
                "--worker-class",
                "jobs.worker.Worker",
                "--serializer",
                "rq.serializers.JSONSerializer",
                "--url",
                bed.tb.redis_url,
                bed.queue,
            ],
            env=bed.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    queue = get_queue(bed.app)
    deadline = time.monotonic() + 120
    while len(Worker.all(queue=queue)) < workers:
        if pool.poll() is not None or time.monotonic() > deadline:
            pool.kill()
            raise RuntimeError(f"worker pool did not start; see {logs / 'worker-pool.log'}")
        time.sleep(0.5)
    return pool


def _stop(pool: subprocess.Popen[bytes]) -> None:
    if pool.poll() is None:
        pool.terminate()  # a warm shutdown: the pool stops its idle workers
        try:
            pool.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pool.kill()
            pool.wait()


def _wait_finished(run_ids: list[int], timeout: float) -> None:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import Run
    from webapp.models.runs import FINISHED_STATUSES

    deadline = time.monotonic() + timeout
    while True:
        db.session.expire_all()
        done = db.session.execute(
            select(func.count())
            .select_from(Run)
            .where(Run.id.in_(run_ids), Run.status.in_(FINISHED_STATUSES))
        ).scalar_one()
        db.session.rollback()  # a fresh snapshot on the next look
        if done == len(run_ids) or time.monotonic() > deadline:
            return
        time.sleep(2)


def _peak_in_flight(spans: list[tuple[Any, Any]]) -> int:
    """The most runs RUNNING at one moment, from their (started_at, finished_at)."""
    edges = sorted([(s, 1) for s, _ in spans] + [(f, -1) for _, f in spans], key=lambda e: (e[0], e[1]))
    peak = now = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def _figures(run_ids: list[int], wall: float) -> ProvisionFigures:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import Run, RunEvent, RunStatus
    from webapp.services import runs as runs_service

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
            failures.append(f"{run.tenant.slug}: {runs_service.failure_summary(run)}")
        if rows != len(counters):
            failures.append(f"run {run.id}: {rows} events for {len(counters)} counters (duplicates)")
    started = [r for r in runs if r.started_at is not None]
    return ProvisionFigures(
        runs=len(runs),
        successful=sum(1 for r in runs if r.status == RunStatus.SUCCESSFUL),
        wall_s=wall,
        run_s=[r.duration_seconds or 0.0 for r in started],
        queue_wait_s=[(r.started_at - r.created_at).total_seconds() for r in started],
        peak_in_flight=_peak_in_flight([(r.started_at, r.finished_at) for r in started if r.finished_at]),
        events_stored=stored,
        events_numbered=numbered,
        lost=lost,
        failures=failures,
    )


def _provision(bed: Bed, prefix: str, count: int, timeout: float) -> tuple[ProvisionFigures, list[str]]:
    """``count`` new tenants order a server each at once; the figures once every run has finished."""
    from webapp.services import fleet, tenants

    scope = _admin_scope()
    run_ids, names = [], []
    started = time.perf_counter()
    for n in range(1, count + 1):
        slug = f"{prefix}-t{n:02d}"
        tenant = tenants.create_tenant(scope, slug, f"Bench tenant {n}")
        run = fleet.provision_server(scope, tenant, "Seattle", "101", f"mail.{slug}.example.test")
        run_ids.append(run.id)
        names.append(f"mf-{slug}-1")
    _wait_finished(run_ids, timeout)
    return _figures(run_ids, time.perf_counter() - started), names


def concurrent_provisioning(
    bed: Bed, count: int, workers: int, timeout: float = 3600
) -> tuple[ProvisionFigures, ProvisionFigures]:
    """(baseline, load): one provisioning alone on the idle worker pool, then ``count`` at once on
    the same pool, each through the API's service -> Redis -> workers -> playbooks/provision.yml ->
    the Hostwinds double booting a real testbed host -> the database."""
    from testbed import rootfs
    from webapp.integrations import hostwinds_client

    rootfs.ensure_root()  # built once per machine, on first use: not part of any run's time
    prefix = f"p{secrets.token_hex(2)}"
    names: list[str] = []
    with bed.app.app_context():
        pool = _worker_pool(bed, workers)
        try:
            alone, batch = _provision(bed, f"{prefix}a", 1, timeout)
            names += batch
            load, batch = _provision(bed, prefix, count, timeout)
            names += batch
            return alone, load
        finally:
            _stop(pool)
            _remove_servers(bed, hostwinds_client(), names)


def provisioning_rows(
    alone: ProvisionFigures, load: ProvisionFigures, workers: int
) -> list[tuple[str, str, str, str]]:
    """Rows (measure, figure, vs baseline, goal): the load beside one provisioning alone."""
    from webapp.services.capacity import percentile

    solo = alone.run_s[0] if alone.run_s else float("nan")
    n = load.runs
    throughput = n / load.wall_s * 60
    rows = [
        ("1 provisioning alone: run time (baseline)", f"{solo:.1f} s", "baseline", ""),
        (
            "1 provisioning alone: queue wait",
            f"{alone.queue_wait_s[0]:.1f} s" if alone.queue_wait_s else "-",
            "",
            "",
        ),
        (f"{n} provisionings, {workers} workers: succeeded", f"{load.successful}/{n}", "", f"{n}/{n}"),
        (
            f"{n} provisionings: events lost",
            str(load.lost),
            f"{load.events_stored}/{load.events_numbered} stored",
            "0",
        ),
        (
            f"{n} provisionings: wall, first order -> last finish",
            f"{load.wall_s:.0f} s",
            f"{load.wall_s / solo:.1f}x one",
            "",
        ),
        (
            f"{n} provisionings: throughput",
            f"{throughput:.2f} /min",
            f"{throughput * solo / 60:.2f}x serial",
            "",
        ),
        (f"{n} provisionings: runs in flight at peak", str(load.peak_in_flight), f"of {workers} workers", ""),
    ]
    if load.queue_wait_s:
        rows += [
            (f"{n} provisionings: queue wait p50", f"{percentile(load.queue_wait_s, 50):.1f} s", "", ""),
            (f"{n} provisionings: queue wait p95", f"{percentile(load.queue_wait_s, 95):.1f} s", "", ""),
            (
                f"{n} provisionings: run time p50",
                f"{percentile(load.run_s, 50):.1f} s",
                f"{percentile(load.run_s, 50) / solo:.2f}x alone",
                "",
            ),
            (
                f"{n} provisionings: run time p95",
                f"{percentile(load.run_s, 95):.1f} s",
                f"{percentile(load.run_s, 95) / solo:.2f}x alone",
                "",
            ),
        ]
    return rows


def _remove_servers(bed: Bed, client: Any, names: list[str]) -> None:
    for name in names:
        with contextlib.suppress(Exception):
            found = client.find_instance(name)
            if found is not None:
                client.terminate(found["serviceid"])
        with contextlib.suppress(Exception):
            bed.tb.stop_host(name)


def run_all(repeat: int, tenants: int, workers: int) -> list[tuple[str, str, str, str]]:
    """Both measures on the testbed; rows (measure, figure, vs baseline, goal) for the table."""
    root = Path(tempfile.mkdtemp(prefix="mailfleet-bench-tb-"))
    saved = dict(os.environ)
    bed = setup(root, thirty_task_play(root / "play"))
    try:
        bare, ours = play_on_testbed_host(bed, repeat)
        prov = concurrent_provisioning(bed, tenants, workers) if tenants > 0 else None
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
            "< +5 %",
        ),
    ]
    print(f"testbed runs: bare {[round(x, 2) for x in bare]}  control plane {[round(x, 2) for x in ours]}")
    if prov is None:
        return rows
    report_failures(prov[1])
    return rows + provisioning_rows(*prov, workers)


def report_failures(load: ProvisionFigures) -> None:
    print(f"provisioning run durations (s): {sorted(round(x) for x in load.run_s)}")
    print(f"provisioning queue waits (s): {sorted(round(x) for x in load.queue_wait_s)}")
    for failure in load.failures:
        print(f"FAILED: {failure}")
