"""DNS checks of one server and its mail domains, all through the project's resolver (and, for
delegation and serials, each authoritative server asked directly).

Each function returns one `Outcome`; a lookup that cannot be answered raises DnsUnavailable,
which the engine turns into an UNKNOWN result. Every failure carries a stable `code`
(``family.problem``) that the DNS doctor (`mailfleet.dnsdoctor`) explains and tells how to fix.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Awaitable, Callable, Sequence

import dns.reversename

from mailfleet.dns.rdata import Record, canonical_from_rdata

from .dnsbl import TEST_CLEAN, DnsblList, ListKind, classify, query_name
from .dnsclient import DnsClient, DnsUnavailable
from .dnssec import Security, security
from .outcome import Outcome, error, ok, unknown, warning
from .results import Status
from .targets import MailDomain, ServerTarget
from .tlsinfo import dane_ee_value, tlsa_matches

# Cloudflare's published edge ranges (cloudflare.com/ips): a mail host answering inside them is
# proxied ("orange cloud"), and SMTP/IMAP never reach the server.
CLOUDFLARE_NETWORKS: tuple[str, ...] = (
    "173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22", "141.101.64.0/18",
    "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20", "197.234.240.0/22", "198.41.128.0/17",
    "162.158.0.0/15", "104.16.0.0/13", "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
    "2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32", "2405:8100::/32",
    "2a06:98c0::/29", "2c0f:f248::/32",
)
SPF_LOOKUP_LIMIT = 10  # RFC 7208 4.6.4: more DNS-querying terms is a permanent error
_IPV4_LITERAL = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


async def host_addresses(dns_client: DnsClient, target: ServerTarget, rdtype: str,
                         proxy_networks: Sequence[str] = CLOUDFLARE_NETWORKS) -> Outcome:
    """A (or AAAA) of the mail host name equals the server's addresses of that family."""
    expected = set(target.ipv4 if rdtype == "A" else target.ipv6)
    found = {str(ipaddress.ip_address(a)) for a in await dns_client.addresses(target.hostname, rdtype)}
    shown = ", ".join(sorted(found)) or "none"
    family = rdtype.lower()
    if found == expected:
        return ok(f"{rdtype} {target.hostname}: {shown}", shown if found else None)
    if not found:
        return error(f"{rdtype} {target.hostname}: no record, server has {', '.join(sorted(expected))}",
                     code=f"host.{family}-missing")
    proxied = sorted(a for a in found - expected if _in_networks(a, proxy_networks))
    if proxied:
        server = ", ".join(sorted(expected)) or "the server"
        return error(f"{rdtype} {target.hostname} answers {', '.join(proxied)}, a proxy's address "
                     f"(the record is proxied): mail never reaches {server}",
                     shown, code="host.proxied")
    if not expected:
        return error(f"{rdtype} {target.hostname} points at {shown}, but the server has no such address",
                     shown, code=f"host.{family}-unexpected")
    return error(f"{rdtype} {target.hostname} points at {shown}, server has {', '.join(sorted(expected))}",
                 shown, code=f"host.{family}-wrong")


