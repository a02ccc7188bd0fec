"""The mailfleet_secret lookup, through real `ansible-playbook` runs on localhost (connection local)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

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
        token: "{{ lookup('mailfleet_secret', 'tenants/acme/mailu', field='api_token') }}"
      no_log: true
    - name: The value is exactly what the store holds, untemplated
      ansible.builtin.assert:
        that: (token | hash('sha256')) == expected_sha256
        quiet: true
    - name: Whole secret as a dict
      ansible.builtin.assert:
        that: >-
          lookup('mailfleet_secret', 'tenants/acme/mailu').keys() | sort
          == ['admin_password', 'api_token']
        quiet: true
    - name: Show it, hidden by no_log
      ansible.builtin.debug:
        msg: "token is {{ token }}"
      no_log: true
    - name: Generated on first use and stable afterwards
      ansible.builtin.assert:
        that: >-
          lookup('mailfleet_secret', 'tenants/acme/restic', field='password', generate='restic')
          == lookup('mailfleet_secret', 'tenants/acme/restic', field='password', generate='restic')
        quiet: true
      no_log: true
"""

MISSING = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "{{ lookup('mailfleet_secret', 'tenants/acme/mailu', field='no_such_field') }}"
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
        [str(ANSIBLE_PLAYBOOK), "-v", "-i", "localhost,", "-c", "local", str(path),
         "-e", f"ansible_python_interpreter={sys.executable} expected_sha256={expected}"],
        cwd=REPO, env=child_env, capture_output=True, text=True, timeout=180,
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
    vault_env: dict[str, str], vault_double: tuple[str, object], tmp_path: Path
) -> None:
    _seed(vault_env)
    vault_double[1].seal()  # type: ignore[attr-defined]
    local_file = tmp_path / "local-store.enc"
    env = {**vault_env, "MAILFLEET_SECRETS_FILE": str(local_file),
           "MAILFLEET_MASTER_KEY_FILE": str(tmp_path / "k")}
    result = _run(tmp_path, PLAYBOOK, env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "is sealed" in output
    assert not local_file.exists()
