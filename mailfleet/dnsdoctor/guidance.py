"""Who hosts the zone, and how to set a record there, in that provider's own words.

The DNS host is read from the zone's NS names. A zone mailfleet updates itself (RFC 2136 or
Cloudflare with the site's token) is "managed": its fix is a re-run of the domain, which publishes
the records again; the manual steps are given too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailfleet.dns.rdata import Record

__all__ = ["DnsHost", "detect_host", "record_steps", "steps_for"]

# NS name suffix -> (key, the provider's name as its customers know it)
_KNOWN = (
    (".ns.cloudflare.com", "cloudflare", "Cloudflare"),
    ("awsdns-", "route53", "Amazon Route 53"),
    (".domaincontrol.com", "registrar", "GoDaddy"),
    (".registrar-servers.com", "registrar", "Namecheap"),
    (".gandi.net", "registrar", "Gandi"),
    (".ovh.net", "registrar", "OVHcloud"),
    (".hostwinds.com", "registrar", "Hostwinds DNS"),
)


@dataclass(frozen=True)
class DnsHost:
    key: str  # cloudflare | rfc2136 | route53 | registrar
    name: str
    managed: bool  # mailfleet publishes this zone's records itself

    def to_dict(self) -> dict[str, object]:
        return {"key": self.key, "name": self.name, "managed": self.managed}


def detect_host(ns_names: Sequence[str], managed: str | None = None) -> DnsHost:
    """``managed`` is the site's DNS provider (``rfc2136`` / ``cloudflare``) when mailfleet can
    update the zone, else None."""
    names = [n.lower().rstrip(".") for n in ns_names]
    for marker, key, label in _KNOWN:
        if any(marker in n or n.endswith(marker.lstrip(".")) for n in names):
            return DnsHost(key, label, managed == key)
    if managed == "rfc2136":
        return DnsHost("rfc2136", "your DNS server (RFC 2136 updates)", True)
    return DnsHost("registrar", "your DNS host", False)


def _relative(name: str, zone: str) -> str:
    if name == zone:
        return "@"
    return name[: -len(zone) - 1] if name.endswith("." + zone) else name


def record_steps(host: DnsHost, record: Record, zone: str) -> list[str]:
    """How to publish one record at ``host`` (the record replaces others of its name and type)."""
    label = _relative(record.name, zone)
    if host.key == "cloudflare":
        if record.rtype == "MX":
            priority, _, target = record.value.partition(" ")
            content = f"Mail server: {target.rstrip('.')}, Priority: {priority}"
        else:
            field = {"A": "IPv4 address", "AAAA": "IPv6 address"}.get(record.rtype, "Content")
            content = f"{field}: {record.value}"
        return [f"Cloudflare dashboard > {zone} > DNS > Records > Add record: Type {record.rtype}, "
                f"Name {label}, {content}, TTL Auto, Proxy status DNS only (grey cloud)."]
    if host.key == "route53":
        value = f'"{record.value}"' if record.rtype == "TXT" else record.value
        shown = label if label != "@" else "(empty)"
        return [f"Route 53 console > Hosted zones > {zone} > Create record: Record name {shown}, "
                f"Record type {record.rtype}, Value {value}, TTL {record.ttl}."]
    if host.key == "rfc2136":
        return [f"nsupdate -k <key file>: update delete {record.name}. {record.rtype} / "
                f"update add {record.name}. {record.ttl} {record.rtype} {record.wire_text()} / send"]
    return [f"In the DNS panel at {host.name}: add a {record.rtype} record, Host/Name {label} "
            f"(some panels want the full name {record.name}), Value {record.value}, TTL {record.ttl}; "
            f"remove any other {record.rtype} record at that name that differs."]


def _dnssec_steps(code: str, host: DnsHost, records: Sequence[Record], zone: str, detail: str) -> list[str]:
    """The registrar's steps: a DS record lives in the parent zone, never in the zone itself, so
    mailfleet cannot publish it even where it manages the zone. A zone BIND signs (RFC 2136) then
    needs BIND told of the change, or it cannot move its keys on."""
    if code == "dnssec.bogus":
        return [f"The DNS server that signs {zone} must sign it again ({detail}): check its signing "
                f"(BIND: `rndc dnssec -status {zone}`). Until it validates, removing the DS record at "
                "the registrar makes the domain resolve again, unsigned."]
    entries = []
    for r in records:
        tag, algorithm, digest_type, digest = r.value.split(maxsplit=3)
        entries.append(f"Key tag {tag}, Algorithm {algorithm}, Digest type {digest_type} (SHA-256), "
                       f"Digest {digest.replace(' ', '')}")
    verb = {"dnssec.ds-mismatch": "replace the DS record(s) with exactly",
            "dnssec.ds-rollover": "add, keeping the DS record already there",
            "dnssec.ds-stale": "remove"}.get(code, "add")
    steps = [f"At the registrar where {zone} is registered, under DNSSEC (or \"DS records\"), {verb}: "
             + "; ".join(entries) + "."] if entries else []
    steps.append(f"Some registrars ask for the key instead of the DS: the DNSKEY with flags 257 that "
                 f"`dig {zone} DNSKEY` shows. The parent serves the change after its own TTL; then "
                 "Check again.")
    if host.key == "rfc2136" and entries:
        state = "withdrawn" if code == "dnssec.ds-stale" else "published"
        commands = " and ".join(f"`rndc dnssec -checkds -key {r.value.split()[0]} {state} {zone}`"
                                for r in records)
        steps.append(f"Once the parent serves it, tell BIND (unless the zone names the parent's servers "
                     f"in parental-agents, where BIND checks by itself): {commands}.")
    return steps


def steps_for(code: str, host: DnsHost, records: Sequence[Record], zone: str, detail: str) -> list[str]:
    """The steps that fix one finding at ``host``."""
    if code == "host.proxied" and host.key == "cloudflare":
        name = records[0].name if records else "the mail host"
        return [f"Cloudflare dashboard > {zone} > DNS > Records: edit {name} and switch Proxy status to "
                "DNS only (grey cloud). Mail records must never be proxied."]
    if code.startswith("ptr."):
        return [f"Reverse DNS is set where the server's address comes from, not in the zone: in the "
                f"server provider's panel set the rDNS of the address to {r.value.rstrip('.')}"
                f" ({r.name} PTR {r.value})." for r in records]
    if code == "delegation.parent-mismatch":
        wanted = ", ".join(r.value.rstrip(".") for r in records)
        return [f"At the registrar where the domain is registered, set its name servers to exactly: "
                f"{wanted}."]
    if code.startswith("dnssec."):
        return _dnssec_steps(code, host, records, zone, detail)
    if code in ("delegation.lagging", "delegation.lame"):
        return [f"Nothing to publish: {detail}. A lagging secondary catches up on its next zone transfer "
                "(check again in a few minutes); a lame server must be made to serve the zone, or removed "
                "from the NS records and at the registrar."]
    if code == "caa.forbids-ca":
        return [f"At {host.name}: add a CAA record, Name {_relative(r.name, zone)}, Value {r.value}, next "
                "to the existing ones (CAA records add up: keep those of the CAs still in use)."
                for r in records]
    if code == "check.unavailable":
        return ["Check again; if it persists, the named server is unreachable from the control plane."]
    if code == "mta-sts.policy-unreachable":
        extra = ["The policy file is served by the mail server at "
                 f"https://mta-sts.{zone}/.well-known/mta-sts.txt; re-run the domain so it is published, "
                 "or remove the _mta-sts record until it is."]
    else:
        extra = []
    steps = [step for r in records for step in record_steps(host, r, zone)]
    if host.managed:
        steps.insert(0, "mailfleet manages this zone: re-run the domain (Check again runs the checks; the "
                        "domain's run publishes the records) - or set it by hand:")
    return extra + steps
