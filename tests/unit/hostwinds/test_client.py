"""HostwindsClient with the HTTP layer patched: envelopes, errors, retries, redaction."""

from __future__ import annotations

import json
import logging

import pytest
import requests
from hostwinds_fakes import KEY, load

from mailfleet.hostwinds import (
    AmbiguousResultError,
    ApiError,
    ConfigurationError,
    ContractError,
    CooldownError,
    HostwindsClient,
    InstanceExistsError,
    InvalidServiceIdError,
    NotAuthorizedError,
    TransportError,
    UnknownActionError,
    UpgradeInProgressError,
)

pytestmark = pytest.mark.unit

SECRETS = (
    "root-pw-AAAA1111",
    "cfgkey-BBBB2222",
    "root-pw-CCCC3333",
    "cfgkey-DDDD4444",
    "flavor-nested-secret",
    KEY,
)
HTML = (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")


def assert_no_secrets(value: object) -> None:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    for secret in SECRETS:
        assert secret not in text
    assert '"password"' not in text and '"configkey"' not in text


# --- envelopes -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fixture", ["get_instances.json", "get_instances_bare.json", "get_instances_keyed.json"]
)
def test_list_instances_accepts_every_envelope_and_strips_secrets(client, fake_api, fixture):
    fake_api.on("get_instances", fixture)
    instances = client.list_instances()
    assert [i["srvrname"] for i in instances] == ["mf-acme-1", "mf-globex-1"]
    assert "password" not in instances[0] and "configkey" not in instances[0]
    assert "password" not in instances[0]["flavor"]
    assert_no_secrets(instances)


def test_empty_account_is_an_empty_list(client, fake_api):
    fake_api.on("get_instances", "get_instances_empty.json")
    assert client.list_instances() == []


def test_form_encoding_action_key_and_list_params(client, fake_api):
    fake_api.on("get_instances", "get_instances_empty.json")
    fake_api.on("add_instance", "mutation_ok.json")
    client.list_instances()
    assert fake_api.requests[0] == {"action": ["get_instances"], "API": [KEY]}
    client.call("add_instance", srvrname="x", ssh_keys=[1, 2])
    assert fake_api.requests[1]["ssh_keys[]"] == ["1", "2"]


def test_mutation_envelope_is_normalized(client, fake_api):
    fake_api.on("terminate", "mutation_ok.json")
    assert client.terminate(1001) == {
        "result": "success",
        "action": "Terminate",
        "message": "Server has been terminated.",
    }


def test_boolean_check(client, fake_api):
    fake_api.on("check_serviceid", "bool_true.json")
    assert client.check_serviceid(1001) is True


def test_price_list_keeps_prices_as_strings(client, fake_api):
    fake_api.on("get_price_list", "get_price_list.json")
    plans = client.price_list()
    assert plans[0]["rid"] == 101 and plans[0]["monthly"] == "4.99"


def test_location_id_by_name(client, fake_api):
    fake_api.on("get_locations", "get_locations.json")
    assert client.location_id("amsterdam") == 3
    with pytest.raises(ConfigurationError, match="known: Seattle, Dallas, Amsterdam"):
        client.location_id("Paris")


def test_instance_ips_and_rdns(client, fake_api):
    fake_api.on("get_instance_ips", "get_instance_ips.json")
    assert client.get_rdns(1001, "198.18.200.11") == "mail.acme.test"
    assert client.get_rdns(1001, "198.18.200.99") is None


def test_unknown_shape_is_a_contract_error(client, fake_api):
    fake_api.on("get_instances", {"something": 1})
    with pytest.raises(ContractError, match="contract.py"):
        client.list_instances()


# --- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fixture", ["error_not_authorized.json", "error_not_authorized_list.json"])
def test_not_authorized_names_both_causes(client, fake_api, fixture):
    fake_api.on("get_instances", fixture)
    with pytest.raises(NotAuthorizedError) as info:
        client.list_instances()
    message = str(info.value)
    assert "API key is wrong" in message and "IPv4 address" in message and "allow-list" in message
    assert KEY not in message
    assert len(fake_api.requests) == 1  # an auth error is not retried


