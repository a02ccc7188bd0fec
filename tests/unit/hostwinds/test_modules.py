"""The hostwinds_* modules, run by ansible-playbook against the double on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostwinds_fakes import ServedDouble

from testbed.doubles.hostwinds import DEFAULT_KEY, Fault, HostwindsState

pytestmark = [pytest.mark.unit, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).parent
BIN = Path(sys.executable).parent


@pytest.fixture
def fast_double():
    """The double on a real clock with short builds, IP changes and resizes."""
    served = ServedDouble(HostwindsState(build_seconds=1.0, ip_change_seconds=1.0, resize_seconds=0.5))
    yield served
    served.close()


def playbook(path: Path, double: ServedDouble, *extra: str, key: str = DEFAULT_KEY):
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "HOSTWINDS_API_URL": double.url,
        "HOSTWINDS_API_KEY": key,
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", str(path), *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=240,
    )


def test_lifecycle_is_idempotent_and_leaks_nothing(fast_double):
    seen: list[str] = []
    original = fast_double.state._new_instance

    def remember(*args, **kwargs):
        record = original(*args, **kwargs)
        seen.extend([record["password"], record["configkey"]])
        return record

    fast_double.state._new_instance = remember  # type: ignore[method-assign]
    result = playbook(HERE / "playbooks" / "lifecycle.yml", fast_double, "-v")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "failed=0" in output
    assert seen and not any(secret in output for secret in seen)
    assert DEFAULT_KEY not in output
    assert fast_double.state.calls["add_instance"] == 1
    assert fast_double.state.instances == {}


def _one_task(tmp_path: Path, task: str) -> Path:
    """A play of one task; ``task`` starts with the module's short name (mailfleet.fleet.<name>)."""
    path = tmp_path / "play.yml"
    path.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n"
        "  vars: {ansible_python_interpreter: '{{ ansible_playbook_python }}'}\n"
        f"  tasks:\n    - mailfleet.fleet.{task}\n"
    )
    return path


def test_cooldown_fails_clearly_and_changes_nothing(tmp_path, fast_double):
    fast_double.state.seed(1)
    record = next(iter(fast_double.state.instances.values()))
    fast_double.state.faults.append(Fault("cooldown", "change_main_ip"))
    result = playbook(
        _one_task(tmp_path, "server_main_ip: {provider: hostwinds, name: mf-tenant000-1, wait_timeout: 2, "
                             "poll_interval: 0.2}"),
        fast_double,
    )
    assert result.returncode != 0
    assert "silent cooldown" in result.stdout and record["main_ip"] in result.stdout
    assert next(iter(fast_double.state.instances.values()))["main_ip"] == record["main_ip"]


def test_wrong_key_is_clear_and_masked(tmp_path, fast_double):
    result = playbook(_one_task(tmp_path, "hostwinds_instance_info: {}"), fast_double, key="not-the-key-123")
    assert result.returncode != 0
    assert "allow-list" in result.stdout and "not-the-key-123" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("hostwinds_rdns: {name: mf-tenant000-1, rdns: 'not a host'}", "Invalid input"),
        (
            "hostwinds_instance: {name: 'Bad_Name', plan: '101', location: Dallas}",
            "not a usable instance label",
        ),
        ("hostwinds_instance: {name: mf-new-1, plan: '999', location: Dallas}", "unknown Hostwinds plan"),
        ("hostwinds_instance: {name: mf-new-1, plan: '101', location: Paris}", "Unknown Hostwinds location"),
        ("hostwinds_instance: {name: mf-nope-1, state: started}", "No Hostwinds instance is labelled"),
        ("server_resize: {provider: hostwinds, name: mf-nope-1, plan: '101'}",
         "Hostwinds has no server labelled 'mf-nope-1'"),
        ("server_resize: {provider: hostwinds, name: mf-tenant000-1, plan: '999'}",
         "Hostwinds sells no plan '999'"),
    ],
)
def test_bad_input_fails_clearly_and_changes_nothing(tmp_path, fast_double, task, message):
    fast_double.state.seed(1)
    before = {k: dict(v) for k, v in fast_double.state.instances.items()}
    result = playbook(_one_task(tmp_path, task), fast_double)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-2000:]
    assert fast_double.state.instances == before
    assert fast_double.state.calls["add_instance"] == 0
