"""The `hostwinds` inventory plugin, in the style of vultr.cloud's plugin tests: the HTTP layer is
patched (FakeHostwinds + JSON fixtures) and the plugin is run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, inventory_loader
from ansible.utils.collection_loader import AnsibleCollectionConfig
from hostwinds_fakes import KEY, FakeHostwinds, load

import mailfleet.hostwinds.client as client_module

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
if AnsibleCollectionConfig.collection_finder is None:  # once per process, as the ansible CLIs do
    init_plugin_loader([str(REPO / "collections")])
HOSTILE = "{{ lookup('pipe','id') }}"


@pytest.fixture
def api(monkeypatch) -> FakeHostwinds:
    fake = FakeHostwinds()
    fake.on("get_price_list", "get_price_list.json")
    fake.on("get_instances", "get_instances.json")

    def session() -> requests.Session:
        s = requests.Session()
        s.mount("https://", fake)
        s.mount("http://", fake)
        return s

    monkeypatch.setattr(client_module, "ipv4_session", session)
    return fake


def run(tmp_path: Path, config: str, name: str = "test.hostwinds.yml", cache: bool = True) -> InventoryData:
    path = tmp_path / name
    path.write_text(
        "plugin: mailfleet.fleet.hostwinds\napi_url: https://api.hostwinds.invalid/cloud/api.php\n" + config)
    plugin = inventory_loader.get("mailfleet.fleet.hostwinds")
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path), cache=cache)
    if getattr(plugin, "_cache", None):
        plugin.update_cache_if_changed()  # as InventoryManager does after parse()
    return inventory


def hostvars(inventory: InventoryData, host: str) -> dict:
    return inventory.get_host(host).get_vars()


def groups(inventory: InventoryData) -> dict[str, list[str]]:
    return {name: sorted(h.name for h in g.get_hosts()) for name, g in inventory.groups.items()}


KEYCFG = f"api_key: {KEY}\n"


def test_verify_file_names(tmp_path):
    plugin = inventory_loader.get("mailfleet.fleet.hostwinds")
    for name, ok in (("a.hostwinds.yml", True), ("hostwinds.yaml", True), ("hcloud.yml", False)):
        (tmp_path / name).write_text("plugin: mailfleet.fleet.hostwinds\n")
        assert plugin.verify_file(str(tmp_path / name)) is ok


def test_hosts_groups_and_hostvars(tmp_path, api):
    api.on(
        "get_instances",
        {
            "success": [
                dict(load("get_instance.json")["success"], status="ACTIVE"),
                dict(load("get_instances.json")["success"][1], status="ACTIVE"),
            ]
        },
    )
    inventory = run(tmp_path, KEYCFG)
    g = groups(inventory)
    assert g["hostwinds"] == ["mf-acme-1", "mf-globex-1"]
    assert g["location_seattle"] == ["mf-acme-1"] and g["location_amsterdam"] == ["mf-globex-1"]
    assert g["status_active"] == ["mf-acme-1", "mf-globex-1"]
    assert g["tenant_acme"] == ["mf-acme-1"] and g["tenant_globex"] == ["mf-globex-1"]
    v = hostvars(inventory, "mf-acme-1")
    assert v["ansible_host"] == "198.18.200.11"
    assert v["hostwinds_serviceid"] == 1001 and v["hostwinds_location"] == "Seattle"
    assert v["hostwinds_plan"] == "Unmetered SSD VPS 1 GB" and v["hostwinds_plan_rid"] == 101
    assert v["hostwinds_monthly_price"] == "4.99"
    assert v["hostwinds_public_ipv6"] == "2001:db8::11" and v["hostwinds_private_ipv4"] == "10.0.0.11"
    assert not any(
        k.startswith(("password", "configkey", "hostwinds_password", "hostwinds_configkey")) for k in v
    )
    assert "root-pw" not in json.dumps(v, default=str) and "cfgkey" not in json.dumps(v, default=str)
    # one price list + one instance list per refresh, no location lookup for known ids
    assert api.actions() == ["get_price_list", "get_instances"]


def test_bare_and_keyed_envelopes(tmp_path, api):
    for fixture in ("get_instances_bare.json", "get_instances_keyed.json"):
        api.on("get_instances", fixture)
        assert "mf-acme-1" in groups(run(tmp_path, KEYCFG))["hostwinds"]


def test_empty_account(tmp_path, api):
    api.on("get_instances", "get_instances_empty.json")
    inventory = run(tmp_path, KEYCFG)
    assert groups(inventory)["hostwinds"] == []


@pytest.mark.parametrize(
    ("fixture", "match"),
    [
        ("error_not_authorized.json", "allow-list"),
        ("error_invalid_action.json", "does not know the action"),
        ({"weird": True}, "shape mailfleet does not know"),
    ],
)
def test_api_errors_are_clear_parser_errors(tmp_path, api, fixture, match):
    api.on("get_price_list", fixture)
    with pytest.raises(AnsibleParserError, match=match) as info:
        run(tmp_path, KEYCFG)
    assert KEY not in str(info.value)


def test_html_bodies_are_retried_then_fail_clearly(tmp_path, api, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    api.on("get_instances", (502, "<html>bad gateway</html>", "text/html"))
    with pytest.raises(AnsibleParserError, match="no usable answer.*after 3 attempts"):
        run(tmp_path, KEYCFG)
    assert api.actions().count("get_instances") == 3


def test_missing_key_is_a_clear_error(tmp_path, api, monkeypatch):
    monkeypatch.delenv("HOSTWINDS_API_KEY", raising=False)
    with pytest.raises(AnsibleError, match="'api_key' .* not provided"):
        run(tmp_path, "")
    assert api.requests == []


def test_key_from_env(tmp_path, api, monkeypatch):
    monkeypatch.setenv("HOSTWINDS_API_KEY", "from-env-key")
    run(tmp_path, "")
    assert api.requests[0]["API"] == ["from-env-key"]


def test_templated_key(tmp_path, api):
    run(tmp_path, "api_key: \"{{ 'templ' ~ 'ated-key' }}\"\n")
    assert api.requests[0]["API"] == ["templated-key"]


def test_filters(tmp_path, api):
    assert groups(run(tmp_path, KEYCFG + "locations: [amsterdam]\nconnect_with: public_ipv4\n"))[
        "hostwinds"
    ] == ["mf-globex-1"]
    assert groups(run(tmp_path, KEYCFG + "statuses: [active]\n"))["hostwinds"] == ["mf-acme-1"]
    assert groups(run(tmp_path, KEYCFG + "name_regex: '^mf-glo'\n"))["hostwinds"] == ["mf-globex-1"]
    assert groups(run(tmp_path, KEYCFG + "tenants: [acme]\n"))["hostwinds"] == ["mf-acme-1"]


@pytest.mark.parametrize(
    ("config", "match"), [("name_regex: '('\n", "name_regex"), ("tenants: ['Bad Tenant']\n", "tenant slug")]
)
def test_bad_options_fail_before_any_call(tmp_path, api, config, match):
    with pytest.raises(AnsibleParserError, match=match):
        run(tmp_path, KEYCFG + config)
    assert api.requests == []


def test_connect_with_and_hostname_source(tmp_path, api):
    inventory = run(tmp_path, KEYCFG + "connect_with: private_ipv4\nhostname_source: serviceid\n")
    # mf-globex-1 has no private address: left out, not fatal
    assert groups(inventory)["hostwinds"] == ["1001"]
    assert hostvars(inventory, "1001")["ansible_host"] == "10.0.0.11"
    inventory = run(tmp_path, KEYCFG + "connect_with: hostname\nhostname_source: hostname\n")
    assert hostvars(inventory, "hwsrv-1002.hostwindsdns.com")["ansible_host"] == "hwsrv-1002.hostwindsdns.com"


def test_a_host_without_address_is_reported_once_and_skipped(tmp_path, api, monkeypatch):
    rows = load("get_instances.json")["success"]
    rows += [dict(rows[1], srvrname=f"mf-building-{i}", main_ip=None, ips=[]) for i in range(1, 4)]
    api.on("get_instances", {"success": rows})
    warnings: list[str] = []
    plugin_display = inventory_loader.get("mailfleet.fleet.hostwinds").display
    monkeypatch.setattr(type(plugin_display), "warning", lambda self, msg, *a, **k: warnings.append(msg))
    inventory = run(tmp_path, KEYCFG)
    assert groups(inventory)["hostwinds"] == ["mf-acme-1", "mf-globex-1"]
    assert len(warnings) == 1 and "3 instance(s)" in warnings[0] and "mf-building-2" in warnings[0]


def test_attribute_allow_list_and_prefix(tmp_path, api):
    inventory = run(tmp_path, KEYCFG + "hostvars_prefix: hw_\nattributes: [serviceid, status, password]\n")
    v = hostvars(inventory, "mf-acme-1")
    assert {k for k in v if k.startswith("hw_")} == {
        "hw_serviceid",
        "hw_status",
        "hw_location",
        "hw_region",
        "hw_tenant",
        "hw_plan",
        "hw_plan_rid",
        "hw_monthly_price",
        "hw_public_ipv4",
        "hw_public_ipv6",
        "hw_private_ipv4",
        "hw_mail_hostname",
    }


def test_constructed_compose_groups_keyed_groups(tmp_path, api):
    inventory = run(
        tmp_path,
        KEYCFG
        + (
            "compose:\n  monthly: hostwinds_monthly_price | float\n"
            "groups:\n  big: hostwinds_ram >= 2048\n"
            "keyed_groups:\n  - key: hostwinds_plan_rid | string\n    prefix: plan\n"
        ),
    )
    g = groups(inventory)
    assert g["big"] == ["mf-globex-1"] and g["plan_101"] == ["mf-acme-1"] and g["plan_102"] == ["mf-globex-1"]
    assert hostvars(inventory, "mf-acme-1")["monthly"] == 4.99


def test_hostile_srvrname_stays_text(tmp_path, api):
    rows = load("get_instances.json")["success"]
    rows[0]["srvrname"] = HOSTILE
    rows[0]["hostname"] = HOSTILE
    api.on("get_instances", {"success": rows})
    inventory = run(tmp_path, KEYCFG + "compose:\n  label: hostwinds_srvrname\n")
    assert HOSTILE in inventory.hosts
    v = hostvars(inventory, HOSTILE)
    assert v["hostwinds_srvrname"] == HOSTILE and v["label"] == HOSTILE
    assert v["hostwinds_tenant"] is None


def test_cache_miss_then_hit_makes_no_calls(tmp_path, api):
    cache = f"cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: {tmp_path}/cache\n"
    first = run(tmp_path, KEYCFG + cache)
    assert api.actions() == ["get_price_list", "get_instances"]
    second = run(tmp_path, KEYCFG + cache)
    assert api.actions() == ["get_price_list", "get_instances"]  # nothing more: a cache hit
    assert groups(first) == groups(second)
    files = list((tmp_path / "cache").iterdir())
    mtime = files[0].stat().st_mtime_ns
    assert "root-pw" not in "".join(p.read_text() for p in files)
    run(tmp_path, KEYCFG + cache)
    assert files[0].stat().st_mtime_ns == mtime  # a hit does not rewrite the entry (no timer reset)


def test_cache_refresh_when_ansible_asks(tmp_path, api):
    cache = f"cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: {tmp_path}/cache\n"
    run(tmp_path, KEYCFG + cache)
    run(tmp_path, KEYCFG + cache, cache=False)  # --flush-cache
    assert api.actions().count("get_instances") == 2
