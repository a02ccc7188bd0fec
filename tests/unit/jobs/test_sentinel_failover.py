"""Redis Sentinel failover during queued work: a real primary, a replica and Debian's
redis-sentinel on loopback ports, real rq workers and the web app connected through the sentinel.
The primary is killed while runs wait; the sentinel promotes the replica; the workers and the app
follow it, and every run ends successful exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from jobs.reaper import reconcile_queue
from mailfleet.clock import utcnow
from testbed.daemons import Recorded, start, stop
from webapp.extensions import db
from webapp.models import Run, RunEvent, RunStatus
from webapp.queue import redis_connection
from webapp.services import runs, tenants
from webapp.testing import secret_store_env

pytestmark = pytest.mark.unit

PASSWORD = "sentinel-test-password"
MASTER = "mailfleet-test"
RUNS = 6
PLAYBOOKS = Path(__file__).parent / "playbooks" / "fast"
STALL = 150


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    """Poll until `predicate` is true; the bound only keeps a broken build from hanging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = predicate()
            if value:
                return value
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def ports() -> dict[str, int]:
    return {"primary": free_port(), "replica": free_port(), "sentinel": free_port()}


@pytest.fixture
def redis_pair(tmp_path, ports, start_redis) -> Iterator[dict[str, int]]:
    """The primary and its replica, both asking for the password."""
    auth = ["--requirepass", PASSWORD, "--masterauth", PASSWORD, "--bind", "127.0.0.1"]
    (tmp_path / "primary").mkdir()
    (tmp_path / "replica").mkdir()
    with start_redis(tmp_path / "primary", "--port", str(ports["primary"]), *auth), start_redis(
        tmp_path / "replica",
        "--port",
        str(ports["replica"]),
        "--replicaof",
        "127.0.0.1",
        str(ports["primary"]),
        *auth,
    ):
        replica = Redis(port=ports["replica"], password=PASSWORD)
        wait_for(lambda: replica.info("replication")["master_link_status"] == "up", 30, "replication")
        yield ports


@pytest.fixture
def sentinel(tmp_path, ports, redis_pair) -> Iterator[Redis]:
    directory = tmp_path / "sentinel"
    directory.mkdir()
    conf = directory / "sentinel.conf"
    conf.write_text(
        f"port {ports['sentinel']}\nbind 127.0.0.1\ndir {directory}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {ports['primary']} 1\n"
        f"sentinel auth-pass {MASTER} {PASSWORD}\n"
        f"sentinel down-after-milliseconds {MASTER} 3000\n"
        f"sentinel failover-timeout {MASTER} 10000\n"
    )
    process = subprocess.Popen(["/usr/bin/redis-sentinel", str(conf)], stdout=subprocess.DEVNULL)
    client = Redis(port=ports["sentinel"])
    try:
        wait_for(lambda: client.sentinel_slaves(MASTER), 30, "the sentinel to see the replica")
        yield client
    finally:
        process.terminate()
        process.wait()


@pytest.fixture
def app_overrides(ports, sentinel) -> dict[str, object]:
    # The app's metrics read Redis when the app is made: the sentinel must be up by then.
    return {
        "REDIS_CONNECTION": None,
        "REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:{ports['primary']}/0",
        "MAILFLEET_REDIS_SENTINELS": [("127.0.0.1", ports["sentinel"])],
        "MAILFLEET_REDIS_SENTINEL_MASTER": MASTER,
        "MAILFLEET_LEASE_SECONDS": 60,
    }


