"""The bridge: a run's events land in the database, nothing is left on disk or running, the
child sees only the allow-listed environment, and the run is confined to its tenant."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jobs import execute, processes
from jobs.bridge import run_marker
from webapp.errors import InvalidInput
from webapp.extensions import db
from webapp.models import RunEvent, RunStatus, Server, ServerStatus
from webapp.services import runs

pytestmark = pytest.mark.unit


def stdout_of(run_id: int) -> str:
    return "\n".join(db.session.execute(select(RunEvent.stdout).where(RunEvent.run_id == run_id)).scalars())


def add_server(tenant, name: str, ip: str) -> Server:
    server = Server(tenant_id=tenant.id, name=name, public_ipv4=ip, status=ServerStatus.ACTIVE)
    db.session.add(server)
    db.session.commit()
    return server


def test_run_records_events_recap_and_leaves_nothing_behind(scope, acme, work, tmp_path):
    run = runs.submit_run(scope, acme, "site")
    assert run.status == RunStatus.QUEUED
    work()
    assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
    assert run.rc == 0
    assert run.recap == {
        "localhost": {
            "ok": 7,
            "changed": 1,
            "failed": 0,
            "unreachable": 0,
            "skipped": 0,
            "rescued": 0,
            "ignored": 0,
        }
    }
    events = list(db.session.execute(select(RunEvent).where(RunEvent.run_id == run.id)).scalars())
    assert run.event_count == len(events) > 10
    names = [e.event for e in events]
    assert names[1] == "playbook_on_start" and names[-1] == "playbook_on_stats"
    changed = [e for e in events if e.changed]
    assert [e.task for e in changed] == ["Change something"]
    assert "hello from acme" in stdout_of(run.id)
    assert all("\r" not in e.stdout for e in events)
    # The private data dir (with the SSH key FIFO and artifacts) is gone; no process of it remains.
    work_dir = tmp_path / "runs"
    assert work_dir.is_dir() and list(work_dir.iterdir()) == []
    assert processes.run_processes(run.child_pid, run_marker(work_dir, run.id)) == []
    assert run.child_pid and run.started_at and run.finished_at and run.lease_expires_at is None


@pytest.mark.parametrize(
    ("strategy", "under_mitogen"), [(None, True), ("mitogen_linear", True), ("linear", False)]
)
def test_the_workers_ansible_strategy_chooses_the_runs_strategy(scope, acme, work, monkeypatch,
                                                                 strategy, under_mitogen):
    """ansible.cfg's strategy unless the worker's environment sets ANSIBLE_STRATEGY: under Mitogen's
    a task's commands run in a process Mitogen started, named after it."""
    if strategy is None:
        monkeypatch.delenv("ANSIBLE_STRATEGY", raising=False)
    else:
        monkeypatch.setenv("ANSIBLE_STRATEGY", strategy)
    run = runs.submit_run(scope, acme, "site")
    work()
    assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
    shown = [e.event_data["res"]["stdout"]
             for e in db.session.execute(select(RunEvent).where(RunEvent.run_id == run.id)).scalars()
             if e.task == "Show the process the tasks run in" and e.event == "runner_on_ok"]
    assert len(shown) == 1
    assert ("(mitogen:" in shown[0]) is under_mitogen, shown[0]


def test_runs_of_a_tenant_share_their_fact_cache_and_no_other_tenant_reads_it(scope, acme, globex, work, app):
    def cached_tenant(tenant) -> str:
        run = runs.submit_run(scope, tenant, "site")
        work()
        assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
        return next(line for line in stdout_of(run.id).splitlines() if "cached tenant=" in line)

    assert cached_tenant(acme).endswith("cached tenant=none")
    assert cached_tenant(globex).endswith("cached tenant=none")  # not acme's
    assert cached_tenant(acme).endswith("cached tenant=acme")
    facts = Path(app.config["MAILFLEET_DATA_DIR"]) / "ansible-facts"
    assert sorted(p.name for p in facts.iterdir()) == ["acme", "globex"]
    assert all(p.stat().st_mode & 0o077 == 0 for p in facts.iterdir())


def test_a_catalogue_entry_with_tags_runs_only_those_tags(scope, acme, work):
    """The DNS doctor's Fix ("dns") runs site.yml's DNS part only: here the hello (tagged dns) runs
    and the change (tagged hardening) does not."""
    run = runs.submit_run(scope, acme, "dns", extravars={"mailfleet_domains": ["acme.example.test"]})
    work()
    assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
    assert run.recap["localhost"]["changed"] == 0
    tasks = {e.task for e in db.session.execute(select(RunEvent).where(RunEvent.run_id == run.id)).scalars()}
    assert "Say hello" in tasks and "Change something" not in tasks


