"""The Cloudflare API double follows the published shapes (through Flask's test client)."""

from __future__ import annotations

import pytest

from testbed.doubles.cloudflare import CloudflareState, create_app

pytestmark = pytest.mark.unit

AUTH = {"Authorization": "Bearer good-token"}


@pytest.fixture
def api():
    state = CloudflareState(tokens={"good-token"})
    zone_id = state.add_zone("example.test")
    client = create_app(state).test_client()
    return client, zone_id, state


def post(client, zone_id, **body):
    return client.post(f"/client/v4/zones/{zone_id}/dns_records", json=body, headers=AUTH)


def test_auth_and_error_envelope(api):
    client, _, _ = api
    missing = client.get("/client/v4/zones")
    assert missing.status_code == 400 and missing.json["errors"][0]["code"] == 6003
    wrong = client.get("/client/v4/zones", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert wrong.json == {
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
        "result": None,
    }
    assert wrong.headers["X-Mailfleet-Double"] == "cloudflare"


def test_zone_lookup_by_name(api):
    client, zone_id, _ = api
    found = client.get("/client/v4/zones?name=example.test", headers=AUTH).json
    assert found["success"] and [z["id"] for z in found["result"]] == [zone_id]
    assert found["result_info"]["total_count"] == 1
    assert client.get("/client/v4/zones?name=other.test", headers=AUTH).json["result"] == []


def test_create_list_filter_and_paginate(api):
    client, zone_id, _ = api
    for i in range(7):
        assert (
            post(
                client, zone_id, type="A", name=f"h{i}.example.test", content=f"198.18.15.{i + 1}", ttl=600
            ).status_code
            == 200
        )
    mx = post(
        client, zone_id, type="MX", name="example.test", content="mail.example.test", priority=10, ttl=600
    ).json["result"]
    assert mx["priority"] == 10 and mx["proxiable"] is False and mx["zone_name"] == "example.test"
    page = client.get(f"/client/v4/zones/{zone_id}/dns_records?type=A&per_page=5&page=2", headers=AUTH).json
    assert page["result_info"] == {"page": 2, "per_page": 5, "count": 2, "total_count": 7, "total_pages": 2}
    byname = client.get(f"/client/v4/zones/{zone_id}/dns_records?name.exact=example.test", headers=AUTH).json
    assert [r["type"] for r in byname["result"]] == ["MX"]
    past = client.get(f"/client/v4/zones/{zone_id}/dns_records?page=9", headers=AUTH).json
    assert past["result"] == []


def test_rules_proxied_duplicates_cname(api):
    client, zone_id, _ = api
    bad = post(client, zone_id, type="TXT", name="example.test", content="v=spf1 -all", proxied=True)
    assert bad.status_code == 400 and bad.json["errors"][0]["code"] == 9004
    assert (
        post(client, zone_id, type="TXT", name="example.test", content="v=spf1 -all", ttl=600).status_code
        == 200
    )
    dup = post(client, zone_id, type="TXT", name="example.test", content="v=spf1 -all", ttl=600)
    assert dup.json["errors"][0]["code"] == 81058
    assert (
        post(client, zone_id, type="CNAME", name="example.test", content="x.test").json["errors"][0]["code"]
        == 81053
    )
    post(client, zone_id, type="CNAME", name="alias.example.test", content="x.test")
    assert (
        post(client, zone_id, type="A", name="alias.example.test", content="198.18.0.1").json["errors"][0][
            "code"
        ]
        == 81054
    )
    assert (
        post(client, zone_id, type="A", name="x.example.test", content="::1").json["errors"][0]["code"]
        == 9005
    )
    assert (
        post(client, zone_id, type="A", name="y.example.test", content="198.18.0.1", ttl=5).json["errors"][0][
            "code"
        ]
        == 9020
    )


def test_patch_put_delete(api):
    client, zone_id, _ = api
    rid = post(client, zone_id, type="A", name="h.example.test", content="198.18.0.1", ttl=600).json[
        "result"
    ]["id"]
    url = f"/client/v4/zones/{zone_id}/dns_records/{rid}"
    patched = client.patch(url, json={"ttl": 300}, headers=AUTH).json["result"]
    assert patched["ttl"] == 300 and patched["content"] == "198.18.0.1"
    put = client.put(
        url, json={"type": "A", "name": "h.example.test", "content": "198.18.0.2", "ttl": 60}, headers=AUTH
    )
    assert put.json["result"]["content"] == "198.18.0.2"
    assert client.delete(url, headers=AUTH).json["result"] == {"id": rid}
    gone = client.get(url, headers=AUTH)
    assert gone.status_code == 404 and gone.json["errors"][0]["code"] == 81044


def test_state_dir_persists_records_and_token(tmp_path):
    (tmp_path / "zones").write_text("example.test\nother.test\n")
    app = create_app(state_dir=tmp_path)
    token = (tmp_path / "token").read_text().strip()
    assert oct((tmp_path / "token").stat().st_mode)[-3:] == "600"
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    zone = client.get("/client/v4/zones?name=other.test", headers=headers).json["result"][0]
    client.post(
        f"/client/v4/zones/{zone['id']}/dns_records",
        json={"type": "A", "name": "a.other.test", "content": "198.18.0.1", "ttl": 600},
        headers=headers,
    )
    again = create_app(state_dir=tmp_path).test_client()
    listed = again.get(f"/client/v4/zones/{zone['id']}/dns_records", headers=headers).json["result"]
    assert [r["name"] for r in listed] == ["a.other.test"]
