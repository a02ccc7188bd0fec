"""`ansible-inventory -i <file>.hostwinds.yml --list` against the double served on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.doubles.hostwinds import DEFAULT_KEY, Fault

pytestmark = [pytest.mark.unit, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
HOSTILE = "{{ lookup('pipe','id') }}"


def ansible(tool: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run an Ansible CLI as an engineer does: the repository's ansible.cfg and nothing else."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    full_env.update({"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), **(env or {})})
    full_env.pop("HOSTWINDS_API_KEY", None)
    return subprocess.run(
        [str(BIN / tool), *args], capture_output=True, text=True, env=full_env, cwd=REPO, timeout=100
    )


def unwrap(value):
    """ansible-core 2.19 prints untrusted (unsafe) strings as {"__ansible_unsafe": "..."}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@pytest.fixture
def seeded(double):
    state = double.state
    state.seed(6, tenants=3)
    hostile = state._new_instance(HOSTILE, 102, 3, "debian-12")
    hostile.update(status="ACTIVE", main_ip="198.19.9.9", ips=[{"ip": "198.19.9.9"}], ready_at=None)
    state._new_instance("mf-newco-1", 101, 2, "debian-12")  # still BUILD, no address yet
    return double


def config(tmp_path: Path, double, extra: str = "") -> Path:
    path = tmp_path / "fleet.hostwinds.yml"
    path.write_text(
        f"plugin: mailfleet.fleet.hostwinds\napi_url: {double.url}\napi_key: {DEFAULT_KEY}\n{extra}")
    return path


def test_ansible_doc_documents_the_plugin():
    result = ansible("ansible-doc", "-t", "inventory", "mailfleet.fleet.hostwinds")
    assert result.returncode == 0, result.stderr
    for word in (
        "HOSTWINDS_API_KEY",
        "HOSTWINDS_API_URL",
        "connect_with",
        "hostvars_prefix",
        "keyed_groups",
        "cache_timeout",
        "tenant_<tenant>",
        "EXAMPLES",
    ):
        assert word in result.stdout


def test_list_gives_documented_groups_and_hostvars_and_no_secrets(tmp_path, seeded):
    seeded.state.calls.clear()
    result = ansible("ansible-inventory", "-i", str(config(tmp_path, seeded)), "--list")
    assert result.returncode == 0, result.stderr
    for text in (result.stdout, result.stderr):
        assert "password" not in text and "configkey" not in text
        for record in seeded.state.instances.values():
            assert record["password"] not in text and record["configkey"] not in text
    data = unwrap(json.loads(result.stdout))
    hosts = data["hostwinds"]["hosts"]
    assert sorted(hosts) == sorted(
        [
            "mf-tenant000-1",
            "mf-tenant001-1",
            "mf-tenant002-1",
            "mf-tenant000-2",
            "mf-tenant001-2",
            "mf-tenant002-2",
            HOSTILE,
        ]
    )
    assert sorted(data["tenant_tenant001"]["hosts"]) == ["mf-tenant001-1", "mf-tenant001-2"]
    assert {"location_seattle", "location_dallas", "location_amsterdam", "status_active"} <= set(data)
    assert {"region_us", "region_eu"} <= set(data) and "region_asia" not in data
    v = data["_meta"]["hostvars"]["mf-tenant001-1"]
    assert v["ansible_host"] == v["hostwinds_main_ip"] == v["hostwinds_public_ipv4"]
    assert (v["hostwinds_location"], v["hostwinds_plan"], v["hostwinds_monthly_price"]) == (
        "Dallas",
        "Unmetered SSD VPS 2 GB",
        "9.99",
    )
    assert v["hostwinds_tenant"] == "tenant001"
    assert data["_meta"]["hostvars"][HOSTILE]["hostwinds_srvrname"] == HOSTILE  # text, not run
    assert "mf-newco-1" in result.stderr and result.stderr.count("left out") == 1  # reported once
    assert seeded.state.calls == {"get_price_list": 1, "get_instances": 1}


def test_hostile_label_is_never_templated_in_a_play(tmp_path, seeded):
    marker = tmp_path / "pwned"
    state = seeded.state
    evil = state._new_instance("{{ lookup('pipe', 'touch " + str(marker) + "') }}", 101, 1, "debian-12")
    evil.update(status="ACTIVE", main_ip="198.19.9.10", ips=[{"ip": "198.19.9.10"}], ready_at=None)
    result = ansible(
        "ansible",
        "-i",
        str(config(tmp_path, seeded)),
        "all",
        "-c",
        "local",
        "-m",
        "ansible.builtin.debug",
        "-a",
        "msg='{{ inventory_hostname }} {{ hostwinds_srvrname }}'",
    )
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


