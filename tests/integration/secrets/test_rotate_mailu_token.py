"""playbooks/rotate_mailu_token.yml on a testbed host, its API check against the Mailu double."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from mailfleet.secrets import SecretStore, ensure_tenant_secrets, get_store
from mailfleet.secrets.rotation import stage
from testbed.doubles.mailu import MailuDoubleState
from testbed.doubles.mailu import create_app as create_mailu_double

pytestmark = pytest.mark.testbed

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
TENANT = "tok-test"
MAIL_HOST = "mail.tok.test"
SSH = ("-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
       "-o", "LogLevel=ERROR", "-o", "BatchMode=yes")


@pytest.fixture
def mailu_double() -> Iterator[tuple[str, MailuDoubleState]]:
    state = MailuDoubleState()
    server = make_server("127.0.0.1", 0, create_mailu_double(state), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/{MAIL_HOST}/api/v1", state
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> tuple[SecretStore, dict[str, str]]:
    env = {"MAILFLEET_SECRETS_BACKEND": "local",
           "MAILFLEET_SECRETS_FILE": str(tmp_path / "secrets/store.enc"),
           "MAILFLEET_MASTER_KEY_FILE": str(tmp_path / "secrets/master.key")}
    secrets_store = get_store(env)
    ensure_tenant_secrets(TENANT, secrets_store)
    return secrets_store, env


def _ssh(host: Any, command: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run on the host; data goes through stdin, never the command line."""
    return subprocess.run(["ssh", *SSH, "-i", str(host.ssh_key), f"root@{host.address}", command],
                          input=stdin, capture_output=True, text=True, timeout=60, check=True)


def _deployed_mailu_env(host: Any, token: str) -> None:
    env_file = f"# Ansible managed\nDOMAIN=tok.test\nAPI=true\nAPI_TOKEN={token}\nWEB_API=/api\n"
    _ssh(host, "install -d -m 0755 /mailu && umask 077 && cat > /mailu/mailu.env", stdin=env_file)


def _rotate(tmp_path: Path, host: Any, api_url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"children": {"tenant_tok_test": {
        "hosts": {host.name: {"ansible_host": host.address, "ansible_user": "root",
                              "ansible_ssh_private_key_file": str(host.ssh_key),
                              "ansible_python_interpreter": "/usr/bin/python3"}},
        "vars": {"mailu_api_url": api_url, "mailu_api_validate_certs": False,
                 "mailu_compose_up_enabled": False, "mailu_api_wait_timeout": 10}}}}}))
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-v", "-i", str(inventory), str(REPO / "playbooks/rotate_mailu_token.yml"),
         "-e", f"tenant={TENANT}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, **env, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
             "PATH": f"{ANSIBLE_PLAYBOOK.parent}{os.pathsep}{os.environ['PATH']}"},
    )


def test_token_rotated_on_host_checked_against_the_api_then_stored(
    testbed_hosts: Any, tmp_path: Path, mailu_double: tuple[str, MailuDoubleState],
    store: tuple[SecretStore, dict[str, str]],
) -> None:
    secrets_store, env = store
    old = secrets_store.get(f"tenants/{TENANT}/mailu")
    # Staged ahead so the double (standing in for Mailu after its admin container restarted with the
    # new mailu.env) can be told the new token; the playbook keeps an already staged token.
    stage(TENANT, "mailu", secrets_store)
    new_token = secrets_store.get_field(f"tenants/{TENANT}/mailu_next", "api_token")
    api_url, double = mailu_double
    double.register(MAIL_HOST, {"api_token": new_token, "domain": "tok.test"})
    host = testbed_hosts("tok1")
    _deployed_mailu_env(host, old["api_token"])

    result = _rotate(tmp_path, host, api_url, env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]

    live = secrets_store.get(f"tenants/{TENANT}/mailu")
    assert live == {**old, "api_token": new_token}
    assert [v.version for v in secrets_store.versions(f"tenants/{TENANT}/mailu")] == [1, 2]
    assert f"tenants/{TENANT}/mailu_next" not in secrets_store.list(f"tenants/{TENANT}")
    on_host = _ssh(host, "stat -c %a /mailu/mailu.env && cat /mailu/mailu.env").stdout.splitlines()
    assert on_host[0] == "600"
    assert f"API_TOKEN={new_token}" in on_host and "DOMAIN=tok.test" in on_host and "WEB_API=/api" in on_host
    assert not any(old["api_token"] in line for line in on_host)
    assert new_token not in output and old["api_token"] not in output


def test_a_token_the_api_refuses_is_not_promoted(
    testbed_hosts: Any, tmp_path: Path, mailu_double: tuple[str, MailuDoubleState],
    store: tuple[SecretStore, dict[str, str]],
) -> None:
    secrets_store, env = store
    old = secrets_store.get(f"tenants/{TENANT}/mailu")
    api_url, double = mailu_double
    double.register(MAIL_HOST, {"api_token": old["api_token"], "domain": "tok.test"})  # not restarted
    host = testbed_hosts("tok2")
    _deployed_mailu_env(host, old["api_token"])

    result = _rotate(tmp_path, host, api_url, env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "The admin API accepts the new token" in output and "403" in output
    assert secrets_store.get(f"tenants/{TENANT}/mailu") == old  # the live token is still the old one
    assert secrets_store.exists(f"tenants/{TENANT}/mailu_next")  # a re-run resumes with the same token
    staged = secrets_store.get_field(f"tenants/{TENANT}/mailu_next", "api_token")
    assert staged not in output and old["api_token"] not in output
