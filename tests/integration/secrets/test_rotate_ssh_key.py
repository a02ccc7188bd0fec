"""playbooks/rotate_ssh_key.yml on a testbed host: SSH login checked with each key before and after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mailfleet.secrets import ensure_tenant_secrets, get_store

pytestmark = pytest.mark.testbed

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
TENANT = "rot-test"


def _key_file(directory: Path, name: str, private_key: str) -> Path:
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(private_key)
    return path


def _login(address: str, key: Path) -> int:
    """Exit code of an SSH login with exactly this key (no agent, no ssh config)."""
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
         "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", f"root@{address}", "true"],
        capture_output=True, timeout=60,
    ).returncode


def _rotate(tmp_path: Path, inventory: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-v", "-i", str(inventory), str(REPO / "playbooks/rotate_ssh_key.yml"),
         "-e", f"tenant={TENANT}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, **env, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
             "PATH": f"{ANSIBLE_PLAYBOOK.parent}{os.pathsep}{os.environ['PATH']}"},
    )


def test_rotation_replaces_the_key_on_the_host_and_in_the_store(
    testbed_hosts: Any, tmp_path: Path
) -> None:
    env = {"MAILFLEET_SECRETS_BACKEND": "local",
           "MAILFLEET_SECRETS_FILE": str(tmp_path / "secrets/store.enc"),
           "MAILFLEET_MASTER_KEY_FILE": str(tmp_path / "secrets/master.key")}
    store = get_store(env)
    ensure_tenant_secrets(TENANT, store)
    old = store.get("tenants/rot-test/ssh_key")
    old_key = _key_file(tmp_path, "old", old["private_key"])

    host = testbed_hosts("rot1", authorized_keys=(old["public_key"],))
    assert _login(host.address, old_key) == 0  # before: the tenant's key logs in

    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"children": {"tenant_rot_test": {"hosts": {
        host.name: {"ansible_host": host.address, "ansible_user": "root",
                    "ansible_ssh_private_key_file": str(old_key),
                    "ansible_python_interpreter": "/usr/bin/python3"}}}}}}))
    result = _rotate(tmp_path, inventory, env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]

    new = store.get("tenants/rot-test/ssh_key")
    assert new["public_key"] != old["public_key"]
    assert [v.version for v in store.versions("tenants/rot-test/ssh_key")] == [1, 2]
    assert store.list("tenants/rot-test") == [
        "tenants/rot-test/acme_account", "tenants/rot-test/mailu", "tenants/rot-test/restic",
        "tenants/rot-test/ssh_key",
    ]  # the staged key is gone
    new_key = _key_file(tmp_path, "new", new["private_key"])
    assert _login(host.address, new_key) == 0  # after: the new key logs in
    assert _login(host.address, old_key) != 0  # and the old one no longer does
    assert host.ssh("true").returncode == 0  # other keys (the testbed's) untouched
    authorized = host.ssh("cat /root/.ssh/authorized_keys").stdout
    assert new["public_key"].split()[1] in authorized and old["public_key"].split()[1] not in authorized
    body = new["private_key"].splitlines()[1]
    assert body not in output  # the private key never shows in the run's output
    assert not list(Path("/tmp").glob("mailfleet-rotate-*"))  # its temporary copy is removed
