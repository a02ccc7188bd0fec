"""A tenant's fleet as Terraform configuration (HCL), so an engineer can take it over with Terraform.

DNS records are the ones the dns role publishes (mailfleet.dns.mailrecords.build_units, the DNS
doctor's source too), for the deployment's DNS provider, each with an ``import`` block (Terraform >=
1.5) when it exists already, so ``terraform apply`` adopts it rather than creating it again: RFC 2136
through hashicorp/dns (a record set is imported by its name), or Cloudflare through
cloudflare/cloudflare v5 (``cloudflare_dns_record``, imported by ``<zone id>/<record id>``, which the
export asks Cloudflare for; a record Cloudflare does not have is left to be created, and when
Cloudflare cannot be asked the output says so). DKIM keys live in each server's Mailu and are left out.
Each server is exported for its own provider. No Hostwinds provider is published in the Terraform
registry: Hostwinds servers are exported as data (``locals``) with their Hostwinds id, addresses,
location and plan. DigitalOcean servers become ``digitalocean_droplet`` resources of
digitalocean/digitalocean v2, each with an ``import`` block by its droplet id, written as mailfleet
ordered them (the name is the mail host name, the PTR; the label rides on its tag).

Every value reaches the output through ``_string`` (HCL escapes, ``${``/``%{`` doubled), every label
through ``_Labels``: a name typed by someone never becomes HCL syntax.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mailfleet.cloudflare import CloudflareClient, CloudflareError
from mailfleet.digitalocean.contract import LABEL_TAG_PREFIX
from mailfleet.dns.mailrecords import build_units
from mailfleet.dns.rdata import Record
from mailfleet.providers import DEFAULT_PROVIDER
from mailfleet.providers.clients import DEFAULT_IMAGES
from mailfleet.secrets import CLOUDFLARE_PATH, SecretsError
from webapp.integrations import secret_store, site_vars
from webapp.models import Server, Tenant
from webapp.services import fleet
from webapp.services.scope import Scope

__all__ = ["export", "render", "server_records"]

# hashicorp/dns record set resource per type, and what its records are called in it
_DNS_SETS = {"A": "dns_a_record_set", "AAAA": "dns_aaaa_record_set", "TXT": "dns_txt_record_set",
             "MX": "dns_mx_record_set", "SRV": "dns_srv_record_set", "CNAME": "dns_cname_record"}
RecordKey = tuple[str, str, str]  # Record.key: name, type, value
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _string(value: object) -> str:
    text = "".join(_ESCAPES.get(c, c if c.isprintable() else f"\\U{ord(c):08x}") for c in str(value))
    return '"' + text.replace("${", "$${").replace("%{", "%%{") + '"'


class _Labels:
    """Unique Terraform identifiers made of a name's letters, digits and underscores."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, *parts: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_]+", "_", "_".join(parts)).strip("_").lower() or "x"
        base = base if base[0].isalpha() else f"r_{base}"
        label, n = base, 1
        while label in self._used:
            n += 1
            label = f"{base}_{n}"
        self._used.add(label)
        return label


def _block(head: str, body: Iterable[str], indent: str = "") -> list[str]:
    return [f"{indent}{head} {{", *(f"{indent}  {line}" for line in body), f"{indent}}}"]


def server_records(server: Server) -> list[Record]:
    """The records the dns role publishes for the server's mail host and its domains."""
    if not server.mail_hostname or not (server.public_ipv4 or server.public_ipv6):
        return []
    names = sorted(d.name for d in server.domains)
    domains = [{"name": name, "publish": {"dkim": False}} for name in names]
    units = build_units(host=server.mail_hostname, ipv4=[server.public_ipv4] if server.public_ipv4 else [],
                        ipv6=[server.public_ipv6] if server.public_ipv6 else [], domains=domains)
    return [r for unit in units for r in unit.records]


def _zone(name: str, zones: Sequence[str]) -> str:
    """The mail domain the name lies under (longest first), else its parent."""
    for zone in sorted(zones, key=len, reverse=True):
        if name == zone or name.endswith("." + zone):
            return zone
    return name.split(".", 1)[-1]


def _provider(server: Server) -> str:
    return server.provider or DEFAULT_PROVIDER  # a Server not yet flushed has no default yet