def _in_networks(address: str, networks: Sequence[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in net for net in map(ipaddress.ip_network, networks) if net.version == ip.version)


async def mx(dns_client: DnsClient, target: ServerTarget, domain: MailDomain) -> Outcome:
    """MX exists, names a host (not an address, not an alias) and that host is the server's."""
    records = await dns_client.rdatas(domain.name, "MX")
    hosts = sorted({r.exchange.to_text(omit_final_dot=True).lower() for r in records})
    shown = ", ".join(hosts)
    if not hosts:
        return error(f"MX {domain.name}: no MX record", code="mx.missing")
    literals = [h for h in hosts if _IPV4_LITERAL.match(h)]
    if literals:
        return error(f"MX {domain.name} names an IP address ({', '.join(literals)}); an MX must name a host",
                     shown, code="mx.ip")
    for host in hosts:
        aliases = await dns_client.rdatas(host, "CNAME")
        if aliases:
            alias = aliases[0].target.to_text(omit_final_dot=True)
            return error(f"MX {domain.name} points at {host}, an alias (CNAME to {alias}); "
                         "an MX must name the host itself",
                         shown, code="mx.cname")
    if target.hostname in hosts:
        return ok(f"MX {domain.name}: {shown}", shown)
    return error(f"MX {domain.name} points at {shown}, not {target.hostname}", shown, code="mx.wrong-host")


def spf_records(texts: list[str]) -> list[str]:
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
                return error(f"SPF: invalid network in {term!r}", record, code="spf.invalid")
            if any(ipaddress.ip_address(a) in net for a in target.addresses if
                   ipaddress.ip_address(a).version == net.version):
                authorised = authorised or term
        elif name in ("include", "redirect") or mech.lower().startswith("redirect="):
            indirect = True
    if final == "+":
        return error("SPF ends in +all: anyone may send as this domain", record, code="spf.plus-all")
    if authorised is None:
        if indirect:
            return warning("SPF authorises the server only through include/redirect (not followed)", record,
                           code="spf.indirect")
        return error(f"SPF does not authorise {target.hostname} ({', '.join(target.addresses)})", record,
                     code="spf.not-authorised")
    if final is None and "redirect=" not in record.lower():
        return warning(f"SPF has no final 'all' (authorised by {authorised})", record, code="spf.no-all")
    if final == "?":
        return warning("SPF ends in ?all (neutral): receivers learn nothing", record, code="spf.neutral-all")
    return ok(f"SPF authorises the server ({authorised}), ends {final}all", record)


async def spf_lookups(dns_client: DnsClient, record: str, _seen: frozenset[str] = frozenset()) -> int:
    """DNS-querying terms of an SPF record, counting those of every include/redirect it follows
    (RFC 7208 4.6.4). A loop or a missing included record counts as over the limit."""
    count = 0
    for term in record.split()[1:]:
        mech = term.lstrip("+-~?")
        name, _, arg = mech.partition("=" if mech.lower().startswith("redirect=") else ":")
        name = name.lower().split("/")[0]
        if name not in ("include", "a", "mx", "ptr", "exists", "redirect"):
            continue
        count += 1
        if name in ("include", "redirect") and arg:
            child = arg.lower().rstrip(".")
            if child in _seen:
                return SPF_LOOKUP_LIMIT + 1
            included = spf_records(await dns_client.texts(child))
            if len(included) != 1:
                return SPF_LOOKUP_LIMIT + 1
            count += await spf_lookups(dns_client, included[0], _seen | {child})
        if count > SPF_LOOKUP_LIMIT:
            break
    return count


async def spf(dns_client: DnsClient, target: ServerTarget, domain: MailDomain) -> Outcome:
    records = spf_records(await dns_client.texts(domain.name))
    if not records:
        return error(f"SPF {domain.name}: no v=spf1 record", code="spf.missing")
    if len(records) > 1:
        return error(f"SPF {domain.name}: {len(records)} v=spf1 records (a permanent error for receivers)",
                     code="spf.multiple")
    lookups = await spf_lookups(dns_client, records[0])
    if lookups > SPF_LOOKUP_LIMIT:
        return error(f"SPF {domain.name}: more than {SPF_LOOKUP_LIMIT} DNS lookups (counting includes), "
                     "a permanent error for receivers", records[0], code="spf.too-many-lookups")
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
        return error(f"DKIM {name}: no record", code="dkim.missing")
    if len(records) > 1:
        return error(f"DKIM {name}: {len(records)} key records", code="dkim.multiple")
    published = "".join(tags(records[0]).get("p", "").split())
    if not published:
        return error(f"DKIM {name}: key revoked (empty p=)", code="dkim.revoked")
    if domain.dkim_public_key is None:
        return warning(f"DKIM {name}: published, but the server's key is not known to compare",
                       code="dkim.key-unknown")
    if published != domain.dkim_public_key:
        return error(f"DKIM {name}: record does not match the server's key", code="dkim.mismatch")
    return ok(f"DKIM {name}: record matches the server's key")


def _dmarc_records(texts: list[str]) -> list[str]:
    return [t for t in texts if t.replace(" ", "").upper().startswith("V=DMARC1")]


async def dmarc(dns_client: DnsClient, target: ServerTarget, domain: MailDomain) -> Outcome:
    name = f"_dmarc.{domain.name}"
    records = _dmarc_records(await dns_client.texts(name))
    if not records:
        return error(f"DMARC {name}: no v=DMARC1 record", code="dmarc.missing")
    if len(records) > 1:
        return error(f"DMARC {name}: {len(records)} records (receivers ignore them all)",
                     code="dmarc.multiple")
    policy = tags(records[0]).get("p", "").lower()
    if policy in ("reject", "quarantine"):
        return ok(f"DMARC p={policy}", policy)
    if policy == "none":
        return warning("DMARC p=none: monitoring only, spoofed mail is still delivered", policy,
                       code="dmarc.policy-none")
    return error(f"DMARC {name}: missing or invalid p= ({policy!r})", policy or None, code="dmarc.invalid")


async def dmarc_reports(dns_client: DnsClient, domain: MailDomain) -> Outcome:
    """Report addresses (rua/ruf) in another domain are authorised there (RFC 7489 7.1):
    `<domain>._report._dmarc.<report domain>` TXT "v=DMARC1"."""
    records = _dmarc_records(await dns_client.texts(f"_dmarc.{domain.name}"))
    if len(records) != 1:
        return ok("DMARC report addresses: no single DMARC record to read")
    found = tags(records[0])
    uris = [u.strip() for key in ("rua", "ruf") for u in found.get(key, "").split(",") if u.strip()]
    report_domains = sorted({u.partition("@")[2].partition("!")[0].lower().rstrip(".")
                             for u in uris if u.lower().startswith("mailto:") and "@" in u})
    outside = [d for d in report_domains if d and d != domain.name and not d.endswith("." + domain.name)]
    missing = []
    for report_domain in outside:
        name = f"{domain.name}._report._dmarc.{report_domain}"
        if not _dmarc_records(await dns_client.texts(name)):
            missing.append(name)
    if missing:
        return warning(f"DMARC reports go to {', '.join(outside)}, which does not authorise them "
                       f"(no v=DMARC1 at {', '.join(missing)}): receivers send no reports",
                       ", ".join(missing), code="dmarc.report-unauthorized")
    if outside:
        return ok(f"DMARC reports to {', '.join(outside)}: authorised")
    return ok("DMARC reports stay in the domain" if report_domains else "DMARC: no report addresses")


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
        return warning(missing, code="mta-sts.missing") if required else ok(missing + " (not required)")
    if len(txt) > 1:
        return error(f"MTA-STS {domain.name}: {len(txt)} _mta-sts records", code="mta-sts.multiple")
    if not re.fullmatch(r"[A-Za-z0-9]{1,32}", tags(txt[0]).get("id", "")):
        return error(f"MTA-STS {domain.name}: the _mta-sts record has no valid id= (1-32 letters or digits)",
                     txt[0], code="mta-sts.invalid-record")
    policy_host = f"mta-sts.{domain.name}"
    try:
        status, body = await fetch_policy(policy_host)
    except DnsUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to fetch is the finding
        return error(f"MTA-STS {domain.name}: policy not reachable at https://{policy_host}: {exc}",
                     code="mta-sts.policy-unreachable")
    if status != 200:
        return error(f"MTA-STS {domain.name}: policy request answered HTTP {status}",
                     code="mta-sts.policy-unreachable")
    fields: dict[str, list[str]] = {}
    for line in body.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), []).append(value.strip())
    if fields.get("version") != ["STSv1"]:
        return error(f"MTA-STS {domain.name}: policy has no 'version: STSv1'", code="mta-sts.policy-invalid")
    mode = (fields.get("mode") or [""])[0].lower()
    patterns = fields.get("mx", [])
    if not any(mx_pattern_matches(p, target.hostname) for p in patterns):
        return error(f"MTA-STS {domain.name}: mx list {patterns} does not cover {target.hostname}", mode,
                     code="mta-sts.mx-mismatch")
    if mode != "enforce":
        return warning(f"MTA-STS {domain.name}: mode {mode or 'missing'}, not enforce", mode or None,
                       code="mta-sts.not-enforced")
    return ok(f"MTA-STS {domain.name}: enforce, mx covers {target.hostname}", mode)


