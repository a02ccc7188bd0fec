"""Admission against a real redis-server: one run per server whatever the playbook, runs on other
servers in parallel, the tenant's and the fleet's limits, and holds that expire with their lease."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from jobs import admission, capacity, locks, reaper
from jobs.heartbeat import Heartbeat
from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import Run, RunLock, RunStatus, Server, ServerStatus
from webapp.services import runs

pytestmark = pytest.mark.unit


@pytest.fixture
def limits() -> dict[str, int]:
    # A lease no busy test machine outlives: holds taken by claim() stay until released.
    return {"MAILFLEET_LEASE_SECONDS": 600}


@pytest.fixture
def app_overrides(real_redis, limits) -> dict[str, object]:
    return {"REDIS_CONNECTION": real_redis, **limits}


@pytest.fixture
def servers(acme) -> dict[str, Server]:
    made = {
        name: Server(tenant_id=acme.id, name=name, public_ipv4=f"198.18.250.{i}", status=ServerStatus.ACTIVE)
        for i, name in enumerate(("mf-acme-1", "mf-acme-2"), start=1)
    }
    db.session.add_all(made.values())
    db.session.commit()
    return made


def fresh(run_id: int) -> Run:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Run, run_id)


def finish(run: Run) -> None:
    """The holder ends (as execute_run ends it) and hands the turn on."""
    db.session.execute(update(Run).where(Run.id == run.id).values(status=RunStatus.SUCCESSFUL))
    db.session.commit()
    locks.release(fresh(run.id))


def test_two_playbooks_never_share_a_server_and_other_servers_go_in_parallel(scope, acme, servers, work):
    holder = runs.submit_run(scope, acme, "site", limit="mf-acme-1")
    assert locks.claim(holder.id) is not None  # site.yml on server 1 is running
    same_server = runs.submit_run(scope, acme, "backup", limit="mf-acme-1")
    whole_tenant = runs.submit_run(scope, acme, "backup")  # every server of the tenant: 1 too
    work()
    assert fresh(same_server.id).status == RunStatus.WAITING
    assert fresh(whole_tenant.id).status == RunStatus.WAITING
    other_server = runs.submit_run(scope, acme, "backup", limit="mf-acme-2")
    work()
    assert fresh(other_server.id).status == RunStatus.SUCCESSFUL  # while site.yml still holds server 1
    finish(holder)
    work()
    assert fresh(same_server.id).status == RunStatus.SUCCESSFUL
    work()  # the whole-tenant run waited behind the other backup run (one per tenant+playbook)
    assert fresh(whole_tenant.id).status == RunStatus.SUCCESSFUL
    assert admission.renew(fresh(whole_tenant.id)) == 3  # released: no place held (tenant, fleet, machine)


@pytest.mark.parametrize(
    ("limits", "blocked_tenant"),
    [
        ({"MAILFLEET_LEASE_SECONDS": 600, "MAILFLEET_MAX_RUNS_PER_TENANT": 1}, "acme"),
        ({"MAILFLEET_LEASE_SECONDS": 600, "MAILFLEET_MAX_RUNS": 1}, "both"),
    ],
)
def test_tenant_and_fleet_limits(scope, acme, globex, servers, work, blocked_tenant):
    holder = runs.submit_run(scope, acme, "site", limit="mf-acme-1")
    assert locks.claim(holder.id) is not None
    same_tenant = runs.submit_run(scope, acme, "backup", limit="mf-acme-2")
    other_tenant = runs.submit_run(scope, globex, "site")
    work()
    assert fresh(same_tenant.id).status == RunStatus.WAITING
    expected = RunStatus.WAITING if blocked_tenant == "both" else RunStatus.SUCCESSFUL
    assert fresh(other_tenant.id).status == expected
    finish(holder)
    work()
    work()
    assert fresh(same_tenant.id).status == RunStatus.SUCCESSFUL
    assert fresh(other_tenant.id).status == RunStatus.SUCCESSFUL


@pytest.mark.parametrize("limits", [{"MAILFLEET_LEASE_SECONDS": 5}])
def test_holds_of_a_dead_worker_expire_with_their_lease_and_renewal_keeps_them(
    app, scope, acme, servers, real_redis
):
    run = runs.submit_run(scope, acme, "site", limit="mf-acme-1")
    assert locks.claim(run.id) is not None
    key = admission.server_key(servers["mf-acme-1"].id)
    lease_ms = app.config["MAILFLEET_LEASE_SECONDS"] * 1000
    assert real_redis.get(key) == str(run.id).encode()
    assert 0 < real_redis.pttl(key) <= lease_ms
    time.sleep(1)
    assert admission.renew(fresh(run.id)) == 0
    assert real_redis.pttl(key) > lease_ms - 1000  # renewed to a whole lease
    # The worker dies: nothing renews; the holds go by themselves and another run gets the server.
    deadline = time.monotonic() + 3 * app.config["MAILFLEET_LEASE_SECONDS"]
    while real_redis.exists(key) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not real_redis.exists(key)
    assert admission.renew(fresh(run.id)) == 3  # too late: its places (tenant, fleet, machine) are gone too
    other = runs.submit_run(scope, acme, "backup", limit="mf-acme-1")
    assert admission.admit(fresh(other.id)) is None


def test_a_refusal_names_what_is_busy(scope, acme, servers):
    first = runs.submit_run(scope, acme, "site", limit="mf-acme-2")
    second = runs.submit_run(scope, acme, "backup", limit="mf-acme-2")
    assert admission.admit(fresh(first.id)) is None
    refusal = admission.admit(fresh(second.id))
    assert str(refusal) == f"server {servers['mf-acme-2'].id} is busy with run {first.id}"
    admission.release(fresh(first.id))
    assert admission.admit(fresh(second.id)) is None


def test_a_machine_affords_four_forks_per_cpu_and_100_mb_each_beyond_2_gb():
    assert capacity.measure(cpus=2, memory_mb=24_000).forks == 8  # CPU-bound
    assert capacity.measure(cpus=16, memory_mb=4096).forks == 20  # memory-bound: 2048 MB / 100
    assert capacity.measure(cpus=1, memory_mb=1024).forks == 1  # never none


def test_a_run_costs_a_fork_per_host_up_to_ansible_forks(app):
    assert capacity.run_cost(0) == 1  # the controller
    assert capacity.run_cost(2) == 3
    assert capacity.run_cost(500) == capacity.ansible_forks(app.config["MAILFLEET_REPO_DIR"]) == 20


@pytest.mark.parametrize("limits", [{"MAILFLEET_LEASE_SECONDS": 600, "MAILFLEET_WORKER_FORKS": 3}])
def test_a_worker_never_takes_more_forks_than_it_affords(app, scope, acme, servers, monkeypatch):
    machine = {"name": "worker-a"}
    monkeypatch.setattr(capacity, "worker_name", lambda: machine["name"])
    assert capacity.report().forks == 3
    assert capacity.reported()["worker-a"]["forks"] == 3
    first = runs.submit_run(scope, acme, "site", limit="mf-acme-1")  # a server + the controller: 2 forks
    second = runs.submit_run(scope, acme, "backup", limit="mf-acme-2")  # 2 more: 4 > 3
    assert admission.admit(fresh(first.id)) is None
    refusal = admission.admit(fresh(second.id))
    assert (refusal.kind, str(refusal)) == ("worker", "worker worker-a has 2 of 3 forks in use")
    machine["name"] = "worker-b"  # another machine takes it
    assert admission.admit(fresh(second.id)) is None
    admission.release(fresh(second.id))
    machine["name"] = "worker-a"
    admission.release(fresh(first.id))
    assert admission.admit(fresh(second.id)) is None  # worker-a is free again


@pytest.mark.parametrize("limits", [{"MAILFLEET_LEASE_SECONDS": 2}])
def test_the_heartbeat_keeps_a_claimed_runs_holds_and_lease_whatever_the_run_is_doing(
    app, scope, acme, servers, real_redis, caplog
):
    """The leases start at the claim; a run busy for longer than a lease (its secrets read, Ansible
    starting, events waiting for the database) keeps them: its heartbeat is a thread of its own."""
    run = runs.submit_run(scope, acme, "site", limit="mf-acme-1")
    assert locks.claim(run.id) is not None
    key = admission.server_key(servers["mf-acme-1"].id)
    with Heartbeat(app, run.id):
        time.sleep(3 * app.config["MAILFLEET_LEASE_SECONDS"])  # the run's own thread never renews
        assert real_redis.get(key) == str(run.id).encode()
        assert fresh(run.id).lease_expires_at > utcnow()
        assert reaper.reap_lost_runs() == 0
    assert admission.renew(fresh(run.id)) == 0  # every hold still there
    assert "holds had expired" not in caplog.text
    # Once the heartbeat stops (its work-horse killed), the holds go with the lease.
    deadline = time.monotonic() + 3 * app.config["MAILFLEET_LEASE_SECONDS"]
    while real_redis.exists(key) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not real_redis.exists(key)


def test_a_second_attempt_at_a_run_being_claimed_leaves_its_holds_alone(app, scope, acme, servers):
    """A run ending while another is being claimed enqueues that one again (it reads waiting); the
    second attempt must neither start it nor give up the holds of the attempt that does."""
    run = runs.submit_run(scope, acme, "site", limit="mf-acme-1")
    # The first attempt, halfway: waiting, admitted, its lock taken, not yet running.
    db.session.execute(update(Run).where(Run.id == run.id).values(status=RunStatus.WAITING))
    db.session.commit()
    assert admission.admit(fresh(run.id)) is None
    db.session.add(RunLock(tenant_id=acme.id, playbook="site.yml", run_id=run.id))
    db.session.commit()

    assert locks.claim(run.id) is None  # the second attempt

    assert admission.renew(fresh(run.id)) == 0  # the first attempt's holds, all still there
    refusal = admission.admit(fresh(run.id))
    assert refusal is not None and str(refusal) == f"it is being started on worker {capacity.worker_name()}"
    other = runs.submit_run(scope, acme, "backup", limit="mf-acme-1")
    assert (
        str(admission.admit(fresh(other.id))) == f"server {servers['mf-acme-1'].id} is busy with run {run.id}"
    )