def _hostwinds(servers: Sequence[Server]) -> list[str]:
    lines = ["# Hostwinds servers. No Hostwinds provider is published in the Terraform registry, so",
             "# they are data here; manage them in Hostwinds' panel or API.", "locals {",
             "  hostwinds_servers = {"]
    for s in servers:
        fields = {"id": s.provider_id, "ipv4": s.public_ipv4, "ipv6": s.public_ipv6, "location": s.location,
                  "plan": s.plan, "mail_hostname": s.mail_hostname}
        body = [f"{k} = {v if isinstance(v, int) else _string(v)}"
                for k, v in fields.items() if v is not None]
        lines += _block(f"{_string(s.name)} =", body, "    ")
    return [*lines, "  }", "}"]


def _droplets(servers: Sequence[Server], label: _Labels) -> list[str]:
    """One droplet resource per DigitalOcean server, imported by its id. Its image is ignored: the
    API reports the one it was built from, and a change would rebuild the server."""
    lines = ["# DigitalOcean servers. The API token comes from DIGITALOCEAN_TOKEN.",
             'provider "digitalocean" {}']
    for s in servers:
        if s.provider_id is None:
            lines.append(f"# {_string(s.name)} is not created yet at DigitalOcean: export again once it is.")
            continue
        ident = label(s.name)
        body = [f"name = {_string(s.mail_hostname or s.name)}", f"region = {_string(s.location or '')}",
                f"size = {_string(s.plan or '')}", f"image = {_string(DEFAULT_IMAGES['digitalocean'])}",
                "ipv6 = true", f"tags = [{_string(LABEL_TAG_PREFIX + s.name)}]",
                *_block("lifecycle", ["ignore_changes = [image]"])]
        lines += ["", *_block(f'resource "digitalocean_droplet" {_string(ident)}', body)]
        lines += _block("import", [f"to = digitalocean_droplet.{ident}", f"id = {_string(s.provider_id)}"])
    return lines


def _rfc2136(records: Sequence[Record], zones: Sequence[str], site: Mapping[str, Any],
             label: _Labels) -> list[str]:
    lines = _block("provider \"dns\"", _block("update", [
        f"server = {_string(site.get('dns_rfc2136_server') or '')}",
        f"port = {int(site.get('dns_rfc2136_port') or 53)}",
        f"key_name = {_string((site.get('dns_rfc2136_key_name') or '').rstrip('.') + '.')}",
        f"key_algorithm = {_string(site.get('dns_rfc2136_key_algorithm') or 'hmac-sha256')}",
        "key_secret = var.dns_tsig_secret",
    ]))
    lines += _block('variable "dns_tsig_secret"', ["type = string", "sensitive = true"])
    sets: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        if r.rtype in _DNS_SETS:
            sets[(r.name, r.rtype)].append(r)
    for (name, rtype), members in sorted(sets.items()):
        zone = _zone(name, zones)
        kind, ident = _DNS_SETS[rtype], label(rtype, name)
        body = [f"zone = {_string(zone + '.')}"]
        if name != zone:
            body.append(f"name = {_string(name[: -len(zone) - 1])}")
        values = sorted(r.value for r in members)
        if rtype in ("A", "AAAA"):
            body.append(f"addresses = [{', '.join(_string(v) for v in values)}]")
        elif rtype == "TXT":
            body.append(f"txt = [{', '.join(_string(v) for v in values)}]")
        elif rtype == "CNAME":
            body.append(f"cname = {_string(values[0])}")
        for value in values if rtype in ("MX", "SRV") else ():
            parts = value.split()
            keys = ("preference", "exchange") if rtype == "MX" else ("priority", "weight", "port", "target")
            body += _block(rtype.lower(), [f"{k} = {p if p.isdigit() else _string(p)}"
                                           for k, p in zip(keys, parts, strict=True)])
        body.append(f"ttl = {min(r.ttl for r in members)}")
        lines += ["", *_block(f"resource {_string(kind)} {_string(ident)}", body)]
        lines += _block("import", [f"to = {kind}.{ident}", f"id = {_string(name + '.')}"])
    return lines


