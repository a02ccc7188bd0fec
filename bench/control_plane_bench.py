"""Control-plane benchmarks, printed side by side with their baselines and goals.

    .venv/bin/python bench/control_plane_bench.py [--repeat 3] [--no-testbed] [--tenants 10]

1. The same 30-task playbook: bare ansible-playbook vs API -> RQ -> ansible-runner -> database
   (goal: overhead under 10 %). Localhost play, so the figure is the control plane's own cost;
   and per run, the time from its enqueue to Ansible's first event (Ansible's own start-up in it).
2. Event ingest into SQLite through the worker's event handler (goal: >= 2,000 events/s), by the
   clock and by the process's CPU time (what the clock figure would be on an idle machine, the
   database's disk writes aside: on a loaded machine the two part).
3. Mailbox creation from form post to rendered passwords, 1 and 10 mailboxes, against the Mailu
   double (goals: < 5 s and < 30 s).
Everything above runs on loopback with a fresh database in a temporary directory. Unless
--no-testbed, bench/control_plane_testbed.py adds (root, MAILFLEET_TESTBED_INSTANCE):
4. the same 30-task playbook against a real testbed host over SSH, bare vs through the control plane;
5. --tenants concurrent tenant provisioning runs on a pool of --workers (Hostwinds double booting
   real testbed hosts, playbooks/provision.yml) beside one provisioning alone: all succeed, no lost
   events (stored RunEvents vs runner's counters), queue wait p95, throughput
   (bench/provisioning_bench.py runs this measure alone).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rq import SimpleWorker
from rq.serializers import JSONSerializer

REPO = Path(__file__).resolve().parent.parent
PLAY_DIR = REPO / "tests" / "unit" / "jobs" / "playbooks" / "many"


def bare_playbook() -> float:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
    }
    started = time.perf_counter()
    subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            "mailfleet_tenant=bench",
            str(PLAY_DIR / "site.yml"),
        ],
        check=True,
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def through_control_plane(work: Path) -> tuple[float, float]:
    """The whole run's wall time, and the time before the play starts: from the run's row (the
    API's enqueue) to Ansible's first event (playbook_on_start, timed by Ansible; its start-up in)."""
    from sqlalchemy import select

    from jobs.app import use_app
    from webapp.extensions import db
    from webapp.models import Role, Run, RunEvent, RunStatus
    from webapp.queue import get_queue
    from webapp.services import accounts, tenants
    from webapp.services.scope import Scope
    from webapp.testing import make_app

    work.mkdir()
    app = make_app(work, MAILFLEET_PLAYBOOK_DIR=PLAY_DIR)
    use_app(app)
    with app.app_context():
        admin = accounts.create_user("bench@example.com", "a long bench password", Role.ADMIN, None)
        tenants.create_tenant(Scope(admin), "bench", "Bench")
        token = accounts.issue_api_token(admin)
        client = app.test_client()
        started = time.perf_counter()
        response = client.post(
            "/api/v1/tenants/bench/runs",
            json={"playbook": "site"},
            headers={"Authorization": f"Bearer {token}"},
        )
        run_id = response.get_json()["id"]
        queue = get_queue(app)
        SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
        elapsed = time.perf_counter() - started
        db.session.expire_all()
        run = db.session.get(Run, run_id)
        assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
        first = db.session.scalars(
            select(RunEvent.created).where(RunEvent.run_id == run_id, RunEvent.event == "playbook_on_start")
        ).one()
        to_start = (first - run.created_at).total_seconds()
        db.session.remove()
        db.engine.dispose()
    use_app(None)
    return elapsed, to_start


def event_ingest(work: Path, count: int = 20_000) -> tuple[float, float]:
    """Events per second by the clock and per second of this process's CPU time."""
    from jobs.events import EventRecorder
    from mailfleet.redact import Redactor
    from webapp.extensions import db
    from webapp.models import Role
    from webapp.services import accounts, runs, tenants
    from webapp.services.scope import Scope
    from webapp.testing import make_app

    work.mkdir()
    app = make_app(work)
    with app.app_context():
        admin = accounts.create_user("bench@example.com", "a long bench password", Role.ADMIN, None)
        scope = Scope(admin)
        run = runs.submit_run(scope, tenants.create_tenant(scope, "bench", "Bench"), "site")
        recorder = EventRecorder(run.id, Redactor(["a-secret-value-to-scan-for"]))
        events = [
            {
                "event": "runner_on_ok",
                "counter": n,
                "uuid": f"{n:032x}",
                "stdout": f"ok: [web{n % 10}] => task {n}",
                "start_line": n,
                "end_line": n + 1,
                "created": "2026-01-01T00:00:00+00:00",
                "event_data": {
                    "host": f"web{n % 10}",
                    "task": f"task {n}",
                    "play": "bench",
                    "playbook": "site.yml",
                    "res": {"changed": n % 3 == 0, "msg": "x" * 200},
                },
            }
            for n in range(1, count + 1)
        ]
        started, cpu = time.perf_counter(), time.process_time()
        for event in events:
            recorder.handle(event)
        recorder.flush()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        db.session.remove()
        db.engine.dispose()
    return count / elapsed, count / cpu


def mailbox_creation(work: Path, how_many: int) -> float:
    from mailfleet.secrets import tenant_path
    from testbed.doubles import mailu as mailu_double
    from webapp.extensions import db
    from webapp.integrations import secret_store
    from webapp.models import Domain, Role, Server, ServerStatus
    from webapp.services import accounts, tenants
    from webapp.services.scope import Scope
    from webapp.testing import TEST_PASSWORD, ServedApp, csrf_token, login, make_app

    work.mkdir()
    state = mailu_double.MailuDoubleState()
    served = ServedApp(mailu_double.create_app(state))
    app = make_app(work, MAILFLEET_MAILU_URL=served.url + "/{host}/api/v1")
    try:
        with app.app_context():
            admin = accounts.create_user("bench@example.com", TEST_PASSWORD, Role.ADMIN, None)
            tenant = tenants.create_tenant(Scope(admin), "bench", "Bench")
            token = secret_store().get_field(tenant_path("bench", "mailu"), "api_token")
            state.register("mf-bench-1", {"api_token": token, "domain": "bench.example"}).new_domain(
                "bench.example"
            )
            server = Server(
                tenant_id=tenant.id, name="mf-bench-1", public_ipv4="198.18.0.10", status=ServerStatus.ACTIVE
            )
            db.session.add(server)
            db.session.flush()
            domain = Domain(tenant_id=tenant.id, server_id=server.id, name="bench.example")
            db.session.add(domain)
            db.session.commit()
            client = app.test_client()
            login(client, "bench@example.com", TEST_PASSWORD)
            csrf = csrf_token(client, "/tenants/bench")
            started = time.perf_counter()
            response = client.post(
                "/tenants/bench/mailboxes",
                data={
                    "csrf_token": csrf,
                    "domain_id": domain.id,
                    "local_parts": "\n".join(f"user{n}" for n in range(how_many)),
                    # The bench domain is never published: the admin's override skips the DNS gate.
                    "dns_override": "y",
                },
            )
            elapsed = time.perf_counter() - started
            assert response.status_code == 200 and response.get_data(as_text=True).count("<code>") == how_many
            db.session.remove()
            db.engine.dispose()
    finally:
        served.stop()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-testbed", action="store_true", help="skip the testbed measures (4, 5)")
    parser.add_argument("--tenants", type=int, default=10, help="concurrent provisioning runs (0: skip)")
    parser.add_argument("--workers", type=int, default=8, help="the worker pool's workers for them")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mailfleet-bench-"))
    try:
        bare = [bare_playbook() for _ in range(args.repeat)]
        measured = [through_control_plane(root / f"cp{i}") for i in range(args.repeat)]
        ours, to_start = [m[0] for m in measured], [m[1] for m in measured]
        ingest, ingest_cpu = event_ingest(root / "ingest")
        one = mailbox_creation(root / "mb1", 1)
        ten = mailbox_creation(root / "mb10", 10)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    b, o = statistics.median(bare), statistics.median(ours)
    overhead = (o / b - 1) * 100
    start = statistics.median(to_start)
    rows = [
        ("30-task play: bare ansible-playbook (median)", f"{b:.2f} s", "baseline", ""),
        ("30-task play: API -> RQ -> runner -> DB (median)", f"{o:.2f} s", f"{overhead:+.1f} %", "< +10 %"),
        ("enqueued -> playbook_on_start (Ansible start-up in)", f"{start:.2f} s", "", ""),
        ("event ingest into SQLite", f"{ingest:,.0f} ev/s", "", ">= 2,000 ev/s"),
        ("event ingest into SQLite, per second of CPU time", f"{ingest_cpu:,.0f} ev/s", "", ""),
        ("1 mailbox, post -> passwords shown", f"{one:.2f} s", "", "< 5 s"),
        ("10 mailboxes, post -> passwords shown", f"{ten:.2f} s", "", "< 30 s"),
    ]
    if not args.no_testbed:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from control_plane_testbed import run_all

        rows += run_all(args.repeat, args.tenants, args.workers)
    print(f"{'measure':56} {'figure':>14} {'vs baseline':>14} {'goal':>15}")
    for name, figure, delta, goal in rows:
        print(f"{name:56} {figure:>14} {delta:>14} {goal:>15}")
    print(f"runs: bare {[round(x, 2) for x in bare]}  control plane {[round(x, 2) for x in ours]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
