"""The Terraform export: parsed with python-hcl2 (no terraform binary here), it names every server
and every record the dns role publishes, with import blocks; typed names cannot inject HCL; it is
tenant-scoped."""

from __future__ import annotations

import re

import hcl2
import pytest
import yaml

from webapp.extensions import db
from webapp.models import Domain, DomainStatus, Server, ServerStatus
from webapp.services import accounts, terraform
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, login

pytestmark = pytest.mark.unit


@pytest.fixture
def fleet(world):
    acme1 = Server(tenant_id=world.acme.id, name="mf-acme-1", provider_id=4242,
                   mail_hostname="mail.acme.test", public_ipv4="192.0.2.10", public_ipv6="2001:db8::10",
                   location="AMS", plan="SSD 2 GB",
                   status=ServerStatus.ACTIVE)
    globex1 = Server(tenant_id=world.globex.id, name="mf-globex-1", provider_id=77,
                     mail_hostname="mail.globex.test", public_ipv4="192.0.2.20", status=ServerStatus.ACTIVE)
    db.session.add_all([acme1, globex1])
    db.session.flush()
    db.session.add_all([Domain(tenant_id=world.acme.id, server_id=acme1.id, name=n,
                               status=DomainStatus.ACTIVE) for n in ("acme.test", "acme-mail.test")])
    db.session.add(Domain(tenant_id=world.globex.id, server_id=globex1.id, name="globex.test",
                          status=DomainStatus.ACTIVE))
    db.session.commit()
    return acme1, globex1


def _site(app, tmp_path, **site):
    path = tmp_path / "site.yml"
    path.write_text(yaml.safe_dump(site))
    app.config["MAILFLEET_SITE_VARS_FILE"] = str(path)


def _resources(doc):
    return {(_unquote(kind), _unquote(name)): body for block in doc.get("resource", [])
            for kind, named in block.items() for name, body in named.items()}


def _unquote(value):
    return value[1:-1] if isinstance(value, str) and value[:1] == '"' else value


def test_rfc2136_export_names_every_server_and_record_set_with_an_import_block(app, tmp_path, world, fleet):
    _site(app, tmp_path, dns_provider="rfc2136", dns_rfc2136_server="198.51.100.53",
          dns_rfc2136_key_name="mf")
    acme1, _ = fleet
    doc = hcl2.loads(terraform.export(Scope(world.admin), world.acme))

    servers = doc["locals"][0]["hostwinds_servers"]
    assert {_unquote(k) for k in servers} == {"mf-acme-1"}  # the other tenant's server is not there
    first = next(iter(servers.values()))
    assert first["id"] == 4242 and _unquote(first["ipv4"]) == "192.0.2.10"
    assert _unquote(first["location"]) == "AMS"

    expected = {(r.name, r.rtype) for r in terraform.server_records(acme1)}
    assert ("acme-mail.test", "MX") in expected and ("mail.acme.test", "AAAA") in expected
    resources = _resources(doc)
    imports = {i["to"]: _unquote(i["id"]) for i in doc["import"]}
    named = set()
    for (kind, label), body in resources.items():
        zone = _unquote(body["zone"]).rstrip(".")
        fqdn = f"{_unquote(body['name'])}.{zone}" if "name" in body else zone
        rtype = kind.removeprefix("dns_").split("_")[0].upper()
        named.add((fqdn, rtype))
        assert imports[f"${{{kind}.{label}}}"] == fqdn + "."
    assert named == expected
    mx = resources[next(k for k in resources if k[0] == "dns_mx_record_set" and "acme_mail" in k[1])]
    assert mx["mx"][0]["preference"] == 10 and _unquote(mx["mx"][0]["exchange"]) == "mail.acme.test."
    assert "var.dns_tsig_secret" in str(doc["provider"])  # the TSIG secret is a variable, never written out