async def tls_rpt(dns_client: DnsClient, domain: MailDomain) -> Outcome:
    """`_smtp._tls` TXT (RFC 8460): one v=TLSRPTv1 record with a mailto: or https: rua."""
    name = f"_smtp._tls.{domain.name}"
    records = [t for t in await dns_client.texts(name) if t.replace(" ", "").startswith("v=TLSRPTv1")]
    if not records:
        return warning(f"TLS-RPT {name}: no v=TLSRPTv1 record (no reports of failed TLS deliveries)",
                       code="tls-rpt.missing")
    if len(records) > 1:
        return error(f"TLS-RPT {name}: {len(records)} records (senders ignore them all)",
                     code="tls-rpt.multiple")
    rua = [u.strip() for u in tags(records[0]).get("rua", "").split(",") if u.strip()]
    if not rua or not all(u.startswith(("mailto:", "https:")) for u in rua):
        return error(f"TLS-RPT {name}: rua= must list mailto: or https: addresses", records[0],
                     code="tls-rpt.invalid")
    return ok(f"TLS-RPT {name}: reports to {', '.join(rua)}", records[0])


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


async def dane(dns_client: DnsClient, target: ServerTarget, zone: str, chain: Outcome,
               served: Callable[[], Awaitable[bytes | None]]) -> Outcome:
    """TLSA of the mail host counts only where DNSSEC secures its zone (RFC 7672: DANE senders
    ignore TLSA an unsigned, or signed but undelegated, zone serves), as ``chain`` (the zone's
    ``dnssec_chain`` outcome) says; there it should be published, as DANE-EE/DANE-TA (usage 3/2)
    records, and a DANE-EE record must match the certificate ``served`` on port 25 (asked only then).
    A mismatch's value is the record that would match."""
    name = f"_25._tcp.{target.hostname}"
    state = security(chain)
    if state in (Security.BOGUS, Security.UNKNOWN):
        return unknown(f"TLSA {name}: not judged while the DNSSEC chain of {zone} is {state.value} "
                       "(see the DNSSEC check)")
    records = await dns_client.rdatas(name, "TLSA")
    if state is not Security.SECURE:
        why = ("is not signed" if state is Security.UNSIGNED
               else "is signed, but its parent has no DS record for it")
        if records:
            return warning(f"TLSA {name}: published, but the zone {zone} {why}: DANE senders ignore it",
                           len(records), code="tlsa.unsigned-zone")
        return ok(f"TLSA {name}: none, and the zone {zone} {why} (DANE does not apply)")
    if not records:
        return warning(f"TLSA {name}: none, although DNSSEC secures the zone {zone}: senders cannot use "
                       "DANE", code="tlsa.missing")
    pkix = sorted({r.usage for r in records} & {0, 1})
    if pkix:
        return warning(f"TLSA {name}: usage {', '.join(map(str, pkix))} (PKIX) records, which SMTP DANE "
                       "senders do not use; publish usage 3 (DANE-EE) or 2 (DANE-TA)", len(records),
                       code="tlsa.pkix-usage")
    pins = [r for r in records if r.usage == 3]
    if not pins:
        return ok(f"TLSA {name}: {len(records)} DANE-TA record(s) in the signed zone {zone} (the issuer "
                  "they pin is not compared here)", len(records))
    der = await served()
    if der is None:
        return unknown(f"TLSA {name}: published, but no certificate could be read on "
                       f"{target.hostname} port 25 to compare")
    if any(tlsa_matches(der, r.usage, r.selector, r.mtype, r.cert) for r in pins):
        return ok(f"TLSA {name}: matches the certificate served on port 25", len(records))
    return error(f"TLSA {name}: no record matches the certificate {target.hostname} serves on port 25, "
                 "so DANE senders refuse to deliver", dane_ee_value(der), code="tlsa.mismatch")


