"""The Hostwinds double follows the contract, and the real client copes with its faults.

The double runs on a loopback port; the client talks real HTTP over IPv4 to it. The double's clock
is manual: the client's sleeps move it, so BUILD -> ACTIVE and IP changes take no real time.
"""

from __future__ import annotations

import ipaddress

import pytest

from mailfleet.hostwinds import (
    AmbiguousResultError,
    CooldownError,
    HostwindsClient,
    InvalidServiceIdError,
    NotAuthorizedError,
    TransportError,
    UnknownActionError,
    UpgradeInProgressError,
)
from testbed.doubles.hostwinds import DEFAULT_KEY, Fault, HostwindsState, create_app

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

FORM = {"action": "get_instances", "API": DEFAULT_KEY}


@pytest.fixture
def client(double, double_client) -> HostwindsClient:
    double_client._monotonic = double.state.clock.now
    return double_client


def _raw(body=None, json=None, remote="127.0.0.1", state=None):
    app = create_app(state or HostwindsState())
    return app.test_client().post(
        "/cloud/api.php", data=body, json=json, environ_base={"REMOTE_ADDR": remote}
    )


# --- contract: transport and authorization ---------------------------------------------------
def test_every_answer_is_labelled_as_the_double():
    assert _raw(FORM).headers["X-Mailfleet-Double"] == "hostwinds"
    assert _raw({"action": "nope", "API": "bad"}).headers["X-Mailfleet-Double"] == "hostwinds"


def test_a_json_body_gets_the_authorization_error():
    answer = _raw(json=FORM)
    assert answer.status_code == 200
    assert answer.json == {"result": "error", "action": "Authorization", "message": "Not Authorized!"}


@pytest.mark.parametrize(
    ("key", "remote"),
    [
        ("wrong", "127.0.0.1"),
        (DEFAULT_KEY, "::1"),
        (DEFAULT_KEY, "::ffff:127.0.0.1"),
        (DEFAULT_KEY, "10.1.2.3"),
    ],
)
def test_key_and_ipv4_allow_list(key, remote):
    answer = _raw({"action": "get_instances", "API": key}, remote=remote)
    assert answer.json["message"] == "Not Authorized!"


def test_unknown_action_and_bad_serviceid_bodies():
    assert _raw({"action": "frobnicate", "API": DEFAULT_KEY}).json == [
        {"result": "error", "message": "Invalid Action.", "ERROR": "6734"}
    ]
    body = _raw({"action": "get_instance", "API": DEFAULT_KEY, "serviceid": "999"}).json
    assert body[0]["message"] == "A valid serviceid is required."


def test_raw_responses_carry_the_secrets_the_client_must_strip():
    state = HostwindsState()
    state.seed(1)
    instance = _raw(FORM, state=state).json["success"][0]
    assert instance["password"] and instance["configkey"]


def test_seeded_plans_locations_prices_as_strings(client):
    plans = client.price_list()
    assert [p["rid"] for p in plans] == [101, 102, 103, 104, 105]
    assert all(isinstance(p[k], str) for p in plans for k in ("monthly", "annually"))
    assert plans[1]["monthly"] == "9.99" and plans[1]["annually"] == "119.88"
    assert [loc["name"] for loc in client.locations()] == ["Seattle", "Dallas", "Amsterdam"]


# --- lifecycle through the real client ---------------------------------------------------------
def test_create_waits_build_to_active_and_strips_secrets(client, double):
    created = client.add_instance("mf-acme-1", 101, client.location_id("Dallas"), "debian-12")
    assert created["status"] == "BUILD" and "password" not in created and "configkey" not in created
    active = client.wait_for_status(created["serviceid"], {"ACTIVE"}, timeout=300)
    assert ipaddress.ip_address(active["main_ip"]) in ipaddress.ip_network("198.19.0.0/16")
    assert double.state.clock.now() >= 30  # the build took the double's 30 s, on its own clock
    assert len(double.state.instances) == 1


def test_a_held_build_stays_build_until_it_is_let_go(client, double):
    import requests

    base = double.url.rsplit("/cloud", 1)[0]
    assert requests.post(f"{base}/_double/builds", json={"hold": True}, timeout=5).json() == {"hold": True}
    sid = client.add_instance("mf-acme-1", 101, client.location_id("Dallas"), "debian-12")["serviceid"]
    double.state.clock.advance(3600)
    assert client.get_instance(sid)["status"] == "BUILD"
    requests.post(f"{base}/_double/builds", json={"hold": False}, timeout=5)
    assert client.get_instance(sid)["status"] == "ACTIVE"


def test_terminate_then_the_id_is_invalid(client, double):
    double.state.seed(1)
    sid = next(iter(double.state.instances))
    client.terminate(sid)
    with pytest.raises(InvalidServiceIdError):
        client.get_instance(sid)
    assert double.state.instances == {}


def test_change_main_ip_after_about_a_minute(client, double):
    double.state.seed(1)
    sid = next(iter(double.state.instances))
    old = client.get_instance(sid)["main_ip"]
    new = client.change_main_ip(sid)
    assert new != old and client.get_instance(sid)["main_ip"] == new
    assert double.state.clock.now() >= 60


def test_resize_then_confirm(client, double):
    double.state.seed(1)
    sid = next(iter(double.state.instances))
    resized = client.resize(sid, 103)
    assert (resized["status"], resized["product_id"], resized["ram"]) == ("ACTIVE", 103, 4096)
    assert client.upgrade_order_open(sid) is False


