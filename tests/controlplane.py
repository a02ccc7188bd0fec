"""The control plane as the testbed tests run it, and tenants' servers made through it.

`running_plane` is the app on a fresh database with the testbed's site settings, the Hostwinds and
Mailu doubles up and the environment its jobs read; `provision_tenant` makes a tenant, its server
(provision.yml: the Hostwinds double boots a real testbed host) and its first domain (site.yml,
every role), each run executed by an RQ SimpleWorker calling jobs.execute.execute_run as the
worker pool does. tests/conftest.py shares one plane and its converged servers per session."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty
from sqlalchemy import select

from jobs.app import use_app
from mailfleet.redact import Redactor
from mailfleet.secrets import get_store
from testbed.demo import seed_hostwinds_key
from testbed.hosts import Host
from testbed.site_file import write_site_vars
from testbed.stack import Stack, write_monitoring_config

# What a deployment's environment sets besides MAILFLEET_* (the session's control plane sets them all).
_DEPLOYMENT_ENV = ("DATABASE_URL", "REDIS_URL", "HOSTWINDS_API_URL", "HOSTWINDS_API_KEY")


# The environments of the planes running in this process (the session's, and one a test makes).
_PLANE_ENVIRONMENTS: list[dict[str, str]] = []


def hide_plane_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test that does not use a plane: what the running planes set in this process's
    environment is not there, so an app it builds reads none of their files or doubles."""
    for env in _PLANE_ENVIRONMENTS:
        for key, value in env.items():
            if os.environ.get(key) == value:
                monkeypatch.delenv(key)


def forget_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test that builds an app of its own: none of the session control plane's settings (its
    site file, facts folder, provider, stores) reach it; the testbed instance stays."""
    for name in list(os.environ):
        deployment = name.startswith("MAILFLEET_") and name != "MAILFLEET_TESTBED_INSTANCE"
        if deployment or name in _DEPLOYMENT_ENV:
            monkeypatch.delenv(name)


ADMIN_EMAIL = "admin@mail.test"
ADMIN_PASSWORD = "a long admin password"


@dataclass
class MailServer:
    tenant: Any
    zone: str
    mail_host: str
    host: Host
    server_id: int
    domain_id: int | None  # None: provisioned only, no domain (no site.yml)
    run_ids: tuple[int, ...]  # provision.yml's run, then site.yml's


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _ThreadWorker(SimpleWorker):
    """A SimpleWorker that runs outside the main thread: a timer bounds its jobs (SIGALRM and
    signal handlers belong to the main thread)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


def work(app: Any, workers: int = 1, max_jobs: int | None = None) -> None:
    """Run every queued job as the worker pool does, with that many workers at once (threads: each
    job runs its ansible-playbook in a process of its own and mostly waits on it); one worker stops
    after `max_jobs` (a test looks between the steps of a chain)."""
    from webapp.extensions import db
    from webapp.queue import get_queue

    queue = get_queue(app)
    if workers == 1:
        worker = SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer)
        worker.work(burst=True, max_jobs=max_jobs)
    else:
        pool = [
            threading.Thread(
                target=_ThreadWorker([queue], connection=queue.connection, serializer=JSONSerializer).work,
                kwargs={"burst": True},
                daemon=True,  # a test that times out does not keep the session from ending
            )
            for _ in range(workers)
        ]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    db.session.expire_all()


def cron_job(app: Any, func_name: str) -> None:
    """rq cron's job `func_name` as jobs.cron registers it, enqueued as the scheduler enqueues it,
    then a worker on the system and run queues until both are empty (the runs it queued among them)."""
    from rq.cron import CronScheduler

    from webapp.extensions import db
    from webapp.queue import get_queue, get_system_queue

    connection = get_system_queue(app).connection
    cron = CronScheduler(connection=connection)
    cron.load_config_from_file("jobs.cron")
    [job] = [job for job in cron.get_jobs() if job.func_name == func_name]
    job.enqueue(connection)
    queues = [get_system_queue(app), get_queue(app)]
    SimpleWorker(queues, connection=connection, serializer=JSONSerializer).work(burst=True)
    db.session.expire_all()