# The property tags RFC 8659 defines, and those of RFC 8657 and the CA/B Forum; a CA refuses to
# issue under a set holding any other tag flagged critical.
_CAA_KNOWN_TAGS = frozenset({b"issue", b"issuewild", b"iodef", b"accounturi", b"validationmethods",
                             b"contactemail", b"contactphone"})


async def caa(dns_client: DnsClient, name: str, ca: str) -> Outcome:
    """The CAA set that governs ``name`` lets ``ca`` (its issuer domain, e.g. letsencrypt.org) issue
    its certificate. RFC 8659 3: that set is the first non-empty one climbing from the name towards
    the root, past its zone's apex into the parent zones (the root itself is not asked); aliases are
    followed as any lookup does. A refusal's value is the name holding that set, where the fix goes."""
    owner = name
    found = await dns_client.rdatas(owner, "CAA")
    while not found and "." in owner:
        owner = owner.partition(".")[2]
        found = await dns_client.rdatas(owner, "CAA")
    critical = sorted({r.tag.decode("ascii", "replace") for r in found
                       if r.flags & 128 and r.tag.lower() not in _CAA_KNOWN_TAGS})
    if critical:
        return error(f"CAA {owner}: the critical property {', '.join(critical)} is unknown to CAs, so no CA "
                     f"may issue the certificate of {name}", owner, code="caa.forbids-ca")
    records = [r for r in found if r.tag.lower() == b"issue"]
    if not records:
        return ok(f"CAA {name}: no issue restriction (any CA may issue)")
    issuers = sorted({r.value.decode("ascii", "replace").partition(";")[0].strip().lower() for r in records})
    if ca.lower() in issuers:
        return ok(f"CAA {owner}: allows {ca}", ", ".join(issuers))
    shown = ", ".join(i for i in issuers if i) or "no CA"
    return error(f"CAA {owner} allows only {shown}: {ca} may not issue the certificate of {name}, so it "
                 "cannot be renewed", owner, code="caa.forbids-ca")