def test_cloudflare_export_uses_the_v5_record_resource_per_record(app, tmp_path, world, fleet):
    _site(app, tmp_path, dns_provider="cloudflare")
    acme1, _ = fleet
    doc = hcl2.loads(terraform.export(Scope(world.admin), world.acme))
    records = [b for (kind, _), b in _resources(doc).items() if kind == "cloudflare_dns_record"]
    assert len(records) == len(terraform.server_records(acme1))
    assert {(_unquote(b["name"]), _unquote(b["type"])) for b in records} == {
        (r.name, r.rtype) for r in terraform.server_records(acme1)}
    srv = next(b for b in records if _unquote(b["type"]) == "SRV")
    assert _unquote(srv["data"]["target"]) == "mail.acme.test"
    assert '"cloudflare/cloudflare"' in str(doc["terraform"])


def _literal(raw):
    """An HCL quoted string's value (python-hcl2 hands back the literal as written)."""
    escapes = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
    body = raw[1:-1].replace("$${", "${").replace("%%{", "%{")
    return re.sub(r'\\(U[0-9a-f]{8}|.)',
                  lambda m: chr(int(m[1][1:], 16)) if len(m[1]) > 1 else escapes[m[1]], body)


@pytest.mark.parametrize("evil", ['x" } resource "null" "pwn" { a = "', '${file("/etc/passwd")}',
                                  "%{ if true }y%{ endif }", "a\\\nb\x07"])
def test_typed_values_are_escaped_never_syntax(world, evil):
    server = Server(tenant_id=world.acme.id, name=evil, location=evil, plan=evil, provider_id=1)
    doc = hcl2.loads(terraform.render("acme", [server], {}))
    assert "resource" not in doc  # no record (no mail host), and no injected block either
    (key, body), = doc["locals"][0]["hostwinds_servers"].items()
    assert _literal(key) == _literal(body["plan"]) == _literal(body["location"]) == evil


def test_the_api_and_the_page_are_tenant_scoped(client, app, tmp_path, world, fleet):
    _site(app, tmp_path)
    bob = {"Authorization": f"Bearer {accounts.issue_api_token(world.bob)}"}
    answer = client.get("/api/v1/tenants/globex/terraform", headers=bob)
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert "mf-globex-1" in answer.text and "mf-acme-1" not in answer.text
    assert client.get("/api/v1/tenants/acme/terraform", headers=bob).status_code == 404
    assert client.get("/api/v1/tenants/acme/terraform").status_code == 401

    login(client, "alice@acme.example", TEST_PASSWORD)
    page = client.get("/tenants/acme")
    assert b"/tenants/acme/terraform" in page.data
    download = client.get("/tenants/acme/terraform")
    assert download.status_code == 200 and "mf-acme-1" in download.text
    assert client.get("/tenants/globex/terraform").status_code == 404


@pytest.fixture
def cloudflare(app, tmp_path):
    """The Cloudflare API double holding the acme zones, and the site and token that reach it."""
    from mailfleet.cloudflare import CloudflareClient
    from mailfleet.secrets import CLOUDFLARE_PATH
    from testbed.doubles import cloudflare as cloudflare_double
    from webapp.integrations import secret_store
    from webapp.testing import ServedApp

    state = cloudflare_double.CloudflareState(tokens={"cf-token"})
    for zone in ("acme.test", "acme-mail.test"):
        state.add_zone(zone)
    served = ServedApp(cloudflare_double.create_app(state))
    base_url = f"{served.url}/client/v4"
    _site(app, tmp_path, dns_provider="cloudflare", dns_cloudflare_api_base_url=base_url)
    secret_store().put(CLOUDFLARE_PATH, {"api_token": "cf-token"})
    client = CloudflareClient("cf-token", base_url=base_url, max_retries=0)
    yield state, client
    client.close()
    served.stop()


