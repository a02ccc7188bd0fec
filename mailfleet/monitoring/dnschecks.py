"""DNS checks of one server and its mail domains, all through the project's resolver.

Each function returns one `Outcome`; a lookup that cannot be answered raises DnsUnavailable,
which the engine turns into an UNKNOWN result.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

import dns.reversename

from .dnsbl import DnsblList, classify, query_name
from .dnsclient import DnsClient, DnsUnavailable
from .outcome import Outcome, error, ok, unknown, warning
from .targets import MailDomain, ServerTarget
from .tlsinfo import tlsa_matches


async def host_addresses(dns_client: DnsClient, target: ServerTarget, rdtype: str) -> Outcome:
    """A (or AAAA) of the mail host name equals the server's addresses of that family."""
    expected = set(target.ipv4 if rdtype == "A" else target.ipv6)
    found = {str(ipaddress.ip_address(a)) for a in await dns_client.addresses(target.hostname, rdtype)}
    shown = ", ".join(sorted(found)) or "none"
    if found == expected:
        return ok(f"{rdtype} {target.hostname}: {shown}", shown if found else None)
    if not found:
        return error(f"{rdtype} {target.hostname}: no record, server has {', '.join(sorted(expected))}")
    if not expected:
        return error(f"{rdtype} {target.hostname} points at {shown}, but the server has no such address",
                     shown)
    return error(f"{rdtype} {target.hostname} points at {shown}, server has {', '.join(sorted(expected))}",
                 shown)


async def mx(dns_client: DnsClient, target: ServerTarget, domain: MailDomain) -> Outcome:
    records = await dns_client.rdatas(domain.name, "MX")
    hosts = sorted({r.exchange.to_text(omit_final_dot=True).lower() for r in records})
    if not hosts:
        return error(f"MX {domain.name}: no MX record")
    if target.hostname in hosts:
        return ok(f"MX {domain.name}: {', '.join(hosts)}", ", ".join(hosts))
    return error(f"MX {domain.name} points at {', '.join(hosts)}, not {target.hostname}", ", ".join(hosts))