async def autoconfig(dns_client: DnsClient, target: ServerTarget, domain: MailDomain) -> Outcome:
    """autoconfig.<domain> and autodiscover.<domain> (what mail clients look up to set themselves
    up) lead to the mail host: an alias of it, or its addresses."""
    missing, wrong = [], []
    for name in (f"autoconfig.{domain.name}", f"autodiscover.{domain.name}"):
        aliases = [r.target.to_text(omit_final_dot=True).lower()
                   for r in await dns_client.rdatas(name, "CNAME")]
        if aliases:
            if aliases != [target.hostname]:
                wrong.append(f"{name} is an alias of {', '.join(aliases)}")
            continue
        found = set(await dns_client.addresses(name, "A"))
        if not found:
            missing.append(name)
        elif not found & set(target.ipv4):
            wrong.append(f"{name} points at {', '.join(sorted(found))}")
    if wrong:
        return warning(f"client setup: {'; '.join(wrong)}, not {target.hostname}", code="autoconfig.wrong")
    if missing:
        return warning(f"client setup: no record at {', '.join(missing)}: mail clients cannot set "
                       "themselves up", code="autoconfig.missing")
    return ok(f"client setup: autoconfig and autodiscover lead to {target.hostname}")


async def srv(dns_client: DnsClient, expected: Sequence[Record]) -> Outcome:
    """The service records of RFC 6186/8314 (submission, IMAP, POP3, autodiscover) hold what
    mailfleet publishes: ``expected`` are those SRV records."""
    names = sorted({r.name for r in expected})
    found = dict(zip(names, await asyncio.gather(*(dns_client.rdatas(n, "SRV") for n in names)), strict=True))
    missing = [n for n in names if not found[n]]
    wrong = [f"{n} is {', '.join(sorted(canonical_from_rdata(r) for r in found[n]))}"
             for n in names if found[n] and not {r.value for r in expected if r.name == n}
             <= {canonical_from_rdata(r) for r in found[n]}]
    if wrong:
        return warning(f"SRV: {'; '.join(wrong)}, not what the server offers", code="srv.wrong")
    if missing:
        return warning(f"SRV: {len(missing)} of {len(names)} service records missing ({', '.join(missing)}): "
                       "mail clients cannot discover the server's ports", code="srv.missing")
    return ok(f"SRV: all {len(names)} service records published", len(names))


