"""controller.yml with a worker machine: a controller host (PostgreSQL, Redis, worker pools, the
scheduler) and a worker-only host (group `mailfleet_workers`) that joins the controller's database
and Redis; both read one secrets store, the Vault double (a process of the testbed's; each machine
with an AppRole of its own, made through Vault's API as an operator makes them, reached through an
SSH tunnel as a host reaches Vault). Converged once for the module; then, from
outside the hosts: the database and Redis answer the worker machine and refuse this one; both
machines report their capacity; a worker started with a wrong Redis password or an unreachable
database exits with one line; runs of ten tenants spread over both machines (each reading its
tenant's SSH key from the shared store); the worker machine is stopped mid-run and the
controller's reaper fails its runs as lost and retries them: every tenant's run succeeds once, and
no run is left unfinished."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import socket
import subprocess
from collections.abc import Callable
from contextlib import ExitStack
from typing import NamedTuple, TypeVar

import hvac
import pytest
from hvac.exceptions import InvalidRequest
from polling import wait_for
from roletest import REPO, reverse_tunnel, run_playbook, wheelhouse, write_inventory_groups

from mailfleet.secrets import get_store

pytestmark = [
    pytest.mark.testbed,
    pytest.mark.timeout(3600),
]

CONTROLLER, WORKER = "wmctl", "wmwrk"
ADMIN, PASSWORD = "admin@example.test", "correct horse battery staple"
TENANTS = tuple(f"wm-{n:02d}" for n in range(1, 11))
# Five playbook workers on each machine: the ten runs at once, half on each (a run of a tenant
# without servers costs one fork; a testbed host affords eight).
POOLS = [{"queue": "mailfleet", "workers": 5},
         *({"queue": q, "workers": 1} for q in ("mailfleet-system", "mailfleet-reaper"))]
VAULT_PORT = 18200  # on each host's loopback, tunnelled to the double
PLAYS = "/srv/plays"
ENV = "set -a; . /etc/mailfleet/mailfleet.env; set +a"
VENV = "/opt/mailfleet-venv/bin"
# A run that reads its tenant's key from the secrets store (a machine without the shared store
# fails here) and then holds its worker a while.
SLOW_SITE = """\
- name: A run that holds its worker
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The tenant's SSH key, from the secrets store every machine shares
      ansible.builtin.debug:
        msg: "key sha256 {{ lookup('mailfleet.fleet.secret', 'tenants/' ~ mailfleet_tenant ~ '/ssh_key',
                                   field='public_key') | hash('sha256') }}"
    - name: Hold the worker
      ansible.builtin.command: sleep 45
      changed_when: false
