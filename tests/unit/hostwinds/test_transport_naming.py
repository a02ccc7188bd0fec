"""IPv4 is forced on every connection; the srvrname convention builds and parses both ways."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

from mailfleet.hostwinds import build_srvrname, next_srvrname, parse_srvrname
from mailfleet.hostwinds.instances import addresses, find_plan
from mailfleet.hostwinds.transport import ipv4_session
from mailfleet.validation import ValidationError

pytestmark = pytest.mark.unit


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = self.client_address[0].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_hostnames_are_resolved_with_af_inet_only(loopback_server, monkeypatch):
    families = []
    real = socket.getaddrinfo

    def spy(host, port, family=0, *args, **kwargs):
        families.append((host, family))
        return real(host, port, family, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    with ipv4_session() as session:
        answer = session.get(f"http://localhost:{loopback_server.server_port}/", timeout=5)
    assert answer.text == "127.0.0.1"  # the server saw an IPv4 peer
    assert ("localhost", socket.AF_INET) in families
    assert all(family != socket.AF_INET6 for _, family in families)


def test_an_ipv6_only_endpoint_is_refused_with_a_clear_reason():
    with ipv4_session() as session, pytest.raises(Exception, match="has no IPv4 address"):
        session.get("http://[::1]:9/", timeout=2)


@pytest.mark.parametrize(
    ("tenant", "index", "name"), [("acme", 1, "mf-acme-1"), ("big-co", 12, "mf-big-co-12")]
)
def test_srvrname_round_trip(tenant, index, name):
    assert build_srvrname(tenant, index) == name
    parsed = parse_srvrname(name)
    assert parsed is not None and (parsed.tenant, parsed.index) == (tenant, index)


@pytest.mark.parametrize("tenant", ["", "A", "Acme", "acme_co", "1acme", "x" * 40, "{{ 7*7 }}"])
def test_bad_tenant_slug_is_refused(tenant):
    with pytest.raises(ValidationError):
        build_srvrname(tenant, 1)


@pytest.mark.parametrize("index", [0, -1, True, "1", 1.0])
def test_bad_index_is_refused(index):
    with pytest.raises(ValidationError):
        build_srvrname("acme", index)


@pytest.mark.parametrize(
    "name",
    ["web1", "mf-acme", "mf-acme-0", "mf-Acme-1", "mf-acme-1 ", None, "mf-{{ lookup('pipe','id') }}-1"],
)
def test_foreign_labels_do_not_parse(name):
    assert parse_srvrname(name) is None


def test_next_srvrname_fills_the_first_gap():
    assert next_srvrname("acme", ["mf-acme-1", "mf-acme-3", "mf-other-2", "web"]) == "mf-acme-2"
    assert next_srvrname("acme", []) == "mf-acme-1"


def test_addresses_and_plan_join():
    instance = {
        "main_ip": "198.18.1.5",
        "ips": ["198.18.1.5"],
        "ip_v6": "2001:db8::5",
        "private_ip": "10.0.0.5",
        "product_id": 102,
        "product_name": "x",
    }
    assert addresses(instance) == {
        "public_ipv4": "198.18.1.5",
        "public_ipv6": "2001:db8::5",
        "private_ipv4": "10.0.0.5",
    }
    assert addresses({"main_ip": None, "ips": []})["public_ipv4"] is None
    plans = [{"rid": 101, "name": "small"}, {"rid": 102, "name": "medium"}]
    assert find_plan(instance, plans)["name"] == "medium"
    assert find_plan({"product_name": "small"}, plans)["rid"] == 101
    assert find_plan({"product_id": 999}, plans) is None


@pytest.mark.parametrize("label", ["mf-acme-1", "a", "web-01"])
def test_usable_labels(label):
    from mailfleet.hostwinds.naming import validate_label

    assert validate_label(label) == label


@pytest.mark.parametrize("label", ["", "-a", "a-", "A1", "a_b", "a b", "x" * 64, None, "{{ x }}"])
def test_unusable_labels(label):
    from mailfleet.hostwinds.naming import validate_label

    with pytest.raises(ValidationError):
        validate_label(label)


def test_inventory_record_is_json_safe_and_joins_plan_location_tenant():
    from mailfleet.hostwinds.instances import inventory_record

    instance = {"serviceid": 7, "srvrname": "mf-big-co-2", "location_id": 3, "product_id": 102,
                "main_ip": "198.19.1.2", "flavor": {"id": "f"}, "created_at": object()}
    plans = [{"rid": 102, "name": "Unmetered SSD VPS 2 GB", "monthly": "9.99"}]
    record = inventory_record(instance, plans, {3: "Amsterdam"},
                              attributes=["serviceid", "srvrname", "created_at", "nope"])
    assert record["location"] == "Amsterdam" and record["tenant"] == "big-co"
    assert (record["plan"], record["plan_rid"]) == ("Unmetered SSD VPS 2 GB", 102)
    assert record["monthly_price"] == "9.99"
    assert "flavor" not in record and "nope" not in record and isinstance(record["created_at"], str)
    unknown = inventory_record({"location_id": "x", "product_name": "Legacy"}, plans, {})
    assert (unknown["location"], unknown["plan"], unknown["monthly_price"]) == (None, "Legacy", None)