async def ptr(dns_client: DnsClient, target: ServerTarget, address: str) -> Outcome:
    """PTR of the address equals the mail host name, and the host name resolves back (FCrDNS)."""
    rev = dns.reversename.from_address(address).to_text()
    records = await dns_client.rdatas(rev, "PTR")
    names = sorted({r.target.to_text(omit_final_dot=True).lower() for r in records})
    if not names:
        return error(f"PTR {address}: no reverse DNS (expected {target.hostname})", code="ptr.missing")
    if target.hostname not in names:
        return error(f"PTR {address} is {', '.join(names)}, expected {target.hostname}", ", ".join(names),
                     code="ptr.wrong")
    rdtype = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
    forward = {str(ipaddress.ip_address(a)) for a in await dns_client.addresses(target.hostname, rdtype)}
    if address not in forward:
        return error(f"PTR {address} -> {target.hostname}, but {target.hostname} {rdtype} does not lead back",
                     target.hostname, code="ptr.no-fcrdns")
    return ok(f"PTR {address} -> {target.hostname} -> {address}", target.hostname)


async def soa_serials(dns_client: DnsClient, zone: str, dns_port: int = 53) -> Outcome:
    """Every authoritative server of the zone gives the same SOA serial; laggards and servers that
    do not answer authoritatively (lame) are named."""
    ns_names = sorted({r.target.to_text(omit_final_dot=True) for r in await dns_client.rdatas(zone, "NS")})
    if not ns_names:
        return error(f"SOA {zone}: no NS records", code="delegation.no-ns")
    serials: dict[str, int] = {}
    silent: list[str] = []

    async def addresses(ns: str) -> list[str]:
        a, aaaa = await asyncio.gather(dns_client.addresses(ns, "A"), dns_client.addresses(ns, "AAAA"))
        return a + aaaa

    async def serial(key: str, addr: str) -> tuple[str, int | DnsUnavailable]:
        try:
            return key, await dns_client.soa_serial_at(zone, addr, dns_port)
        except DnsUnavailable as exc:
            return key, exc

    per_ns = await asyncio.gather(*(addresses(ns) for ns in ns_names))
    silent += [f"{ns} (no address)" for ns, found in zip(ns_names, per_ns, strict=True) if not found]
    asked = await asyncio.gather(*(serial(f"{ns}/{addr}", addr)
                                   for ns, found in zip(ns_names, per_ns, strict=True) for addr in found))
    for key, answer in asked:
        if isinstance(answer, DnsUnavailable):
            silent.append(f"{key} ({answer})")
        else:
            serials[key] = answer
    distinct = sorted(set(serials.values()))
    shown = ", ".join(f"{k}={v}" for k, v in sorted(serials.items()))
    if len(distinct) > 1:
        newest = distinct[-1]
        behind = ", ".join(k for k, v in sorted(serials.items()) if v != newest)
        return error(f"SOA {zone}: serials differ: {shown}; {behind} lag behind serial {newest}", newest,
                     code="delegation.lagging")
    if silent:
        detail = f"SOA {zone}: {len(silent)} authoritative server(s) did not answer: {'; '.join(silent)}"
        if serials:
            return warning(detail, distinct[0], code="delegation.lame")
        return error(detail, code="delegation.lame")
    return ok(f"SOA {zone}: serial {distinct[0]} on all {len(serials)} authoritative servers", distinct[0])