@pytest.fixture
def workers(app, tmp_path, sentinel, ports) -> Iterator[Recorded]:
    """`rq worker-pool` as the Procfile starts it, reading its Redis through the sentinel."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "MAILFLEET_DATA_DIR": str(tmp_path),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "MAILFLEET_REDIS_SENTINELS": f"127.0.0.1:{ports['sentinel']}",
        "MAILFLEET_REDIS_SENTINEL_MASTER": MASTER,
        "MAILFLEET_PLAYBOOK_DIR": str(PLAYBOOKS),
        "MAILFLEET_QUEUE": app.config["MAILFLEET_QUEUE"],
        **secret_store_env(tmp_path),
    }
    rq = Path(sys.executable).parent / "rq"
    command = [str(rq), "worker-pool", "--num-workers", "2", "-c", "jobs.rqconfig"]
    command += ["-w", "jobs.worker.Worker", "-S", "rq.serializers.JSONSerializer"]
    command.append(app.config["MAILFLEET_QUEUE"])
    pool = start(command, log=tmp_path / "workers.log", env=env)
    yield pool
    # Idle by now, or the test failed: either way nothing of theirs is worth a warm shutdown.
    stop(pool, timeout=2)


def statuses(ids: list[int]) -> list[RunStatus]:
    db.session.rollback()
    return list(db.session.scalars(select(Run.status).where(Run.id.in_(ids)).order_by(Run.id)))


def settle(ids: list[int], enough, what: str, nudge=lambda: None) -> list[RunStatus]:
    """Poll the runs until `enough(statuses)`. A failed run fails the test at once; otherwise the
    wait lasts as long as the runs move: it gives up after STALL seconds without any change (a
    job lost with a worker is failed by RQ once its heartbeat lapses, within 90 s)."""
    seen, changed = None, time.monotonic()
    while True:
        nudge()
        now = statuses(ids)
        if RunStatus.FAILED in now:
            reasons = db.session.scalars(select(Run.failure_reason).where(Run.id.in_(ids)))
            raise AssertionError(f"a run failed while waiting for {what}: {[r for r in reasons if r]}")
        if enough(now):
            return now
        if now != seen:
            seen, changed = now, time.monotonic()
        elif time.monotonic() - changed > STALL:
            raise AssertionError(f"no run moved for {STALL} s waiting for {what}: {now}")
        time.sleep(0.5)


def test_a_primary_killed_during_queued_work_loses_no_run_and_runs_none_twice(
    app, scope, sentinel, ports, workers, tmp_path
):
    ids = [runs.submit_run(scope, tenants.create_tenant(scope, f"fo{i}", f"Failover {i}"), "site").id
           for i in range(RUNS)]
    first = settle(ids, lambda now: RunStatus.SUCCESSFUL in now, "a first run to finish")
    assert RunStatus.QUEUED in first or RunStatus.RUNNING in first, "work still waiting"

    primary = Redis(port=ports["primary"], password=PASSWORD)
    os.kill(primary.info("server")["process_id"], signal.SIGKILL)

    def promoted() -> bool:
        return sentinel.sentinel_get_master_addr_by_name(MASTER)[1] == ports["replica"]

    wait_for(promoted, 120, "the sentinel to promote the replica")

    def reconcile() -> None:
        # What the primary had not passed on is enqueued again from the database (the reaper's job,
        # which, like this, tries again at its next turn when the database is busy or Redis away).
        try:
            db.session.execute(update(Run).values(created_at=utcnow() - timedelta(minutes=5)))
            db.session.commit()
        except OperationalError:  # SQLite busy past its timeout (seen once on a loaded machine)
            db.session.rollback()
            return
        with contextlib.suppress(RedisError):  # the app's connection may still be on its way over
            reconcile_queue()

    every = settle(ids, lambda now: set(now) == {RunStatus.SUCCESSFUL}, "every run to succeed", reconcile)
    assert every == [RunStatus.SUCCESSFUL] * RUNS, tmp_path / "workers.log"
    # The app follows the new primary too.
    assert redis_connection(app).connection_pool.get_master_address() == ("127.0.0.1", ports["replica"])
    # Each run played once: one playbook start each.
    starts = dict(
        db.session.execute(
            select(RunEvent.run_id, func.count())
            .where(RunEvent.run_id.in_(ids), RunEvent.event == "playbook_on_start")
            .group_by(RunEvent.run_id)
        ).all()
    )
    assert starts == dict.fromkeys(ids, 1)
