"""The Cloudflare provider (mailfleet.cloudflare + ownership) against the API double, in process."""

from __future__ import annotations

import httpx
import pytest

from mailfleet.cloudflare import CloudflareAuthError, CloudflareClient
from mailfleet.dns import DnsConflictError, Record, build_units
from mailfleet.dns.cloudflare_provider import sync_unit
from testbed.doubles.cloudflare import CloudflareState, create_app

pytestmark = pytest.mark.unit

KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "y" * 330


@pytest.fixture
def cf():
    state = CloudflareState(tokens={"tok"})
    state.add_zone("example.test")
    app = create_app(state)

    def client(token="tok"):
        transport = httpx.WSGITransport(app=app)
        return CloudflareClient(
            token,
            base_url="http://cf.double/client/v4",
            http_client=httpx.Client(transport=transport),
            max_retries=0,
        )

    return client, state


def units(**domain):
    return build_units(
        host="mail.example.test",
        ipv4=["198.18.15.10"],
        domains=[{"name": "example.test", "dkim_public_key": KEY, **domain}],
    )


def sync_all(client, us):
    changes = []
    for unit in us:
        _, done = sync_unit(client, unit.manifest, unit.records)
        changes += done
    return changes


def stored(state):
    return {(r["name"], r["type"], r["content"]) for zone in state.records.values() for r in zone.values()}


def test_publish_is_idempotent_and_never_proxied(cf):
    client, state = cf
    c = client()
    first = sync_all(c, units())
    assert any(line.startswith("+ example.test MX") for line in first)
    assert all(not r["proxied"] for zone in state.records.values() for r in zone.values())
    assert sync_all(client(), units()) == []
    names = {n for n, _, _ in stored(state)}
    assert {"_mailfleet.example.test", "_mailfleet.mail.example.test", "_imaps._tcp.example.test"} <= names


def test_removal_touches_only_owned_records(cf):
    client, state = cf
    c = client()
    zone_id = next(iter(state.zones))
    foreign = {"type": "TXT", "name": "example.test", "content": "google-site-verification=abc", "ttl": 300}
    c._sdk.dns.records.create(zone_id=zone_id, **foreign)
    sync_all(c, units())
    sync_all(client(), units(publish={"srv": False, "tls_rpt": False}))
    after = stored(state)
    assert not any(n.startswith(("_imap", "_submission", "_smtp._tls")) for n, _, _ in after)
    assert ("example.test", "TXT", "google-site-verification=abc") in after
    sync_all(
        client(), build_units(host="mail.example.test", domains=[{"name": "example.test", "state": "absent"}])
    )
    left = {(n, t) for n, t, _ in stored(state)}
    assert left == {("example.test", "TXT")}


def test_proxied_owned_record_is_fixed(cf):
    client, state = cf
    host_unit = units()[0]
    sync_unit(client(), host_unit.manifest, host_unit.records)
    a = next(r for zone in state.records.values() for r in zone.values() if r["type"] == "A")
    a["proxied"] = True  # someone flipped the orange cloud in the dashboard
    _, done = sync_unit(client(), host_unit.manifest, host_unit.records)
    assert any("not proxied" in line for line in done)
    now = next(r for zone in state.records.values() for r in zone.values() if r["type"] == "A")
    assert now["proxied"] is False


def test_conflict_and_bad_token_change_nothing(cf):
    client, state = cf
    c = client()
    zone_id = next(iter(state.zones))
    c._sdk.dns.records.create(
        zone_id=zone_id, type="TXT", name="example.test", content="v=spf1 -all", ttl=300
    )
    before = stored(state)
    with pytest.raises(DnsConflictError):
        sync_all(c, units()[1:])
    assert stored(state) == before
    with pytest.raises(CloudflareAuthError) as info:
        sync_all(client("wrong-token"), units())
    assert "wrong-token" not in str(info.value)
    assert stored(state) == before


def test_long_txt_round_trips(cf):
    client, _ = cf
    c = client()
    record = Record.make("dkim._domainkey.example.test", "TXT", "v=DKIM1; k=rsa; p=" + KEY)
    created = c.create(record)
    assert created.record == record
    assert c.records_at(record.name)[0].record.value == record.value
