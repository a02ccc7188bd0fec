"""What each DNS problem means: the catalogue of finding codes, and `Finding`, one problem found.

A code is ``family.problem`` and never changes meaning (alerts, the API and the wizard key on it).
Sections give the order a person fixes things in: nothing else matters while the delegation is
wrong, and authentication records are useless while mail is routed elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mailfleet.dns.rdata import Record
from mailfleet.monitoring.results import Status

__all__ = ["CATALOGUE", "SECTIONS", "Finding", "Problem"]

SECTIONS = ("delegation", "routing", "authentication", "transport", "client", "checks")


@dataclass(frozen=True)
class Problem:
    code: str
    section: str
    title: str
    explanation: str
    blocking: bool = True  # keeps the domain from being ready while found
    at_registrar: bool = False  # its records live in the parent zone: publishing the zone never fixes it


_PROBLEMS = (
    Problem("delegation.no-ns", "delegation", "The zone lists no name servers",
            "Without NS records nobody can find the servers that answer for the domain."),
    Problem("delegation.parent-mismatch", "delegation", "The registrar's name servers differ from the zone's",
            "Resolvers follow the name servers set at the registrar (the parent zone). If they differ from "
            "the zone's own NS records, some resolvers ask servers that do not have your records.",
            at_registrar=True),
    Problem("delegation.parent-unknown", "delegation", "The parent zone could not be asked",
            "The delegation at the registrar could not be compared; the rest of the checks still ran.",
            blocking=False),
    Problem("delegation.lame", "delegation", "A name server does not answer for the zone",
            "A listed name server that does not answer authoritatively (lame) makes lookups slow or fail "
            "for every resolver that picks it."),
    Problem("delegation.lagging", "delegation", "A name server still serves an older copy of the zone",
            "Its SOA serial is behind the newest: it has not transferred the latest change yet, so "
            "resolvers asking it get the old records. It catches up on the next transfer."),
    Problem("dnssec.ds-missing", "delegation", "The zone is signed, but the registrar has no DS record",
            "DNSSEC protects a zone only once its parent holds a DS record naming the zone's key-signing "
            "key; until then resolvers treat it as unsigned and DANE senders ignore its TLSA records.",
            blocking=False, at_registrar=True),
    Problem("dnssec.ds-mismatch", "delegation", "The registrar's DS record does not match the zone",
            "The parent's DS names no key the zone is signed with (or the zone is not signed at all): "
            "validating resolvers refuse every answer for the domain, so mail to it stops.",
            at_registrar=True),
    Problem("dnssec.ds-rollover", "delegation", "A new key-signing key waits for its DS at the registrar",
            "The zone's signer started a key-signing key rollover: it publishes the successor key, and "
            "the old one can be retired only once the parent holds the successor's DS. The domain "
            "validates meanwhile through the old DS.",
            blocking=False, at_registrar=True),
    Problem("dnssec.ds-stale", "delegation", "The registrar still holds the DS of a retired key",
            "A DS record names a key the zone has retired: it no longer publishes it, or its CDS records "
            "(the signer's request to the parent) name only the successor. It does no harm while another "
            "DS names a current key; removing it lets the signer finish the rollover.",
            blocking=False, at_registrar=True),
    Problem("dnssec.bogus", "delegation", "The zone's DNSSEC signatures do not validate",
            "Signatures missing, expired or made with a key the DS does not lead to: validating resolvers "
            "refuse every answer for the domain, so mail to it stops."),
    Problem("mx.missing", "routing", "No MX record",
            "Senders look up the domain's MX to know where to deliver; without one they try the domain's "
            "own address or give up."),
    Problem("mx.ip", "routing", "The MX names an IP address",
            "An MX must name a host; many senders reject or misroute an MX that is an address."),
    Problem("mx.cname", "routing", "The MX points at an alias (CNAME)",
            "RFC 2181 forbids an MX that names a CNAME; some senders refuse to deliver."),
    Problem("mx.wrong-host", "routing", "The MX points at another server",
            "Mail for the domain is delivered to the host the MX names, not to this server."),
    Problem("host.a-missing", "routing", "The mail host has no IPv4 address record",
            "The MX names the mail host; without its A record senders cannot connect."),
    Problem("host.a-wrong", "routing", "The mail host's IPv4 address is wrong",
            "Senders connect to the address the A record gives, not to this server."),
    Problem("host.a-unexpected", "routing", "The mail host has an IPv4 address the server does not have",
            "Senders may connect to that address and fail."),
    Problem("host.aaaa-missing", "routing", "The mail host has no IPv6 address record",
            "IPv6 senders cannot reach the server by name."),
    Problem("host.aaaa-wrong", "routing", "The mail host's IPv6 address is wrong",
            "IPv6 senders connect to the address the AAAA record gives, not to this server."),
    Problem("host.aaaa-unexpected", "routing", "The mail host has an IPv6 address the server does not have",
            "IPv6 senders connect there and fail; remove the record."),
    Problem("host.proxied", "routing", "The mail host is proxied",
            "A proxied (Cloudflare orange-cloud) name answers with the proxy's addresses, which carry web "
            "traffic only: SMTP and IMAP never reach the server."),
    Problem("ptr.missing", "routing", "The server's address has no reverse DNS",
            "Receivers reject or junk mail from an address without a PTR record."),
    Problem("ptr.wrong", "routing", "Reverse DNS names another host",
            "The PTR of the sending address should be the mail host name the server greets with."),
    Problem("ptr.no-fcrdns", "routing", "Reverse DNS does not resolve back",
            "Forward-confirmed reverse DNS: the PTR name must have an address record that leads back."),
    Problem("spf.missing", "authentication", "No SPF record",
            "Receivers cannot tell which servers may send as the domain; mail is more likely junked."),
    Problem("spf.multiple", "authentication", "More than one SPF record",
            "Two v=spf1 records are a permanent error (RFC 7208): receivers treat SPF as failing. "
            "Merge them."),
    Problem("spf.too-many-lookups", "authentication", "SPF needs more than 10 DNS lookups",
            "Receivers stop at 10 lookups (includes count with what they include) and treat SPF as failing."),
    Problem("spf.not-authorised", "authentication", "SPF does not allow this server",
            "Mail sent by the server fails SPF at receivers."),
    Problem("spf.indirect", "authentication", "SPF allows this server only through an include",
            "It may be right, but it cannot be confirmed here; the record mailfleet publishes names the "
            "server directly.", blocking=False),
    Problem("spf.plus-all", "authentication", "SPF ends in +all",
            "+all lets anyone on the internet send as the domain."),
    Problem("spf.no-all", "authentication", "SPF has no final all",
            "Without -all or ~all receivers learn nothing about other senders.", blocking=False),
    Problem("spf.neutral-all", "authentication", "SPF ends in ?all",
            "A neutral all tells receivers nothing; use ~all or -all.", blocking=False),
    Problem("spf.invalid", "authentication", "SPF record is malformed",
            "Receivers treat a malformed SPF record as a permanent error."),
    Problem("dkim.missing", "authentication", "No DKIM key published",
            "Mail signed by the server cannot be verified; DMARC fails for it."),
    Problem("dkim.multiple", "authentication", "More than one DKIM key under the selector",
            "Receivers pick one at random; signatures fail half the time."),
    Problem("dkim.revoked", "authentication", "The DKIM key is revoked (empty p=)",
            "Every signature made with the selector fails."),
    Problem("dkim.mismatch", "authentication", "The DKIM key differs from the one Mailu signs with",
            "Signatures made by the server fail verification; DMARC fails."),
    Problem("dkim.key-unknown", "authentication", "The server's DKIM key is not known",
            "A key is published but could not be compared with Mailu's.", blocking=False),
    Problem("dmarc.missing", "authentication", "No DMARC record",
            "Receivers apply no policy to mail that fails SPF and DKIM, and large mailbox providers junk "
            "bulk mail without DMARC."),
    Problem("dmarc.multiple", "authentication", "More than one DMARC record",
            "Receivers ignore all of them."),
    Problem("dmarc.invalid", "authentication", "DMARC has no valid policy",
            "p= must be none, quarantine or reject."),
    Problem("dmarc.policy-none", "authentication", "DMARC policy is none",
            "Monitoring only: spoofed mail is still delivered. Move to quarantine, then reject.",
            blocking=False),
    Problem("dmarc.report-unauthorized", "authentication",
            "DMARC reports go to a domain that does not accept them",
            "When rua/ruf point at another domain, that domain must publish an authorisation record "
            "(RFC 7489 7.1); otherwise receivers send no reports.", blocking=False),
    Problem("mta-sts.missing", "transport", "No MTA-STS record",
            "Senders cannot require TLS to the server; a network attacker can strip encryption.",
            blocking=False),
    Problem("mta-sts.multiple", "transport", "More than one MTA-STS record",
            "Senders ignore MTA-STS when _mta-sts has several records."),
    Problem("mta-sts.invalid-record", "transport", "The MTA-STS record is malformed",
            "The _mta-sts record needs v=STSv1 and an id= of 1 to 32 letters or digits."),
    Problem("mta-sts.policy-unreachable", "transport", "The MTA-STS policy file cannot be fetched",
            "The record announces a policy, but https://mta-sts.<domain>/.well-known/mta-sts.txt does not "
            "serve it; senders that already cached a policy may refuse delivery."),
    Problem("mta-sts.policy-invalid", "transport", "The MTA-STS policy file is malformed",
            "Senders ignore a policy without 'version: STSv1'."),
    Problem("mta-sts.mx-mismatch", "transport", "The MTA-STS policy does not list the MX host",
            "Senders enforcing the policy refuse to deliver to an MX it does not list."),
    Problem("mta-sts.not-enforced", "transport", "MTA-STS is in testing mode",
            "Testing mode only reports; it does not protect delivery.", blocking=False),
    Problem("tls-rpt.missing", "transport", "No TLS-RPT record",
            "Senders cannot report failed TLS deliveries to you.", blocking=False),
    Problem("tls-rpt.multiple", "transport", "More than one TLS-RPT record",
            "Senders ignore all of them.", blocking=False),
    Problem("tls-rpt.invalid", "transport", "The TLS-RPT record is malformed",
            "rua= must list mailto: or https: addresses.", blocking=False),
    Problem("tlsa.missing", "transport", "No TLSA record in a signed zone",
            "DNSSEC secures the zone, so senders could verify the server's certificate with DANE; "
            "without a TLSA record at _25._tcp.<mail host> they cannot.", blocking=False),
    Problem("tlsa.unsigned-zone", "transport", "TLSA published in a zone DNSSEC does not secure",
            "DANE needs a validated DNSSEC chain: senders ignore TLSA records in a zone that is not signed, "
            "or signed without a DS record at its parent. Sign the zone and give the registrar its DS "
            "record, or remove the records.", blocking=False),
    Problem("tlsa.pkix-usage", "transport", "TLSA records of a usage SMTP senders ignore",
            "SMTP DANE (RFC 7672) uses TLSA usage 3 (DANE-EE) or 2 (DANE-TA); usage 0 and 1 records "
            "are ignored.", blocking=False),
    Problem("tlsa.mismatch", "transport", "The TLSA record does not match the server's certificate",
            "The zone is signed and pins a key at _25._tcp.<mail host> (DANE-EE), but the certificate the "
            "server presents on port 25 has another key: senders that check DANE refuse to deliver "
            "rather than fall back. Publish the record that matches it (or the key renewal changed it)."),
    Problem("caa.forbids-ca", "transport", "CAA forbids the certificate authority in use",
            "The CAA records allow other certificate authorities only: the one mailfleet gets the "
            "server's certificates from is refused, so they cannot be issued or renewed and TLS breaks "
            "when the current one expires."),
    Problem("autoconfig.missing", "client", "No autoconfig or autodiscover record",
            "Mail clients (Thunderbird, Outlook, phones) look up autoconfig.<domain> and "
            "autodiscover.<domain> to set themselves up; without them users type the server by hand.",
            blocking=False),
    Problem("autoconfig.wrong", "client", "autoconfig or autodiscover leads elsewhere",
            "Mail clients that set themselves up from these names are sent to another server.",
            blocking=False),
    Problem("srv.missing", "client", "Service (SRV) records missing",
            "Mail clients find the submission, IMAP and POP3 ports through SRV records (RFC 6186); "
            "without them they guess.", blocking=False),
    Problem("srv.wrong", "client", "Service (SRV) records lead elsewhere",
            "Mail clients that follow these SRV records connect to another host or port.",
            blocking=False),
    Problem("check.unavailable", "checks", "A check could not be completed",
            "A DNS server did not answer in time (or refused); the result is unknown and the check runs "
            "again."),
)
CATALOGUE: dict[str, Problem] = {p.code: p for p in _PROBLEMS}


@dataclass(frozen=True)
class Finding:
    """One problem: what (code, title, explanation), where (detail: which server answered what),
    and the fix (records to set, and the steps in the DNS host's own terms)."""

    code: str
    status: Status
    detail: str
    records: tuple[Record, ...] = ()
    guidance: tuple[str, ...] = ()
    value: Any = field(default=None, compare=False)

    @property
    def problem(self) -> Problem:
        return CATALOGUE[self.code]

    @property
    def blocking(self) -> bool:
        return self.problem.blocking and self.status is not Status.OK

    def to_dict(self) -> dict[str, Any]:
        problem = self.problem
        return {
            "code": self.code,
            "status": self.status.value,
            "section": problem.section,
            "title": problem.title,
            "explanation": problem.explanation,
            "blocking": self.blocking,
            "detail": self.detail,
            "records": [{"name": r.name, "type": r.rtype, "value": r.value, "ttl": r.ttl}
                        for r in self.records],
            "guidance": list(self.guidance),
        }