def test_cached_listing_makes_no_calls(tmp_path, seeded):
    extra = f"cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: {tmp_path}/cache\n"
    path = config(tmp_path, seeded, extra)
    cold = ansible("ansible-inventory", "-i", str(path), "--list")
    seeded.state.calls.clear()
    warm = ansible("ansible-inventory", "-i", str(path), "--list")
    assert cold.returncode == warm.returncode == 0
    assert json.loads(cold.stdout) == json.loads(warm.stdout)
    assert sum(seeded.state.calls.values()) == 0


FAULTS = [
    pytest.param(Fault("html", count=None), DEFAULT_KEY, "no usable answer", id="html-page"),
    pytest.param(Fault("timeout", count=None, delay=3), DEFAULT_KEY, "no usable answer", id="timeout"),
    pytest.param(Fault("http_500", count=None), DEFAULT_KEY, "no usable answer", id="error-500"),
    pytest.param(Fault("not_authorized", count=None), DEFAULT_KEY, "allow-list", id="not-authorized-list"),
    pytest.param(None, "a-key-hostwinds-does-not-know", "allow-list", id="not-authorized-bare"),
]


def _first_problem(stderr: str) -> str:
    """The first warning or error Ansible prints (the client's retry log lines come before)."""
    lines = [line for line in stderr.splitlines() if line.startswith(("[WARNING]", "[ERROR]", "ERROR"))]
    return lines[0] if lines else ""


@pytest.mark.parametrize(("fault", "key", "match"), FAULTS)
def test_api_failures_stop_ansible_inventory_with_the_plugins_message(tmp_path, seeded, fault, key, match):
    if fault is not None:
        seeded.state.faults.append(fault)
    source = config(tmp_path, seeded, "timeout: 1\n").read_text().replace(DEFAULT_KEY, key)
    (tmp_path / "fleet.hostwinds.yml").write_text(source)
    result = ansible("ansible-inventory", "-i", str(tmp_path / "fleet.hostwinds.yml"), "--list")
    assert result.returncode != 0, result.stdout
    assert "hostwinds inventory:" in _first_problem(result.stderr), result.stderr
    assert match in result.stderr.replace("\n", " ")
    assert key not in result.stderr + result.stdout


@pytest.mark.parametrize(("fault", "key", "match"), [FAULTS[0], FAULTS[3]])
def test_api_failures_stop_ansible_playbook_before_any_play(tmp_path, seeded, fault, key, match):
    seeded.state.faults.append(fault)
    play = tmp_path / "play.yml"
    play.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n")
    result = ansible("ansible-playbook", "-i", str(config(tmp_path, seeded, "timeout: 1\n")), str(play))
    assert result.returncode != 0, result.stdout
    assert "hostwinds inventory:" in _first_problem(result.stderr), result.stderr
    assert match in result.stderr.replace("\n", " ")
    assert "PLAY RECAP" not in result.stdout


def test_a_slow_answer_is_retried_and_listing_succeeds(tmp_path, seeded):
    seeded.state.faults.append(Fault("timeout", "get_instances", delay=2.5))
    result = ansible("ansible-inventory", "-i", str(config(tmp_path, seeded, "timeout: 1\n")), "--list")
    assert result.returncode == 0, result.stderr
    assert seeded.state.calls["get_instances"] == 2


def test_the_engineer_inventory_gives_the_roles_their_variables_without_host_vars(tmp_path, seeded):
    """`-i inventory/<name>.hostwinds.yml`: the plugin's variables and inventory/group_vars/all are
    all site.yml needs per host (mail host from the PTR provision.yml set, tenant from the label)."""
    record = next(r for r in seeded.state.instances.values() if r["srvrname"] == "mf-tenant001-1")
    record["ips"][0]["rdns"] = "mail.tenant001.example.test"
    (tmp_path / "group_vars").symlink_to(REPO / "inventory" / "group_vars")
    source = config(tmp_path, seeded)
    result = ansible(
        "ansible",
        "-i",
        str(source),
        "mf-tenant001-1",
        "-c",
        "local",
        "-m",
        "ansible.builtin.debug",
        "-a",
        "msg={{ [mailu_hostnames, mailu_domain, letsencrypt_names, dns_mail_host, mailu_tenant] | to_json }}",
        env={"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [play] = json.loads(result.stdout)["plays"]
    shown = json.loads(play["tasks"][0]["hosts"]["mf-tenant001-1"]["msg"])
    assert shown == [
        ["mail.tenant001.example.test"],
        "tenant001.example.test",
        ["mail.tenant001.example.test", "mta-sts.tenant001.example.test"],
        "mail.tenant001.example.test",
        "tenant001",
    ]