async def ns_delegation(dns_client: DnsClient, zone: str, dns_port: int = 53) -> Outcome:
    """The NS set the parent zone delegates with equals the zone's own NS set."""
    in_zone = sorted({r.target.to_text(omit_final_dot=True).lower()
                      for r in await dns_client.rdatas(zone, "NS")})
    if not in_zone:
        return error(f"NS {zone}: the zone lists no name servers", code="delegation.no-ns")
    parent_name = zone.partition(".")[2]
    try:
        parent = await dns_client.zone_of(parent_name)
        parent_servers = [a for ns in await dns_client.rdatas(parent, "NS")
                          for a in await dns_client.addresses(ns.target.to_text(), "A")]
        if not parent_servers:
            raise DnsUnavailable(f"the parent zone {parent} has no name server with an address")
        at_parent = await dns_client.delegation_at(zone, parent_servers[0], dns_port)
    except DnsUnavailable as exc:
        return unknown(f"NS {zone}: the parent zone's servers cannot be asked ({exc})",
                       code="delegation.parent-unknown")
    if not at_parent:
        return error(f"NS {zone}: the parent zone {parent} ({parent_servers[0]}) does not delegate it",
                     code="delegation.parent-mismatch")
    if at_parent != in_zone:
        return error(f"NS {zone}: the parent {parent} delegates to {', '.join(at_parent)}, the zone lists "
                     f"{', '.join(in_zone)}", ", ".join(at_parent), code="delegation.parent-mismatch")
    return ok(f"NS {zone}: parent {parent} and zone agree ({', '.join(in_zone)})", ", ".join(in_zone))


async def dnsbl_listing(dns_client: DnsClient, subject: str, dnsbl: DnsblList) -> Outcome:
    """Look one IP (or domain) up on one list. Timeouts and resolver errors are UNKNOWN."""
    try:
        answers = await dns_client.addresses(query_name(subject, dnsbl), "A")
    except DnsUnavailable as exc:
        return unknown(f"{dnsbl.name}: lookup failed, listing unknown ({dnsbl.without_key(str(exc))})")
    verdict = classify(dnsbl, answers)
    return Outcome(verdict.status, ", ".join(answers) or None, verdict.detail,
                   dnsbl.delist_url if verdict.listed else None, critical=verdict.critical)


async def dnsbl_selftest(dns_client: DnsClient, dnsbl: DnsblList) -> str | None:
    """Why `dnsbl` cannot be trusted this sweep, or None when it passes its self-test: its test
    entry must be listed and, on an IP list, 127.0.0.1 must not be (a list answering everything
    is dead or wildcarded). A list without a test entry passes."""
    if dnsbl.test_entry is None:
        return None
    try:
        listed = classify(dnsbl, await dns_client.addresses(query_name(dnsbl.test_entry, dnsbl), "A"))
        clean = (classify(dnsbl, await dns_client.addresses(query_name(TEST_CLEAN, dnsbl), "A"))
                 if dnsbl.kind is ListKind.IP else None)
    except DnsUnavailable as exc:
        return f"its test entry could not be looked up ({dnsbl.without_key(str(exc))})"
    if not listed.listed:
        return f"its test entry {dnsbl.test_entry} is not listed ({listed.detail})"
    if clean is not None and clean.status is not Status.OK:
        return f"it lists {TEST_CLEAN}, which no working list does ({clean.detail})"
    return None