def cloudflare_ids(records: Sequence[Record], site: Mapping[str, Any]) -> tuple[dict[RecordKey, str], str]:
    """The import id (``<zone id>/<record id>``) of each record Cloudflare has already, by its key
    (TTL aside), and a note for the output: what was found, or why Cloudflare could not be asked."""
    try:
        client = CloudflareClient(secret_store().get_field(CLOUDFLARE_PATH, "api_token"),
                                  base_url=site.get("dns_cloudflare_api_base_url"), max_retries=0)
    except (SecretsError, CloudflareError) as exc:
        return {}, f"no import blocks: Cloudflare could not be asked ({exc})"
    wanted = {r.key for r in records}
    ids: dict[RecordKey, str] = {}
    try:
        for name in sorted({r.name for r in records}):
            for found in client.records_at(name):
                if found.record.key in wanted:
                    ids[found.record.key] = f"{found.zone_id}/{found.id}"
    except CloudflareError as exc:
        return {}, f"no import blocks: Cloudflare could not be asked ({exc})"
    finally:
        client.close()
    return ids, f"{len(ids)} of {len(wanted)} records exist at Cloudflare and are imported"


def _cloudflare(records: Sequence[Record], zones: Sequence[str], site: Mapping[str, Any],
                label: _Labels) -> list[str]:
    ids, note = cloudflare_ids(records, site)
    lines = ["# The API token comes from CLOUDFLARE_API_TOKEN.", f"# {note}.", 'provider "cloudflare" {}']
    zone_ids = {}
    for zone in sorted({_zone(r.name, zones) for r in records}):
        zone_ids[zone] = f"data.cloudflare_zone.{label('zone', zone)}.zone_id"
        lines += _block(f"data \"cloudflare_zone\" {_string(zone_ids[zone].split('.')[1])}",
                        _block("filter =", [f"name = {_string(zone)}"]))
    for r in records:
        body = [f"zone_id = {zone_ids[_zone(r.name, zones)]}", f"name = {_string(r.name)}",
                f"type = {_string(r.rtype)}", f"ttl = {r.ttl}"]
        parts = r.value.split()
        if r.rtype == "MX":
            body += [f"priority = {parts[0]}", f"content = {_string(parts[1].rstrip('.'))}"]
        elif r.rtype == "SRV":
            body += _block("data =", [f"priority = {parts[0]}", f"weight = {parts[1]}", f"port = {parts[2]}",
                                      f"target = {_string(parts[3].rstrip('.'))}"])
        else:
            body.append(f"content = {_string(r.value.rstrip('.') if r.rtype == 'CNAME' else r.value)}")
        ident = label(r.rtype, r.name)
        lines += ["", *_block(f"resource \"cloudflare_dns_record\" {_string(ident)}", body)]
        if r.key in ids:
            lines += _block("import", [f"to = cloudflare_dns_record.{ident}", f"id = {_string(ids[r.key])}"])
    return lines


def render(tenant_slug: str, servers: Sequence[Server], site: Mapping[str, Any]) -> str:
    """The configuration: required providers, each server for its provider, then every DNS record
    the fleet publishes with the site's DNS provider (``dns_provider``: rfc2136, the default, or
    cloudflare)."""
    cloudflare = site.get("dns_provider", "rfc2136") == "cloudflare"
    providers = ['cloudflare = { source = "cloudflare/cloudflare", version = "~> 5.0" }' if cloudflare
                 else 'dns = { source = "hashicorp/dns", version = "~> 3.4" }']
    droplets = [s for s in servers if _provider(s) == "digitalocean"]
    hostwinds = [s for s in servers if _provider(s) == "hostwinds"]
    if droplets:
        providers.append('digitalocean = { source = "digitalocean/digitalocean", version = "~> 2.0" }')
    lines = [f"# mailfleet export of tenant {tenant_slug}", *_block("terraform", [
        'required_version = ">= 1.5"', *_block("required_providers", providers)]), ""]
    label = _Labels()
    lines += _hostwinds(hostwinds) if hostwinds or not droplets else []
    lines += [*([""] if hostwinds else []), *_droplets(droplets, label)] if droplets else []
    records = sorted({r for s in servers for r in server_records(s)},
                     key=lambda r: (r.name, r.rtype, r.value))
    zones = sorted({d.name for s in servers for d in s.domains})
    dns = _cloudflare(records, zones, site, label) if cloudflare else _rfc2136(records, zones, site, label)
    lines += ["", *dns]
    return "\n".join(lines) + "\n"


def export(scope: Scope, tenant: Tenant) -> str:
    """The servers the tenant's page lists and their records, for the site's DNS provider."""
    return render(tenant.slug, fleet.list_servers(scope, tenant), site_vars() or {})