def _spf_record(texts: list[str]) -> list[str]:
    return [t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


def evaluate_spf(record: str, target: ServerTarget) -> Outcome:
    """Does the SPF record authorise the server, and does it end in a sensible `all`?"""
    terms = record.split()[1:]
    authorised: str | None = None
    indirect = False
    final: str | None = None
    for term in terms:
        qualifier, mech = (term[0], term[1:]) if term[0] in "+-~?" else ("+", term)
        name, _, arg = mech.partition(":")
        name = name.lower().split("/")[0]
        if name == "all":
            final = qualifier
            continue
        if qualifier != "+":
            continue
        if name == "mx":
            authorised = authorised or term  # the MX check proves the MX is this server
        elif name == "a" and arg.lower().rstrip(".") == target.hostname:
            authorised = authorised or term
        elif name in ("ip4", "ip6") and arg:
            try:
                net = ipaddress.ip_network(arg, strict=False)
            except ValueError:
                return error(f"SPF: invalid network in {term!r}", record)
            if any(ipaddress.ip_address(a) in net for a in target.addresses if
                   ipaddress.ip_address(a).version == net.version):
                authorised = authorised or term
        elif name in ("include", "redirect") or mech.lower().startswith("redirect="):
            indirect = True
    if final == "+":
        return error("SPF ends in +all: anyone may send as this domain", record)
    if authorised is None:
        if indirect:
            return warning("SPF authorises the server only through include/redirect (not followed)", record)
        return error(f"SPF does not authorise {target.hostname} ({', '.join(target.addresses)})", record)
    if final is None and "redirect=" not in record.lower():
        return warning(f"SPF has no final 'all' (authorised by {authorised})", record)
    if final == "?":
        return warning("SPF ends in ?all (neutral): receivers learn nothing", record)
    return ok(f"SPF authorises the server ({authorised}), ends {final}all", record)


async def spf(dns_client: DnsClient, target: ServerTarget, domain: MailDomain) -> Outcome:
    records = _spf_record(await dns_client.texts(domain.name))
    if not records:
        return error(f"SPF {domain.name}: no v=spf1 record")
    if len(records) > 1:
        return error(f"SPF {domain.name}: {len(records)} v=spf1 records (a permanent error for receivers)")
    return evaluate_spf(records[0], target)


def tags(record: str) -> dict[str, str]:
    """`k=v; k=v` tag lists (DKIM, DMARC, MTA-STS TXT)."""
    out: dict[str, str] = {}
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


async def dkim(dns_client: DnsClient, target: ServerTarget, domain: MailDomain) -> Outcome:
    name = f"{domain.dkim_selector}._domainkey.{domain.name}"
    records = [t for t in await dns_client.texts(name) if "p=" in t]
    if not records:
        return error(f"DKIM {name}: no record")
    if len(records) > 1:
        return error(f"DKIM {name}: {len(records)} key records")
    published = "".join(tags(records[0]).get("p", "").split())
    if not published:
        return error(f"DKIM {name}: key revoked (empty p=)")
    if domain.dkim_public_key is None:
        return warning(f"DKIM {name}: published, but the server's key is not known to compare")
    if published != domain.dkim_public_key:
        return error(f"DKIM {name}: record does not match the server's key")
    return ok(f"DKIM {name}: record matches the server's key")


async def dmarc(dns_client: DnsClient, target: ServerTarget, domain: MailDomain) -> Outcome:
    name = f"_dmarc.{domain.name}"
    records = [t for t in await dns_client.texts(name) if t.replace(" ", "").upper().startswith("V=DMARC1")]
    if not records:
        return error(f"DMARC {name}: no v=DMARC1 record")
    if len(records) > 1:
        return error(f"DMARC {name}: {len(records)} records (receivers ignore them all)")
    policy = tags(records[0]).get("p", "").lower()
    if policy in ("reject", "quarantine"):
        return ok(f"DMARC p={policy}", policy)
    if policy == "none":
        return warning("DMARC p=none: monitoring only, spoofed mail is still delivered", policy)
    return error(f"DMARC {name}: missing or invalid p= ({policy!r})", policy or None)


PolicyFetcher = Callable[[str], Awaitable[tuple[int, str]]]


def mx_pattern_matches(pattern: str, host: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


async def mta_sts(dns_client: DnsClient, target: ServerTarget, domain: MailDomain,
                  fetch_policy: PolicyFetcher, required: bool) -> Outcome:
    """`_mta-sts` TXT present, policy served over trusted HTTPS, mode enforce, mx list covers the host."""
    txt = [t for t in await dns_client.texts(f"_mta-sts.{domain.name}")
           if t.replace(" ", "").startswith("v=STSv1")]
    if not txt:
        missing = f"MTA-STS {domain.name}: no _mta-sts TXT record"
        return warning(missing) if required else ok(missing + " (not required)")
    if len(txt) > 1:
        return error(f"MTA-STS {domain.name}: {len(txt)} _mta-sts records")
    policy_host = f"mta-sts.{domain.name}"
    try:
        status, body = await fetch_policy(policy_host)
    except DnsUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to fetch is the finding
        return error(f"MTA-STS {domain.name}: policy not reachable at https://{policy_host}: {exc}")
    if status != 200:
        return error(f"MTA-STS {domain.name}: policy request answered HTTP {status}")
    fields: dict[str, list[str]] = {}
    for line in body.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), []).append(value.strip())
    if fields.get("version") != ["STSv1"]:
        return error(f"MTA-STS {domain.name}: policy has no 'version: STSv1'")
    mode = (fields.get("mode") or [""])[0].lower()
    patterns = fields.get("mx", [])
    if not any(mx_pattern_matches(p, target.hostname) for p in patterns):
        return error(f"MTA-STS {domain.name}: mx list {patterns} does not cover {target.hostname}", mode)
    if mode != "enforce":
        return warning(f"MTA-STS {domain.name}: mode {mode or 'missing'}, not enforce", mode or None)
    return ok(f"MTA-STS {domain.name}: enforce, mx covers {target.hostname}", mode)