def test_an_error_body_saying_not_authorized_is_an_authorization_problem(client, fake_api):
    fake_api.on("get_instances", [{"result": "error", "message": "Not Authorized! IP not allowed"}])
    with pytest.raises(NotAuthorizedError, match="allow-list"):
        client.list_instances()


def test_unknown_action(client, fake_api):
    with pytest.raises(UnknownActionError, match="does not know the action 'frobnicate'"):
        client.call("frobnicate")


def test_bad_serviceid_from_api(client, fake_api):
    fake_api.on("get_instance", "error_invalid_serviceid.json")
    with pytest.raises(InvalidServiceIdError, match="no instance with serviceid 4242"):
        client.get_instance(4242)


@pytest.mark.parametrize("bad", ["abc", 0, -3, "", True])
def test_bad_serviceid_is_refused_before_sending(client, fake_api, bad):
    with pytest.raises(InvalidServiceIdError, match="nothing was sent"):
        client.get_instance(bad)
    assert fake_api.requests == []


def test_generic_error_keeps_api_message(client, fake_api):
    fake_api.on("set_rdns", "error_generic.json")
    with pytest.raises(ApiError, match="Invalid hostname given"):
        client.set_rdns(1001, "198.18.200.11", "bad name")


def test_upgrade_pending_error(client, fake_api):
    fake_api.on("check_upgrade_order", {"success": False})
    fake_api.on("upgrade_instance", "error_upgrade_pending.json")
    with pytest.raises(UpgradeInProgressError, match="confirm or revert"):
        client.resize(1001, 102)


@pytest.mark.parametrize("key", ["", "   ", "two words", "tab\there"])
def test_bad_key_is_refused_locally(key):
    with pytest.raises(ConfigurationError):
        HostwindsClient(key)


def test_repr_and_errors_never_show_the_key(client, fake_api):
    assert KEY not in repr(client)
    fake_api.on("get_instances", HTML)
    with pytest.raises(TransportError) as info:
        client.list_instances()
    assert KEY not in str(info.value)


def test_wrong_url_404_is_a_configuration_error(client, fake_api):
    fake_api.on("get_instances", (404, "not found", "text/html"))
    with pytest.raises(ConfigurationError, match="api_url is probably wrong"):
        client.list_instances()
    assert len(fake_api.requests) == 1


# --- retries ---------------------------------------------------------------------------------
def test_reads_retry_html_then_succeed_with_backoff(client, fake_api, sleeps):
    fake_api.on("get_instances", HTML, (200, "<html>maintenance</html>", "text/html"), "get_instances.json")
    assert len(client.list_instances()) == 2
    assert client.calls["get_instances"] == 3
    assert sleeps == [1.0, 2.0]


def test_reads_retry_timeouts_and_give_up_bounded(client, fake_api, sleeps):
    fake_api.on("get_instance", requests.ReadTimeout("read timed out"))
    with pytest.raises(TransportError, match="after 3 attempts"):
        client.get_instance(1001)
    assert len(fake_api.requests) == 3 and sleeps == [1.0, 2.0]


def test_rate_limit_is_retried(client, fake_api):
    fake_api.on("get_price_list", (429, "slow down", "text/plain"), "get_price_list.json")
    assert len(client.price_list()) == 2


@pytest.mark.parametrize("fault", [HTML, requests.ReadTimeout("x"), (200, "<html/>", "text/html")])
def test_mutations_are_never_repeated_after_a_lost_answer(client, fake_api, fault):
    fake_api.on("reboot", fault)
    with pytest.raises(AmbiguousResultError, match="not repeated"):
        client.reboot(1001)
    assert fake_api.actions() == ["reboot"]


def test_mutation_connect_failure_is_retried_because_nothing_was_sent(client, fake_api):
    fake_api.on("reboot", requests.ConnectTimeout("connect timed out"), "mutation_ok.json")
    assert client.reboot(1001)["result"] == "success"
    assert fake_api.actions() == ["reboot", "reboot"]


def test_secrets_never_in_log_lines(client, fake_api, caplog):
    caplog.set_level(logging.DEBUG, logger="mailfleet.hostwinds")
    fake_api.on("get_instances", HTML, "get_instances.json")
    client.list_instances()
    assert caplog.records
    assert_no_secrets(caplog.text)