@contextmanager
def running_plane(testbed: Any, data_dir: Path) -> Iterator[dict[str, Any]]:
    """The control plane's app on a fresh database in `data_dir` (made 0700), inside its app
    context. Yields app, store, stack, env (what its jobs read) and `caught`: every fragment the
    bridge's redactor had to cut out of a run's output (a role that prints a secret). The
    environment is undone afterwards, also when building the plane fails."""
    import fakeredis

    from webapp.testing import make_app

    patcher = pytest.MonkeyPatch()
    env: dict[str, str] = {}
    try:
        for name in ("hostwinds", "mailu"):
            testbed.start_double(name)
        data_dir.chmod(0o700)
        stack = Stack(testbed, data_dir / "stack", free_port())
        stack.data_dir.mkdir(mode=0o700)
        env = {
            **{k: v for k, v in stack.env().items() if k not in ("PATH", "PORT")},
            "HOME": str(stack.data_dir / "home"),
            "MAILFLEET_MONITORING_RESOLVER": testbed.dns.resolver,
        }
        write_monitoring_config(testbed, Path(env["MAILFLEET_MONITORING_CONFIG_FILE"]))
        for key, value in env.items():
            patcher.setenv(key, value)
        _PLANE_ENVIRONMENTS.append(env)
        caught: list[str] = []
        original_text = Redactor.text

        def recording_text(self: Redactor, value: str) -> str:
            caught.extend(f for f in self._fragments if f in value)
            return original_text(self, value)

        patcher.setattr(Redactor, "text", recording_text)
        store = get_store(env)
        seed_hostwinds_key(testbed, stack)
        write_site_vars(testbed, Path(env["MAILFLEET_SITE_VARS_FILE"]), store)
        app = make_app(
            stack.data_dir,
            SECRET_STORE=store,
            REDIS_CONNECTION=fakeredis.FakeRedis(),
            MAILFLEET_DATA_DIR=stack.data_dir,
            MAILFLEET_RUN_TIMEOUT=2400,  # a loaded CI machine: site.yml has taken over 15 minutes
            MAILFLEET_JOB_TIMEOUT=2520,
            MAILFLEET_LEASE_SECONDS=60,
        )
        use_app(app)
        with app.app_context():
            yield {"app": app, "store": store, "stack": stack, "env": env, "caught": caught}
    finally:
        use_app(None)
        patcher.undo()
        if env in _PLANE_ENVIRONMENTS:
            _PLANE_ENVIRONMENTS.remove(env)


def scope_of_admin() -> Any:
    """The plane's administrator (made on first use), as the services take it."""
    from webapp.extensions import db
    from webapp.models import Role, User
    from webapp.services import accounts
    from webapp.services.scope import Scope

    # By its address: tests that log in as ADMIN_EMAIL must find it even where another test of the
    # session made an administrator of its own first.
    admin = db.session.execute(select(User).where(User.email == ADMIN_EMAIL)).scalar_one_or_none()
    return Scope(admin or accounts.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, Role.ADMIN, None))


def provision_tenant(testbed: Any, app: Any, label: str, converge: bool = True) -> MailServer:
    """A tenant, its server (provision.yml) and, with `converge`, its first domain (site.yml), all
    as a user does. A server left half made is stopped before the failure is raised."""
    made = provision_tenants(testbed, app, (label,), converge)[label]
    if isinstance(made, BaseException):
        raise made
    return made


def provision_tenants(
    testbed: Any, app: Any, labels: Sequence[str], converge: bool = True
) -> dict[str, MailServer | BaseException]:
    """`provision_tenant` for each label, their runs side by side (one worker per label): each
    label's server, or what stopped it (its host, if any, stopped)."""
    from webapp.extensions import db
    from webapp.models import RunStatus, Server
    from webapp.services import fleet, tenants

    scope = scope_of_admin()
    outcome: dict[str, MailServer | BaseException] = {}
    steps: dict[str, dict[str, Any]] = {}

    def step(label: str, act: Callable[[dict[str, Any]], None]) -> None:
        """`act` on the label's state; a failure is its outcome, and its host is stopped."""
        state = steps[label]
        try:
            act(state)
        except BaseException as exc:
            db.session.rollback()
            if state["name"] in testbed.state.read()["hosts"]:
                testbed.stop_host(state["name"])
            outcome[label] = exc
            if not isinstance(exc, Exception | pytest.fail.Exception):
                raise

    def going() -> list[str]:
        return [label for label in labels if label not in outcome]

    def order(state: dict[str, Any]) -> None:
        testbed.add_zone(state["zone"])
        state["tenant"] = tenants.create_tenant(scope, state["slug"], f"Mail tenant {state['label']}")
        mail_host = f"mail.{state['zone']}"
        state["run"] = fleet.provision_server(scope, state["tenant"], "Seattle", "101", mail_host)

    def provisioned(state: dict[str, Any]) -> None:
        run = state["run"]
        assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
        server = db.session.execute(select(Server).where(Server.name == state["name"])).scalar_one()
        assert server.public_ipv4, "the server row has no address after provisioning"
        state["server"] = server

    def add_domain(state: dict[str, Any]) -> None:
        state["site"] = fleet.add_domain(scope, state["tenant"], state["server"].id, state["zone"])

    def converged(state: dict[str, Any]) -> None:
        site = state["site"]
        assert site.status == RunStatus.SUCCESSFUL, (site.failure_reason, site.recap)

    for label in labels:
        tag = secrets.token_hex(2)
        slug = f"{label}{tag}"
        steps[label] = {"label": label, "slug": slug, "zone": f"{slug}.test", "name": f"mf-{slug}-1"}
        step(label, order)
    work(app, workers=max(1, len(going())))
    for label in going():
        step(label, provisioned)
    if converge:
        for label in going():
            step(label, add_domain)
        work(app, workers=max(1, len(going())))
        for label in going():
            step(label, converged)
    for label in going():
        state = steps[label]
        server, zone = state["server"], state["zone"]
        domain_id = next(d.id for d in server.domains if d.name == zone) if converge else None
        runs = (state["run"].id, state["site"].id) if converge else (state["run"].id,)
        host = testbed.host(state["name"])
        outcome[label] = MailServer(state["tenant"], zone, f"mail.{zone}", host, server.id, domain_id, runs)
    return outcome