async def tlsa(dns_client: DnsClient, target: ServerTarget, leaf_der: bytes | None,
               required: bool) -> Outcome:
    """`_25._tcp.<host>` TLSA records match the certificate the server presents on STARTTLS."""
    name = f"_25._tcp.{target.hostname}"
    records = await dns_client.rdatas(name, "TLSA")
    if not records:
        missing = f"TLSA {name}: not published (DANE off)"
        return warning(missing) if required else ok(missing)
    if leaf_der is None:
        return unknown(f"TLSA {name}: published, but no certificate was read on port 25 to compare")
    leaf_records = [r for r in records if r.usage in (1, 3)]
    if any(tlsa_matches(leaf_der, r.usage, r.selector, r.mtype, r.cert) for r in leaf_records):
        return ok(f"TLSA {name}: matches the certificate on port 25", len(records))
    if leaf_records:
        return error(f"TLSA {name}: no record matches the certificate on port 25 (DANE senders will fail)",
                     len(records))
    return warning(f"TLSA {name}: only trust-anchor records (usage 0/2), not verified here", len(records))


async def ptr(dns_client: DnsClient, target: ServerTarget, address: str) -> Outcome:
    """PTR of the address equals the mail host name, and the host name resolves back (FCrDNS)."""
    rev = dns.reversename.from_address(address).to_text()
    records = await dns_client.rdatas(rev, "PTR")
    names = sorted({r.target.to_text(omit_final_dot=True).lower() for r in records})
    if not names:
        return error(f"PTR {address}: no reverse DNS (expected {target.hostname})")
    if target.hostname not in names:
        return error(f"PTR {address} is {', '.join(names)}, expected {target.hostname}", ", ".join(names))
    rdtype = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
    forward = {str(ipaddress.ip_address(a)) for a in await dns_client.addresses(target.hostname, rdtype)}
    if address not in forward:
        return error(f"PTR {address} -> {target.hostname}, but {target.hostname} {rdtype} does not lead back",
                     target.hostname)
    return ok(f"PTR {address} -> {target.hostname} -> {address}", target.hostname)


async def soa_serials(dns_client: DnsClient, zone: str, dns_port: int = 53) -> Outcome:
    """Every authoritative server of the zone gives the same SOA serial."""
    ns_names = sorted({r.target.to_text(omit_final_dot=True) for r in await dns_client.rdatas(zone, "NS")})
    if not ns_names:
        return error(f"SOA {zone}: no NS records")
    serials: dict[str, int] = {}
    silent: list[str] = []
    for ns in ns_names:
        addresses = await dns_client.addresses(ns, "A") + await dns_client.addresses(ns, "AAAA")
        if not addresses:
            silent.append(f"{ns} (no address)")
        for addr in addresses:
            try:
                serials[f"{ns}/{addr}"] = await dns_client.soa_serial_at(zone, addr, dns_port)
            except DnsUnavailable as exc:
                silent.append(f"{ns}/{addr} ({exc})")
    distinct = sorted(set(serials.values()))
    shown = ", ".join(f"{k}={v}" for k, v in sorted(serials.items()))
    if len(distinct) > 1:
        return error(f"SOA {zone}: serials differ: {shown}", max(distinct))
    if silent:
        detail = f"SOA {zone}: {len(silent)} authoritative server(s) did not answer: {'; '.join(silent)}"
        return warning(detail, distinct[0] if distinct else None) if serials else error(detail)
    return ok(f"SOA {zone}: serial {distinct[0]} on all {len(serials)} authoritative servers", distinct[0])


async def dnsbl_listing(dns_client: DnsClient, subject: str, dnsbl: DnsblList) -> Outcome:
    """Look one IP (or domain) up on one list. Timeouts and resolver errors are UNKNOWN."""
    try:
        answers = await dns_client.addresses(query_name(subject, dnsbl), "A")
    except DnsUnavailable as exc:
        return unknown(f"{dnsbl.name}: lookup failed, listing unknown ({exc})")
    verdict = classify(dnsbl, answers)
    return Outcome(verdict.status, ", ".join(answers) or None, verdict.detail,
                   dnsbl.delist_url if verdict.listed else None)