# --- create: never a second server ---------------------------------------------------------
def test_add_instance_refuses_an_existing_srvrname(client, fake_api):
    fake_api.on("get_instances", "get_instances.json")
    with pytest.raises(InstanceExistsError):
        client.add_instance("mf-acme-1", 101, 1, "debian-12")
    assert "add_instance" not in fake_api.actions()


def test_add_instance_finds_the_new_server_by_srvrname(client, fake_api):
    new = dict(
        load("get_instance.json")["success"],
        srvrname="mf-initech-1",
        serviceid=1003,
        status="BUILD",
        password="pw-new",
    )
    fake_api.on("get_instances", "get_instances_empty.json", "get_instances_empty.json", {"success": [new]})
    fake_api.on(
        "add_instance",
        [{"result": "success", "action": "Add Instance", "message": "Server is being Created!"}],
    )
    instance = client.add_instance("mf-initech-1", 101, 1, "debian-12")
    assert instance["serviceid"] == 1003 and "password" not in instance
    assert fake_api.actions().count("add_instance") == 1


def test_add_instance_lost_answer_is_looked_up_not_resent(client, fake_api):
    new = dict(load("get_instance.json")["success"], srvrname="mf-initech-1", serviceid=1003)
    fake_api.on("get_instances", "get_instances_empty.json", {"success": [new]})
    fake_api.on("add_instance", requests.ReadTimeout("lost"))
    assert client.add_instance("mf-initech-1", 101, 1, "debian-12")["serviceid"] == 1003
    assert fake_api.actions().count("add_instance") == 1


def test_add_instance_lost_and_never_seen_is_ambiguous(client, fake_api):
    fake_api.on("get_instances", "get_instances_empty.json")
    fake_api.on("add_instance", HTML)
    with pytest.raises(AmbiguousResultError, match="will not create a second server"):
        client.add_instance("mf-initech-1", 101, 1, "debian-12", lookup_timeout=20)
    assert fake_api.actions().count("add_instance") == 1


def test_terminate_lost_answer_settled_by_lookup(client, fake_api):
    fake_api.on("terminate", requests.ReadTimeout("lost"))
    fake_api.on("get_instance", "error_invalid_serviceid.json")
    assert client.terminate(1001)["result"] == "success"
    assert fake_api.actions().count("terminate") == 1


# --- main IP and resize ----------------------------------------------------------------------
def _instance(**changes):
    return {"success": dict(load("get_instance.json")["success"], **changes)}


def test_change_main_ip_waits_for_the_new_address(client, fake_api):
    fake_api.on("get_instance", _instance(), _instance(), _instance(main_ip="198.18.200.77"))
    fake_api.on("change_main_ip", "mutation_ok.json")
    assert client.change_main_ip(1001) == "198.18.200.77"


def test_change_main_ip_silent_cooldown_fails_clearly(client, fake_api):
    fake_api.on("get_instance", _instance())
    fake_api.on("change_main_ip", "mutation_ok.json")
    with pytest.raises(CooldownError, match="silent cooldown") as info:
        client.change_main_ip(1001, timeout=30)
    assert "198.18.200.11" in str(info.value)
    assert fake_api.actions().count("change_main_ip") == 1


def test_resize_upgrades_then_confirms(client, fake_api):
    fake_api.on("check_upgrade_order", {"success": False})
    fake_api.on("upgrade_instance", "mutation_ok.json")
    fake_api.on("upgrade_server", "mutation_ok.json")
    fake_api.on("confirm_upgrade", "mutation_ok.json")
    fake_api.on(
        "get_instance",
        _instance(status="RESIZED", product_id=102),
        _instance(status="ACTIVE", product_id=102),
    )
    assert client.resize(1001, 102)["product_id"] == 102
    assert [a for a in fake_api.actions() if a != "get_instance"] == [
        "check_upgrade_order",
        "upgrade_instance",
        "upgrade_server",
        "confirm_upgrade",
    ]
    assert fake_api.requests[1]["rid"] == ["102"]


def test_resize_refuses_with_an_open_order(client, fake_api):
    fake_api.on("check_upgrade_order", "bool_true.json")
    with pytest.raises(UpgradeInProgressError):
        client.resize(1001, 102)
    assert "upgrade_instance" not in fake_api.actions()