def test_a_run_reads_the_release_the_app_directory_links_to_when_it_begins(
    scope, acme, work, app, tmp_path, monkeypatch
):
    """The controller role's app directory is a link that an upgrade switches at once: a run
    resolves it when it begins, so its playbook, roles and modules all come from that release."""
    releases = {}
    for name in ("MAILFLEET_REPO_DIR", "MAILFLEET_PLAYBOOK_DIR"):
        releases[name] = Path(app.config[name]).resolve()
        link = tmp_path / name.lower()
        link.symlink_to(releases[name])
        monkeypatch.setitem(app.config, name, link)
    begun = []

    def noting_the_release(spec, *args, **kwargs):
        begun.append((spec.playbook_path, spec.project_dir))
        return real(spec, *args, **kwargs)

    real = execute.run_playbook
    monkeypatch.setattr(execute, "run_playbook", noting_the_release)
    run = runs.submit_run(scope, acme, "site")
    work()
    assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
    assert begun == [(releases["MAILFLEET_PLAYBOOK_DIR"] / "site.yml", releases["MAILFLEET_REPO_DIR"])]


def test_child_environment_is_allow_listed(scope, acme, work, monkeypatch):
    monkeypatch.setenv("MAILFLEET_TEST_CANARY", "worker-secret-value")
    run = runs.submit_run(scope, acme, "site")
    work()
    assert run.status == RunStatus.SUCCESSFUL
    out = stdout_of(run.id)
    assert "canary=absent" in out
    assert "worker-secret-value" not in out


def host_names(inventory: dict[str, Any]) -> set[str]:
    return set(inventory["all"]["hosts"]) | set(inventory["all"]["children"]["mailfleet_servers"]["hosts"])


def test_inventory_holds_only_the_tenants_servers(scope, acme, globex, work):
    add_server(acme, "mf-acme-1", "198.18.17.10")
    add_server(globex, "mf-globex-1", "198.18.17.20")
    from jobs.inventory import tenant_inventory

    assert host_names(tenant_inventory(acme)) == {"localhost", "mf-acme-1"}
    assert host_names(tenant_inventory(globex)) == {"localhost", "mf-globex-1"}
    # A limit naming another tenant's server is refused before anything is queued.
    with pytest.raises(InvalidInput):
        runs.submit_run(scope, acme, "site", limit="mf-globex-1")
    with pytest.raises(InvalidInput):
        runs.submit_run(scope, acme, "site", limit="all")
    # The play lists the hosts it can see: only acme's.
    run = runs.submit_run(scope, acme, "site")
    work()
    out = stdout_of(run.id)
    assert "msg: localhost,mf-acme-1" in out
    assert "mf-globex-1" not in out
    assert "198.18.17.20" not in out


def test_hostile_extravars_are_refused_and_strings_are_unsafe():
    from jobs.bridge import yaml_unsafe
    from webapp import playbooks
    from webapp.services.runs import _check_extravars

    with pytest.raises(InvalidInput):
        _check_extravars(playbooks.CATALOGUE["domain"], {"mailfleet_domains": ["{{ lookup('pipe', 'id') }}"]})
    with pytest.raises(InvalidInput):
        _check_extravars(playbooks.CATALOGUE["site"], {"ansible_host": "198.18.0.1"})
    assert yaml_unsafe({"mailfleet_domains": ["a.example", 'x"y'], "n": 3}) == (
        '!unsafe {"mailfleet_domains": ["a.example", "x\\"y"], "n": 3}\n'
    )


def test_extravars_reach_the_play_as_typed_and_never_templated(tmp_path):
    """What ansible-playbook makes of the file the bridge writes: strings that look like a number,
    a boolean, null or a time stay strings; templates anywhere stay text."""
    from jobs.bridge import yaml_unsafe

    extravars = {
        "restore_before": "2026-11-25 14:00:00", "display_name": "yes", "alias": "null", "pin": "0123",
        "n": 3, "flag": True, "names": ["{{ 6 * 7 }}", "42"], "nested": {"x": "{{ lookup('pipe', 'id') }}"},
    }
    (tmp_path / "extravars").write_text(yaml_unsafe(extravars))
    names = ", ".join(extravars)
    (tmp_path / "play.yml").write_text(f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: {tmp_path / "seen.json"}
        content: "{{{{ {{'values': [{names}], 'types': [{names}] | map('type_debug') | list}} | to_json }}}}"
""")
    subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"@{tmp_path / 'extravars'}",
         str(tmp_path / "play.yml")],
        check=True, capture_output=True, cwd=tmp_path,
    )
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["values"] == list(extravars.values())
    assert seen["types"] == ["str", "str", "str", "str", "int", "bool", "list", "dict"]


def test_missing_playbook_fails_the_run_clearly(scope, acme, work, app):
    app.config["MAILFLEET_PLAYBOOK_DIR"] = app.config["MAILFLEET_PLAYBOOK_DIR"].parent / "nowhere"
    run = runs.submit_run(scope, acme, "site")
    work()
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == "playbook site.yml is not installed on the worker"
