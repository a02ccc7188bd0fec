"""The controller role's worker machines, without a testbed: what a worker-only host and its
controller are configured with (URLs with the passwords only in secret files), and the playbook's
refusal of machines that would share a database but not a secrets store. The deployment itself is
tested on the testbed (tests/integration/roles/test_worker_machines.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailfleet.secrets import generator_by_name

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles/controller"
VAULT = {"MAILFLEET_SECRETS_BACKEND": "vault", "VAULT_ADDR": "https://vault.example.test"}


def _ansible_playbook(
    tmp_path: Path, playbook: Path, inventory: dict, extra_vars: dict | None = None
) -> subprocess.CompletedProcess:
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory))
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps(extra_vars or {}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(path), str(playbook),
         "-e", f"@{extra}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def _host(**variables: object) -> dict:
    return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **variables}


def _configured(tmp_path: Path, **variables: object) -> dict:
    """The environment file's settings and the secret files the role would write for a host with
    `variables` (extra variables: above the role's files)."""
    out = tmp_path / "configured.json"
    playbook = tmp_path / "show.yml"
    playbook.write_text(f"""
- name: What the controller role configures
  hosts: all
  gather_facts: false
  vars_files: ["{ROLE}/defaults/main.yml", "{ROLE}/vars/main.yml"]
  tasks:
    - name: Write it out
      ansible.builtin.copy:
        content: >-
          {{{{ {{'environment': _controller_environment, 'secrets': _controller_secret_files}} | to_json }}}}
        dest: "{out}"
        mode: "0600"
""")
    run = _ansible_playbook(tmp_path, playbook, {"all": {"hosts": {"h1": _host()}}}, variables)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(out.read_text())


def test_the_controller_generator_makes_url_safe_passwords():
    secrets = generator_by_name("controller")()
    assert sorted(secrets) == ["database_password", "redis_password"]
    assert all(len(value) >= 40 and value.isalnum() for value in secrets.values())
    assert secrets["database_password"] != secrets["redis_password"]


def test_a_worker_machine_reaches_the_controller_with_the_passwords_in_secret_files(tmp_path):
    configured = _configured(
        tmp_path,
        controller_shared_host="198.18.0.10",
        controller_database_password="dbpass",
        controller_redis_password="redispass",
        controller_database_enabled=False,
        controller_redis_enabled=False,
        controller_components=["worker"],
        controller_settings=VAULT,
    )
    assert configured["secrets"] == {
        "DATABASE_URL": "postgresql+psycopg://mailfleet:dbpass@198.18.0.10:5432/mailfleet",
        "REDIS_URL": "redis://:redispass@198.18.0.10:6379/0",
    }
    environment = configured["environment"]
    assert environment["DATABASE_URL_FILE"] == "/etc/mailfleet/secrets/DATABASE_URL"
    assert environment["REDIS_URL_FILE"] == "/etc/mailfleet/secrets/REDIS_URL"
    assert "DATABASE_URL" not in environment and "REDIS_URL" not in environment
    assert "dbpass" not in json.dumps(environment) and "redispass" not in json.dumps(environment)


def test_the_controller_of_worker_machines_uses_its_redis_with_the_password(tmp_path):
    configured = _configured(tmp_path, controller_workers=["198.18.0.11"], controller_redis_password="pw")
    assert configured["secrets"] == {"REDIS_URL": "redis://:pw@127.0.0.1:6379/0"}
    # Its own services keep the database's socket (peer authentication, no password).
    assert configured["environment"]["DATABASE_URL"].endswith("?host=/var/run/postgresql")


def test_a_single_machine_keeps_its_settings(tmp_path):
    configured = _configured(tmp_path)
    assert configured["secrets"] == {}
    assert configured["environment"]["REDIS_URL"] == "redis://127.0.0.1:6379/0"


def test_machines_sharing_a_database_without_vault_are_refused_before_anything_changes(tmp_path):
    inventory = {"all": {"children": {
        "controllers": {"hosts": {"ctl": _host()}},
        "mailfleet_workers": {"hosts": {"wrk": _host(ansible_host="198.18.0.11")}},
    }}}
    run = _ansible_playbook(tmp_path, REPO / "playbooks/controller.yml", inventory)
    assert run.returncode != 0
    for machine in ("ctl", "wrk"):  # one play over both: each is refused at its first task
        assert f"{machine} shares its database and Redis with other machines" in run.stdout, run.stdout
    assert "The local store's master key is not copied between machines." in run.stdout
    # The first task failed, and the play ended there.
    recap = run.stdout.split("PLAY RECAP")[-1].split()[1:]  # after the row of stars
    rows = [recap[i:i + 4] for i in range(0, len(recap), 9)]
    assert rows[:2] == [["ctl", ":", "ok=1", "changed=0"], ["wrk", ":", "ok=1", "changed=0"]], run.stdout
    assert recap.count("failed=1") == 2, run.stdout
