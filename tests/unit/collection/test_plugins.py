"""The collection mailfleet.fleet as Ansible sees it: every plugin documented by ansible-doc, and the
modules of all three families failing with the same keys (msg, error, status)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from testbed.doubles.hostwinds import HostwindsState
from testbed.doubles.hostwinds import create_app as hostwinds_app
from testbed.doubles.mailu import MailuDoubleState
from testbed.doubles.mailu import create_app as mailu_app

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
COLLECTION = REPO / "collections" / "ansible_collections" / "mailfleet" / "fleet"
BIN = Path(sys.executable).parent
PLUGIN_DIRS = {"module": "modules", "inventory": "inventory", "lookup": "lookup"}


def plugins(kind: str) -> list[str]:
    folder = COLLECTION / "plugins" / PLUGIN_DIRS[kind]
    return sorted(f"mailfleet.fleet.{p.stem}" for p in folder.glob("*.py") if not p.stem.startswith("_"))


def ansible(tool: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", **env}
    return subprocess.run([str(BIN / tool), *args], capture_output=True, text=True, env=full_env,
                          cwd=REPO, timeout=300)


def test_ansible_cfg_names_only_folders_that_exist():
    import configparser

    config = configparser.ConfigParser()
    config.read(REPO / "ansible.cfg")
    path_settings = ("roles_path", "collections_path", "library", "module_utils", "inventory_plugins",
                     "lookup_plugins", "filter_plugins", "action_plugins", "callback_plugins")
    named = {k: v for k, v in config["defaults"].items() if k in path_settings}
    assert "collections_path" in named
    for key, value in named.items():
        for folder in value.split(":"):
            assert (REPO / folder).is_dir(), f"ansible.cfg {key} names {folder}, which does not exist"


@pytest.mark.parametrize("kind", sorted(PLUGIN_DIRS))
def test_ansible_doc_documents_every_plugin(kind):
    names = plugins(kind)
    assert names, f"no {kind} plugins found in the collection"
    # One run per kind: ansible-doc exits 0 and warns about a plugin it cannot document, so each
    # plugin must come back with its documentation and nothing may be warned about.
    run = ansible("ansible-doc", "--json", "-t", kind, *names)
    assert run.returncode == 0 and "WARNING" not in run.stderr, run.stderr
    docs = json.loads(run.stdout)
    assert sorted(docs) == names
    for name in names:
        assert docs[name]["doc"]["short_description"] and docs[name]["doc"]["options"], name


def test_doc_fragments_document_the_shared_options_once():
    run = ansible("ansible-doc", "--json", "-t", "module", "mailfleet.fleet.hostwinds_rdns",
                  "mailfleet.fleet.mailu_api_wait")
    assert run.returncode == 0, run.stderr
    docs = json.loads(run.stdout)
    rdns = docs["mailfleet.fleet.hostwinds_rdns"]["doc"]
    shared = {"api_key", "api_url", "api_timeout", "poll_interval", "name", "serviceid"}
    assert shared | {"rdns"} <= set(rdns["options"])
    wait = docs["mailfleet.fleet.mailu_api_wait"]["doc"]
    assert {"api_url", "api_token", "validate_certs", "ca_path", "timeout"} <= set(wait["options"])
    assert wait["options"]["timeout"]["default"] == 10  # a module may change a fragment's default
    assert any("delegate_to: localhost" in note for note in wait["notes"])


@pytest.fixture
def doubles(tmp_path):
    """The Hostwinds and Mailu doubles on loopback ports."""
    mailu = MailuDoubleState(tmp_path / "mailu.json")
    mailu.register("mail.acme.test", {"api_token": "the-right-token-123", "domain": "acme.test",
                                      "hostnames": ["mail.acme.test"]})
    servers = [make_server("127.0.0.1", 0, app, threaded=True)
               for app in (hostwinds_app(HostwindsState()), mailu_app(state=mailu))]
    threads = [threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield {
        "hostwinds": f"http://127.0.0.1:{servers[0].server_port}/cloud/api.php",
        "mailu": f"http://127.0.0.1:{servers[1].server_port}/mail.acme.test/api/v1",
    }
    for server in servers:
        server.shutdown()
        server.server_close()


def test_every_family_fails_with_msg_error_and_status(tmp_path, doubles):
    out = tmp_path / "results.json"
    play = tmp_path / "play.yml"
    play.write_text(f"""
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - mailfleet.fleet.hostwinds_instance_info:
        {{api_url: "{doubles['hostwinds']}", api_key: not-the-key-123}}
      register: hostwinds
      ignore_errors: true
    - mailfleet.fleet.mailu_domain:
        {{api_url: "{doubles['mailu']}", api_token: wrong-token-123, name: acme.test}}
      register: mailu
      ignore_errors: true
    - mailfleet.fleet.dns_mail_records: {{host: "not a host"}}
      register: dns
      ignore_errors: true
    - mailfleet.fleet.mailu_user: {{api_url: "{doubles['mailu']}", api_token: the-right-token-123,
                                   email: "new@acme.test"}}
      register: invalid
      ignore_errors: true
    - ansible.builtin.copy:
        dest: "{out}"
        content: >-
          {{{{ {{'hostwinds': hostwinds, 'mailu': mailu, 'dns': dns, 'invalid': invalid}} | to_json }}}}
        mode: "0600"
""")
    run = ansible("ansible-playbook", "-i", "localhost,", "-c", "local", str(play))
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(out.read_text())
    for name, result in results.items():
        assert result["failed"] is True, name
        assert {"msg", "error", "status"} <= set(result), (name, result)
        assert "Traceback" not in result["msg"] and "module_stderr" not in result, (name, result)
    assert results["hostwinds"]["error"] == "NotAuthorizedError" and results["hostwinds"]["status"] is None
    assert results["mailu"]["error"] == "MailuAuthError" and results["mailu"]["status"] == 403
    assert "not-the-key-123" not in json.dumps(results) and "wrong-token-123" not in json.dumps(results)
    assert results["dns"]["status"] is None and results["dns"]["error"].endswith("Error")
    assert results["invalid"]["error"] == "ValidationError"
    assert results["invalid"]["msg"].startswith("Invalid input:")
    assert "Nothing was changed" in results["invalid"]["msg"]
