"""The mailfleet.fleet.secret lookup, through real `ansible-playbook` runs on localhost (connection local)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mailfleet.secrets import get_store

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
# A value that would be templated if the lookup did not mark it unsafe.
SECRET = "pw-{{ lookup('ansible.builtin.env', 'HOME') }}-Zq81"

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Read one field
      ansible.builtin.set_fact:
        token: "{{ lookup('mailfleet.fleet.secret', 'tenants/acme/mailu', field='api_token') }}"
      no_log: true
    - name: The value is exactly what the store holds, untemplated
      ansible.builtin.assert:
        that: (token | hash('sha256')) == expected_sha256
        quiet: true
    - name: Whole secret as a dict
      ansible.builtin.assert:
        that: >-
          lookup('mailfleet.fleet.secret', 'tenants/acme/mailu').keys() | sort
          == ['admin_password', 'api_token']
        quiet: true
    - name: Show it, hidden by no_log
      ansible.builtin.debug:
        msg: "token is {{ token }}"
      no_log: true
    - name: Generated on first use and stable afterwards
      ansible.builtin.assert:
        that: >-
          lookup('mailfleet.fleet.secret', 'tenants/acme/restic', field='password', generate='restic')
          == lookup('mailfleet.fleet.secret', 'tenants/acme/restic', field='password', generate='restic')
        quiet: true
      no_log: true
"""

MISSING = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "{{ lookup('mailfleet.fleet.secret', 'tenants/acme/mailu', field='no_such_field') }}"
"""


def _run(tmp_path: Path, playbook: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "play.yml"
    path.write_text(playbook)
    expected = hashlib.sha256(SECRET.encode()).hexdigest()
    child_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp_path / ".ansible"),
        "ANSIBLE_NOCOLOR": "1",
        **env,
    }
    return subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-v",
            "-i",
            "localhost,",
            "-c",
            "local",
            str(path),
            "-e",
            f"ansible_python_interpreter={sys.executable} expected_sha256={expected}",
        ],
        cwd=REPO,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _seed(env: dict[str, str]) -> None:
    get_store(env).put("tenants/acme/mailu", {"api_token": SECRET, "admin_password": "Adm1nPassw0rdXYZ"})


@pytest.mark.parametrize("backend", ["local", "vault"])
def test_lookup_reads_the_configured_backend_without_printing_it(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = request.getfixturevalue(f"{backend}_env")
    _seed(env)
    result = _run(tmp_path, PLAYBOOK, env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "failed=0" in output and "ok=5" in output
    assert "the output has been hidden" in output
    assert SECRET not in output and "Adm1nPassw0rdXYZ" not in output
    assert "Zq81" not in output
    generated = get_store(env).get_field("tenants/acme/restic", "password")
    assert generated not in output and len(generated) >= 32


def test_lookup_failure_is_clear_and_shows_no_secret(local_env: dict[str, str], tmp_path: Path) -> None:
    _seed(local_env)
    result = _run(tmp_path, MISSING, local_env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "has no field 'no_such_field'" in output
    assert "Zq81" not in output and "Adm1nPassw0rdXYZ" not in output


def test_lookup_when_vault_is_sealed_fails_without_fallback(
    vault_env: dict[str, str], vault_double: tuple[str, Any], tmp_path: Path
) -> None:
    _seed(vault_env)
    vault_double[1].seal()
    local_file = tmp_path / "local-store.enc"
    env = {
        **vault_env,
        "MAILFLEET_SECRETS_FILE": str(local_file),
        "MAILFLEET_MASTER_KEY_FILE": str(tmp_path / "k"),
    }
    result = _run(tmp_path, PLAYBOOK, env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "is sealed" in output
    assert not local_file.exists()


THREE_LOOKUPS = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Three lookups in one task
      ansible.builtin.assert:
        that:
          - lookup('mailfleet.fleet.secret', 'tenants/acme/mailu', field='api_token') | length > 0
          - lookup('mailfleet.fleet.secret', 'tenants/acme/mailu', field='admin_password') | length > 0
          - lookup('mailfleet.fleet.secret', 'tenants/acme/mailu') | length == 2
        quiet: true
"""


def test_lookups_of_a_task_share_one_approle_login(
    vault_env: dict[str, str], vault_double: tuple[str, Any], tmp_path: Path
) -> None:
    _seed(vault_env)
    state = vault_double[1]
    role_id, secret_id = state.add_approle("mailfleet")
    env = {k: v for k, v in vault_env.items() if k != "VAULT_TOKEN"}
    env.update(VAULT_ROLE_ID=role_id, VAULT_SECRET_ID=secret_id)
    result = _run(tmp_path, THREE_LOOKUPS, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert state.requests.count(("POST", "/v1/auth/approle/login")) == 1
    assert secret_id not in result.stdout + result.stderr


HASHI_VAULT = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: The same secret through community.hashi_vault (VAULT_ADDR/VAULT_TOKEN, the README's path)
      ansible.builtin.assert:
        that: >-
          (lookup('community.hashi_vault.vault_kv2_get', 'mailfleet/tenants/acme/mailu',
                  engine_mount_point='secret').secret.api_token | hash('sha256')) == expected_sha256
        quiet: true
      no_log: true
"""


def test_community_hashi_vault_reads_what_the_vault_backend_wrote(
    vault_env: dict[str, str], tmp_path: Path
) -> None:
    _seed(vault_env)
    result = _run(tmp_path, HASHI_VAULT, vault_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok=1" in result.stdout and "Zq81" not in result.stdout + result.stderr