def test_cloudflare_records_that_exist_are_imported_by_their_ids(app, world, fleet, cloudflare):
    from webapp.integrations import secret_store

    state, client = cloudflare
    acme1, _ = fleet
    records = terraform.server_records(acme1)
    existing = [client.create(r) for r in records if r.rtype in ("MX", "A")]  # published by an earlier run
    doc = hcl2.loads(terraform.export(Scope(world.admin), world.acme))
    imports = {i["to"]: _unquote(i["id"]) for i in doc.get("import", [])}
    resources = _resources(doc)
    by_key = {}
    for (kind, label), body in resources.items():
        if kind == "cloudflare_dns_record":
            name_type = (_unquote(body["name"]), _unquote(body["type"]))
            by_key.setdefault(name_type, []).append(f"${{{kind}.{label}}}")
    expected = {(r.record.name, r.record.rtype): f"{r.zone_id}/{r.id}" for r in existing}
    assert len(existing) >= 3 and sorted(imports.values()) == sorted(expected.values())
    for (name, rtype), record_id in expected.items():
        assert any(imports.get(to) == record_id for to in by_key[(name, rtype)])
    assert len(resources) == len(records)  # the rest are created by terraform apply

    secret_store().put("global/cloudflare", {"api_token": "revoked"})  # Cloudflare answers 403 now
    text = terraform.export(Scope(world.admin), world.acme)
    assert "# no import blocks: Cloudflare could not be asked (" in text
    doc = hcl2.loads(text)
    assert "import" not in doc and len(_resources(doc)) == len(records)  # the records are still exported


def test_a_digitalocean_server_is_its_providers_droplet_with_an_import_block(app, tmp_path, world, fleet):
    _site(app, tmp_path)
    droplet = Server(tenant_id=world.acme.id, name="mf-acme-2", provider="digitalocean", provider_id=3164494,
                     mail_hostname="mail2.acme.test", public_ipv4="192.0.2.30", location="ams3",
                     plan="s-1vcpu-1gb", status=ServerStatus.ACTIVE)
    ordered = Server(tenant_id=world.acme.id, name="mf-acme-3", provider="digitalocean",
                     mail_hostname="mail3.acme.test", location="nyc3", plan="s-1vcpu-1gb",
                     status=ServerStatus.REQUESTED)
    db.session.add_all([droplet, ordered])
    db.session.commit()
    text = terraform.export(Scope(world.admin), world.acme)
    doc = hcl2.loads(text)

    required = doc["terraform"][0]["required_providers"][0]
    assert _unquote(required["digitalocean"]["source"]) == "digitalocean/digitalocean"
    assert {_unquote(k) for k in doc["locals"][0]["hostwinds_servers"]} == {"mf-acme-1"}  # Hostwinds' alone
    resources = _resources(doc)
    droplets = {name: body for (kind, name), body in resources.items() if kind == "digitalocean_droplet"}
    assert list(droplets) == ["mf_acme_2"]  # the one not created yet is not there to be created twice
    body = droplets["mf_acme_2"]
    assert (_unquote(body["name"]), _unquote(body["region"]), _unquote(body["size"])) == (
        "mail2.acme.test", "ams3", "s-1vcpu-1gb")
    assert [_unquote(t) for t in body["tags"]] == ["mailfleet:mf-acme-2"]
    imports = {i["to"]: _unquote(i["id"]) for i in doc["import"]}
    assert imports["${digitalocean_droplet.mf_acme_2}"] == "3164494"
    assert '"mf-acme-3" is not created yet at DigitalOcean' in text
    # its mail host's records are exported as the Hostwinds server's are
    assert ("mail2.acme.test", "A") in {(r.name, r.rtype) for r in terraform.server_records(droplet)}
    a_sets = [body for (kind, _), body in resources.items() if kind == "dns_a_record_set"]
    assert "mail2" in {_unquote(body.get("name", "")) for body in a_sets}


def test_a_fleet_without_digitalocean_servers_needs_no_digitalocean_provider(world):
    server = Server(tenant_id=world.acme.id, name="mf-acme-1", provider="hostwinds", provider_id=1)
    doc = hcl2.loads(terraform.render("acme", [server], {}))
    assert "digitalocean" not in doc["terraform"][0]["required_providers"][0]
    assert "provider" not in doc or "digitalocean" not in str(doc["provider"])


@pytest.mark.parametrize("evil", ['x" } resource "null" "pwn" { a = "', "a\nb"])
def test_typed_droplet_values_are_escaped_never_syntax(world, evil):
    server = Server(tenant_id=world.acme.id, name=f"mf-{evil}", provider="digitalocean", provider_id=9,
                    location=evil, plan=evil)
    doc = hcl2.loads(terraform.render("acme", [server], {}))
    [((kind, _), body)] = _resources(doc).items()  # one resource: no injected block
    assert kind == "digitalocean_droplet"
    assert _literal(body["region"]) == _literal(body["size"]) == evil
