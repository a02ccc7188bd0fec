"""A tenant's run reaches only its tenant's secrets and the globals it needs, with credentials of
its own (never the store's master key or the worker's Vault token), for both backends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailfleet.secrets import HOSTWINDS_PATH, SecretStore, get_store
from testbed.doubles.vault import VaultState, serve
from webapp.extensions import db
from webapp.models import RunEvent, RunStatus
from webapp.services import runs

pytestmark = pytest.mark.unit

#: What the worker's own Vault token may do: the README's policy for mailfleet, plus making run tokens.
WORKER_RULES = {
    "secret/data/mailfleet/*": {"create", "read", "update"},
    "secret/metadata/mailfleet/*": {"read", "list", "delete"},
    "sys/policies/acl/mailfleet-run-*": {"create", "update"},
    "auth/token/create": {"update", "sudo"},
}


@pytest.fixture
def playbook_flavour() -> str:
    return "scope"


@pytest.fixture(params=["local", "vault"])
def backend(request: pytest.FixtureRequest, app) -> Iterator[tuple[SecretStore, VaultState | None]]:
    """The worker's store (set before any tenant exists) and, for Vault, the double's state."""
    if request.param == "local":
        yield app.config["SECRET_STORE"], None
        return
    state = VaultState()
    with serve(state) as addr:
        worker_token = state.add_token(rules=WORKER_RULES)
        store = get_store(
            {"MAILFLEET_SECRETS_BACKEND": "vault", "VAULT_ADDR": addr, "VAULT_TOKEN": worker_token}
        )
        app.config["SECRET_STORE"] = store
        yield store, state


def events_of(run_id: int) -> dict[str, list[RunEvent]]:
    by_task: dict[str, list[RunEvent]] = {}
    for event in db.session.execute(select(RunEvent).where(RunEvent.run_id == run_id)).scalars():
        if event.task and event.event.startswith("runner_on_"):
            by_task.setdefault(event.task, []).append(event)
    return by_task


def outcome(events: list[RunEvent]) -> str:
    return [e.event for e in events if e.event != "runner_on_start"][0]


def test_a_run_reads_its_own_tenant_and_nothing_of_another(backend, scope, acme, globex, work, tmp_path):
    store, vault = backend
    store.put(HOSTWINDS_PATH, {"api_key": "hostwinds-key-for-the-scope-test"})
    other = store.get_field("tenants/globex/restic", "password")
    own = store.get_field("tenants/acme/restic", "password")

    run = runs.submit_run(scope, acme, "site")
    work()
    assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
    tasks = events_of(run.id)
    stdout = "\n".join(e.stdout for events in tasks.values() for e in events)

    # Its own tenant's secret and the global one: read.
    assert outcome(tasks["Say what was read"]) == "runner_on_ok"
    assert f"own={len(own)} global=32" in stdout
    # Another tenant's: refused (local: not in the run's store; Vault: 403 from the policy).
    for task in ("Read another tenant's restic password", "Create a secret under another tenant",
                 "Overwrite a global secret"):
        assert outcome(tasks[task]) == "runner_on_failed", task
    refused = tasks["Read another tenant's restic password"][-1].stdout
    assert ("permission denied" if vault else "no secret at 'tenants/globex/restic'") in refused
    assert other not in stdout and not re.search(r"other=\d", stdout)
    assert not store.exists("tenants/globex/planted")
    assert [v.version for v in store.versions(HOSTWINDS_PATH)] == [1]
    # What the run created under its own tenant reached the worker's store.
    assert store.exists("tenants/acme/scope_probe")

    # The run held credentials of its own, in files under its private directory, now gone.
    settings = tasks["Show the store settings the run was given"][-1].stdout
    assert "master_key=absent" in settings and "vault_token=absent" in settings
    credential = "token_file=" if vault else "key_file="
    path = Path(settings.split(credential)[1].split()[0])
    assert path.is_relative_to(tmp_path / "runs") and not path.exists()
    assert list((tmp_path / "runs").iterdir()) == []
    if vault is None:
        master_key = store._key_source.env_value
        assert master_key and master_key not in stdout
    else:
        # The run's token was revoked at the end; the worker's token and the root token remain.
        assert len(vault.tokens) == 2
        policy = vault.policies[("", "mailfleet-run-acme")][0]
        assert "secret/data/mailfleet/tenants/acme/*" in policy and "globex" not in policy
