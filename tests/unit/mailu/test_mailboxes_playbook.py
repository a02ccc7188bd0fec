"""playbooks/mailboxes.yml and the mailu_* modules, run by ansible-playbook against the double.

The play's API tasks run on the controller (delegate_to: localhost), so a host with a local
connection is enough: no testbed needed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mailu_fixtures import MAIL_HOST, TOKEN

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
PASSWORDS = {"jane@acme.test": "Jane-pass-0123456", "joe@acme.test": "Joe-pass-0123456"}
MAILBOXES = [
    {"email": "jane@acme.test", "password": PASSWORDS["jane@acme.test"], "quota_bytes": 2_000_000_000,
     "displayed_name": "Jane"},
    {"email": "Joe@ACME.test", "password": PASSWORDS["joe@acme.test"], "forward_enabled": True,
     "forward_destination": ["joe@elsewhere.test"]},
]


def _play(
    tmp_path: Path, api_url: str, token: str, mailboxes: list, *extra: str
) -> subprocess.CompletedProcess:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {MAIL_HOST: {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "mailu_api_url": api_url, "mailu_api_token": token,
    }}}}))
    variables = tmp_path / "mailboxes.json"
    fd = os.open(variables, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"mailu_mailboxes": mailboxes}, handle)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory),
         str(REPO / "playbooks/mailboxes.yml"), "-e", f"@{variables}", *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def _changed(run: subprocess.CompletedProcess) -> int:
    match = re.search(r"changed=(\d+)", run.stdout.split("PLAY RECAP")[-1])
    assert match, run.stdout + run.stderr
    return int(match[1])


def test_mailboxes_playbook_converges_idempotently_and_hides_passwords(tmp_path, mailu_double):
    api_url = mailu_double.base_url()
    server = mailu_double.state.servers[MAIL_HOST]

    first = _play(tmp_path, api_url, TOKEN, MAILBOXES)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert _changed(first) == 1  # one loop task, both items changed
    assert server.users["jane@acme.test"]["quota_bytes"] == 2_000_000_000
    assert server.users["joe@acme.test"]["forward_destination"] == ["joe@elsewhere.test"]
    for secret in [TOKEN, *PASSWORDS.values(), server.users["jane@acme.test"]["password"]]:
        assert secret not in first.stdout and secret not in first.stderr
    assert "jane@acme.test: changed=True" in first.stdout  # the summary names each mailbox

    # Check mode: a new mailbox and a removal are reported, nothing changes in Mailu.
    before = json.dumps(server.users, sort_keys=True)
    planned = [*MAILBOXES[:1], {"email": "joe@acme.test", "state": "absent"},
               {"email": "new@acme.test", "password": "New-pass-0123456"}]
    check = _play(tmp_path, api_url, TOKEN, planned, "--check")
    assert check.returncode == 0, check.stdout[-3000:]
    assert json.dumps(server.users, sort_keys=True) == before

    second = _play(tmp_path, api_url, TOKEN, MAILBOXES)
    assert second.returncode == 0 and _changed(second) == 0, second.stdout[-3000:]


def test_mailbox_without_password_or_with_a_wrong_token_fails_clearly(tmp_path, mailu_double):
    api_url = mailu_double.base_url()
    missing = _play(tmp_path, api_url, TOKEN, [{"email": "nopw@acme.test"}])
    assert missing.returncode != 0
    assert "nopw@acme.test" not in mailu_double.state.servers[MAIL_HOST].users

    wrong = _play(tmp_path, api_url, "wrong-token-0123456789", MAILBOXES)
    assert wrong.returncode != 0
    assert sum(len(v) for v in mailu_double.state.failures.values()) == 1  # refused once, then not sent
    assert "jane@acme.test" not in mailu_double.state.servers[MAIL_HOST].users