"""
#: What a machine's Vault credentials may do (its AppRole's policy): mailfleet's paths, and tokens
#: of its runs' own.
MACHINE_POLICY = "mailfleet-machine"
MACHINE_RULES = """\
path "secret/data/mailfleet/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/mailfleet/*" { capabilities = ["read", "list", "delete"] }
path "sys/policies/acl/mailfleet-run-*" { capabilities = ["create", "update"] }
path "auth/token/create" { capabilities = ["update", "sudo"] }
"""


T = TypeVar("T")


class Fleet(NamedTuple):
    testbed: object
    controller: object
    worker: object
    inventory: object
    operator_env: dict[str, str]


def _vault_operator(testbed) -> hvac.Client:
    """The testbed's Vault double (started if it is not running), as its root token's holder."""
    address = testbed.start_double("vault")
    root = (testbed.layout.state_dir / "doubles" / "vault" / "root_token").read_text().strip()
    client = hvac.Client(url=address, token=root, timeout=10)
    client.sys.create_or_update_acl_policy(MACHINE_POLICY, MACHINE_RULES)
    try:
        client.sys.enable_auth_method("approle")
    except InvalidRequest as exc:  # the double kept from an earlier module
        if "already in use" not in str(exc):
            raise
    return client


def _settings(vault: hvac.Client, name: str) -> dict[str, object]:
    """A machine's settings, with an AppRole of its own."""
    vault.auth.approle.create_or_update_approle(name, token_policies=[MACHINE_POLICY])
    role_id = vault.auth.approle.read_role_id(name)["data"]["role_id"]
    secret_id = vault.auth.approle.generate_secret_id(name)["data"]["secret_id"]
    return {
        "controller_settings": {
            "MAILFLEET_SECRETS_BACKEND": "vault",
            "VAULT_ADDR": f"http://127.0.0.1:{VAULT_PORT}",
            "MAILFLEET_PLAYBOOK_DIR": PLAYS,
            # A lost machine's run is reaped sooner than the default lease allows.
            "MAILFLEET_LEASE_SECONDS": "30",
        },
        "controller_secrets": {"VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id},
        "controller_worker_pools": POOLS,
    }


@pytest.fixture(scope="module")
def fleet(testbed, start_hosts, tmp_path_factory):
    controller, worker = start_hosts(CONTROLLER, WORKER)
    work = tmp_path_factory.mktemp("worker-machines")
    vault = _vault_operator(testbed)
    address = vault.url
    with ExitStack() as stack:
        for host in (controller, worker):
            tunnel = reverse_tunnel(host, VAULT_PORT, address.removeprefix("http://"))
            stack.callback(tunnel.wait, timeout=10)
            stack.callback(tunnel.terminate)
            host.ssh(f"mkdir -p {PLAYS} && cat > {PLAYS}/site.yml", stdin=SLOW_SITE)
        wheels = str(wheelhouse(controller, work / "wheels"))
        # The role packs the checkout and the wheels into the checkout's build/: a clone of its own
        # keeps this deployment's archives apart from another test's deploying at the same time.
        source = work / "checkout"
        subprocess.run(
            ["git", "clone", "--quiet", "--shared", str(REPO), str(source)], check=True, timeout=120
        )
        inventory = write_inventory_groups(
            work,
            {
                # The controller without the web app: the scheduler and the workers are what the
                # worker machine works with.
                "controllers": ([controller], {**_settings(vault, CONTROLLER),
                                               "controller_components": ["worker", "cron"],
                                               "controller_wheelhouse": wheels,
                                               "controller_source_dir": str(source)}),
                "mailfleet_workers": ([worker], {**_settings(vault, WORKER),
                                                 "controller_wheelhouse": wheels,
                                                 "controller_source_dir": str(source)}),
            },
        )
        # The operator's own Vault token: the playbook's lookups make the machines' passwords.
        operator_env = {"MAILFLEET_SECRETS_BACKEND": "vault", "VAULT_ADDR": address,
                        "VAULT_TOKEN": vault.token}
        run_playbook("playbooks/controller.yml", inventory, env=operator_env, timeout=2400).assert_ok()
        controller.ssh(
            f"MAILFLEET_ADMIN_PASSWORD={shlex.quote(PASSWORD)} mailfleet-flask create-admin --email {ADMIN}"
        )
        controller.ssh(_each_tenant("mailfleet-flask create-tenant --slug $slug --name $slug"))
        yield Fleet(testbed, controller, worker, inventory, operator_env)


def _each_tenant(command: str) -> str:
    """A shell loop running ``command`` once for each tenant, its slug in ``$slug``."""
    return f"for slug in {' '.join(TENANTS)}; do {command}; done"


def _psql(host, query: str) -> list[str]:
    """The rows of a query on the controller's database, one line each (fields split by |). A run's
    status is stored by its name (RUNNING, FAILED ...)."""
    return host.ssh(f"runuser -u mailfleet -- psql -Atc {shlex.quote(query)} mailfleet").stdout.splitlines()


def _runs_report(fleet: Fleet) -> str:
    """The runs, their events and the playbook workers' logs: what a failed wait shows."""
    runs = _psql(fleet.controller, "select id, status, worker_host, failure_reason from runs order by id")
    events = _psql(fleet.controller, "select run_id, event, left(stdout, 400) from run_events order by id")
    logs = [
        host.ssh("journalctl -u 'mailfleet-worker@mailfleet:1' -n 40 --no-pager", check=False).stdout
        for host in (fleet.controller, fleet.worker)
    ]
    return "\n".join(["runs:", *runs, "events:", *events, "controller's worker:", logs[0],
                      "worker machine's worker:", logs[1]])


def _wait(fleet: Fleet, predicate: Callable[[], T], timeout: float, what: str) -> T:
    """wait_for, with the runs, their events and the workers' logs when it gives up."""
    try:
        return wait_for(predicate, timeout, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_runs_report(fleet)}") from None


def _reachable(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=3).close()
    except OSError:
        return False
    return True


def test_second_run_changes_nothing(fleet):
    run_playbook(
        "playbooks/controller.yml", fleet.inventory, env=fleet.operator_env, timeout=900
    ).assert_idempotent()


def test_the_database_and_redis_answer_the_worker_machine_alone(fleet):
    address = fleet.controller.address
    for port in (5432, 6379):
        probe = fleet.worker.ssh(f"timeout 3 bash -c '</dev/tcp/{address}/{port}'", check=False)
        assert probe.returncode == 0, f"port {port} of the controller does not answer the worker machine"
        assert not _reachable(address, port), f"port {port} of the controller answers a machine not a worker"
    # The URLs carry the passwords, so the services read them from secret files.
    settings = fleet.worker.ssh("grep _URL /etc/mailfleet/mailfleet.env").stdout.split()
    assert settings == ["DATABASE_URL_FILE=/etc/mailfleet/secrets/DATABASE_URL",
                        "REDIS_URL_FILE=/etc/mailfleet/secrets/REDIS_URL"]


def test_each_machine_reports_the_forks_it_affords(fleet):
    read = (
        f"{ENV}; runuser -u mailfleet -- {VENV}/python -c "
        + shlex.quote(
            "import json; from webapp.config import load_config; from webapp.queue import connect; "
            "print(json.dumps({k.decode(): json.loads(v) for k, v in "
            "connect(load_config(with_secret_key=False)).hgetall('mailfleet:workers').items()}))"
        )
    )
    reports = json.loads(fleet.controller.ssh(read).stdout)
    assert sorted(reports) == [CONTROLLER, WORKER]
    for report in reports.values():
        by_cpu, by_memory = report["cpus"] * 4, (report["memory_mb"] - 2048) // 100
        assert report["forks"] == max(1, min(by_cpu, by_memory)), report


@pytest.mark.parametrize(
    ("setting", "value", "line"),
    [
        ("REDIS_URL", "redis://:wrong-password@{controller}:6379/0",
         r"mailfleet-preflight: REDIS_URL: Redis does not answer \(.*password.*\)"),
        ("DATABASE_URL", "postgresql+psycopg://mailfleet:x@{controller}:5433/mailfleet",
         r"mailfleet-preflight: DATABASE_URL: the database does not answer \(.+\)"),
    ],
)
def test_a_worker_that_cannot_reach_redis_or_the_database_exits_with_one_line(fleet, setting, value, line):
    wrong = f"/tmp/wrong-{setting}"
    fleet.worker.ssh(f"install -m 0644 /dev/null {wrong} && cat > {wrong}",
                     stdin=value.format(controller=fleet.controller.address))
    started = fleet.worker.ssh(
        f"{ENV}; {setting}_FILE={wrong} timeout 60 runuser -u mailfleet -- {VENV}/rq worker -c jobs.rqconfig "
        "--serializer rq.serializers.JSONSerializer --worker-class jobs.worker.Worker --burst mailfleet",
        check=False,
    )
    assert started.returncode == 1, (started.returncode, started.stderr)
    assert re.fullmatch(line + "\n", started.stderr), started.stderr
    assert "wrong-password" not in started.stderr


def test_runs_of_ten_tenants_spread_over_both_machines_and_a_stopped_machines_runs_are_retried(fleet):
    controller = fleet.controller
    enqueued = controller.ssh(_each_tenant("mailfleet-flask enqueue-run --tenant $slug --playbook site"))
    ids = [int(line.split()[-1]) for line in enqueued.stdout.splitlines()]
    assert len(ids) == len(TENANTS), enqueued.stdout
    runs = ", ".join(map(str, ids))
    store = get_store(fleet.operator_env)
    keys = {
        slug: hashlib.sha256(store.get_field(f"tenants/{slug}/ssh_key", "public_key").encode()).hexdigest()
        for slug in TENANTS
    }

    def keyed() -> dict[int, str]:
        """Run -> the machine it runs on, once every run read its tenant's key (from the store) there."""
        rows = _psql(
            controller,
            "select r.id, r.worker_host, t.slug, substring(e.stdout from 'key sha256 ([0-9a-f]{64})') "
            "from runs r join tenants t on t.id = r.tenant_id join run_events e on e.run_id = r.id "
            f"where r.id in ({runs}) and e.stdout like '%key sha256%'",
        )
        seen = {}
        for row in rows:
            run, machine, slug, key = row.split("|")
            if key == keys[slug]:
                seen[int(run)] = machine
        return seen if len(seen) == len(ids) else {}

    machine_of = _wait(fleet, keyed, 300, "every run started, each with its tenant's key")
    assert sorted(set(machine_of.values())) == [CONTROLLER, WORKER], machine_of

    fleet.testbed.stop_host(WORKER)  # the machine is gone mid-run (no warm shutdown of its workers)
    unfinished = "select count(*) from runs where status in ('QUEUED', 'WAITING', 'RUNNING')"
    _wait(fleet, lambda: _psql(controller, unfinished) == ["0"], 420, "every run and retry to finish")

    rows = _psql(
        controller,
        "select r.id, t.slug, r.status, r.worker_host, coalesce(r.retry_of_id, 0), "
        "coalesce(r.failure_reason, '') from runs r join tenants t on t.id = r.tenant_id order by r.id",
    )
    by_id = {int(row.split("|")[0]): row.split("|") for row in rows}
    lost = [run for run in ids if by_id[run][2] == "FAILED"]
    assert lost, f"no run of the stopped machine was in flight: {rows}"
    for run in lost:
        assert machine_of[run] == WORKER and by_id[run][5].startswith("worker lost: no heartbeat since"), rows
    retries = {int(row[4]): row for row in by_id.values() if row[4] != "0"}
    assert sorted(retries) == sorted(lost), rows  # each lost run retried once, nothing else
    assert all(row[2:4] == ["SUCCESSFUL", CONTROLLER] for row in retries.values()), rows
    succeeded = sorted(row[1] for row in by_id.values() if row[2] == "SUCCESSFUL")
    assert succeeded == sorted(TENANTS), rows  # every tenant's run done once: none lost, none twice