def test_only_one_upgrade_order_at_a_time(client, double):
    double.state.seed(1)
    sid = next(iter(double.state.instances))
    client.call("upgrade_instance", serviceid=sid, rid=103)
    with pytest.raises(UpgradeInProgressError):
        client.resize(sid, 104)


def test_rdns_is_set_and_read_back(client, double):
    double.state.seed(1)
    sid = next(iter(double.state.instances))
    ip = client.get_instance(sid)["main_ip"]
    assert client.get_rdns(sid, ip) is None
    client.set_rdns(sid, ip, "mail.acme.test")
    assert client.get_rdns(sid, ip) == "mail.acme.test"


def test_unknown_action_through_the_client(client):
    with pytest.raises(UnknownActionError):
        client.call("buy_extra_ip")


def test_seed_many_and_count_calls(client, double):
    double.state.seed(250)
    assert len(client.list_instances()) == 250
    assert double.state.calls["get_instances"] == 1


# --- faults --------------------------------------------------------------------------------------
def test_html_bodies_on_reads_are_retried(client, double):
    double.state.faults.append(Fault("html", "get_instances", count=2))
    assert client.list_instances() == []
    assert double.state.calls["get_instances"] == 3


def test_persistent_html_fails_clearly_and_bounded(client, double):
    double.state.faults.append(Fault("html", None, count=None))
    with pytest.raises(TransportError, match="after 3 attempts.*not JSON"):
        client.price_list()


def test_a_slow_answer_past_the_read_timeout_is_retried_never_hangs(double):
    double.state.faults.append(Fault("timeout", "get_price_list", count=1, delay=1.5))
    quick = HostwindsClient(DEFAULT_KEY, api_url=double.url, timeout=(1.0, 0.5), backoff=0.01)
    assert len(quick.price_list()) == 5  # the second attempt, after the first timed out
    assert quick.calls["get_price_list"] == 2


def test_injected_not_authorized(client, double):
    double.state.faults.append(Fault("not_authorized", "get_instances"))
    with pytest.raises(NotAuthorizedError, match="allow-list"):
        client.list_instances()


def test_lost_answer_to_add_instance_never_makes_a_second_server(client, double):
    double.state.faults.append(Fault("lost_after", "add_instance"))
    created = client.add_instance("mf-acme-1", 101, 1, "debian-12")
    assert created["srvrname"] == "mf-acme-1"
    assert double.state.calls["add_instance"] == 1 and len(double.state.instances) == 1


def test_add_instance_timeout_then_rerun_never_makes_a_second_server(double):
    double.state.faults.append(Fault("timeout", "add_instance", delay=1.5))
    quick = HostwindsClient(
        DEFAULT_KEY, api_url=double.url, timeout=(1.0, 0.5), backoff=0.01, poll_interval=0.2
    )
    created = quick.add_instance("mf-acme-1", 101, 1, "debian-12", lookup_timeout=5)
    assert created["srvrname"] == "mf-acme-1"
    from mailfleet.hostwinds import InstanceExistsError

    with pytest.raises(InstanceExistsError):
        quick.add_instance("mf-acme-1", 101, 1, "debian-12")
    assert double.state.calls["add_instance"] == 1 and len(double.state.instances) == 1


def test_lost_answer_to_a_mutation_is_not_repeated(client, double):
    double.state.seed(1)
    sid = next(iter(double.state.instances))
    double.state.faults.append(Fault("lost_after", "reboot"))
    with pytest.raises(AmbiguousResultError, match="not repeated"):
        client.reboot(sid)
    assert double.state.calls["reboot"] == 1


def test_silent_ip_change_cooldown_is_detected(client, double):
    double.state.seed(1)
    sid = next(iter(double.state.instances))
    old = client.get_instance(sid)["main_ip"]
    double.state.faults.append(Fault("cooldown", "change_main_ip"))
    with pytest.raises(CooldownError, match=f"still {old}"):
        client.change_main_ip(sid)
    assert client.get_instance(sid)["main_ip"] == old
    assert double.state.calls["change_main_ip"] == 1


def test_admin_endpoints_inject_faults_and_move_the_clock(double):
    import requests

    base = double.url.rsplit("/cloud", 1)[0]
    assert requests.post(f"{base}/_double/faults", json={"kind": "bogus"}, timeout=5).status_code == 400
    requests.post(f"{base}/_double/faults", json={"kind": "html", "action": "get_locations"}, timeout=5)
    requests.post(f"{base}/_double/clock", json={"advance": 90}, timeout=5)
    requests.post(f"{base}/_double/seed", json={"count": 3}, timeout=5)
    state = requests.get(f"{base}/_double/state", timeout=5).json()
    assert state["instances"] == 3 and state["faults"] == 1
    assert double.state.clock.now() == 90


def test_a_late_ip_change_fails_clearly_then_shows_and_is_not_repeated(client, double):
    double.state.seed(1)
    double.state.ip_change_seconds = 300  # slower than the client waits
    sid = next(iter(double.state.instances))
    old = client.get_instance(sid)["main_ip"]
    with pytest.raises(CooldownError, match="slower than usual"):
        client.change_main_ip(sid, timeout=60)
    double.state.clock.advance(300)
    new = client.get_instance(sid)["main_ip"]
    assert new != old
    assert double.state.calls["change_main_ip"] == 1
