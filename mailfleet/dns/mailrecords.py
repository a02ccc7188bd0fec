"""The records a Mailu mail server and its mail domains need, built from plain settings.

Pure functions: settings in (the dns role's variables), ownership units out. A *unit* is a set of
records owned together and recorded in one ownership manifest (see ``ownership``): one unit for the
mail host (A/AAAA, TLSA) and one per mail domain (MX, SPF, DKIM, DMARC, SRV, autoconfig, MTA-STS,
TLS-RPT). A domain with ``state: absent`` yields an empty unit, so everything it owned is removed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailfleet.validation import ValidationError, normalize_email

from .errors import DnsInputError
from .rdata import Record, normalize_name

__all__ = [
    "DEFAULT_SRV_SERVICES",
    "MANIFEST_LABEL",
    "Unit",
    "build_units",
    "mta_sts_policy",
]

MANIFEST_LABEL = "_mailfleet"

# RFC 6186 / RFC 8314 services as Mailu announces them: implicit TLS preferred (priority 10) over
# STARTTLS (20); _autodiscover for Outlook-style clients.
DEFAULT_SRV_SERVICES: tuple[dict[str, Any], ...] = (
    {"service": "_submissions._tcp", "priority": 10, "weight": 1, "port": 465},
    {"service": "_submission._tcp", "priority": 20, "weight": 1, "port": 587},
    {"service": "_imaps._tcp", "priority": 10, "weight": 1, "port": 993},
    {"service": "_imap._tcp", "priority": 20, "weight": 1, "port": 143},
    {"service": "_pop3s._tcp", "priority": 10, "weight": 1, "port": 995},
    {"service": "_pop3._tcp", "priority": 20, "weight": 1, "port": 110},
    {"service": "_autodiscover._tcp", "priority": 10, "weight": 1, "port": 443},
)

_PUBLISH_KEYS = (
    "mx", "spf", "dkim", "dmarc", "dmarc_report", "srv", "autoconfig", "mta_sts", "tls_rpt",
)


@dataclass(frozen=True)
class Unit:
    """Records owned together; ``manifest`` is the TXT name that lists them."""

    owner: str
    records: tuple[Record, ...]
    extras: Mapping[str, str] = field(default_factory=dict)

    @property
    def manifest(self) -> str:
        return f"{MANIFEST_LABEL}.{self.owner}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "manifest": self.manifest,
            "records": [
                {"name": r.name, "type": r.rtype, "value": r.value, "ttl": r.ttl} for r in self.records
            ],
            **dict(self.extras),
        }


def mta_sts_policy(mode: str, mx_hosts: Sequence[str], max_age: int) -> str:
    """RFC 8461 policy text (CRLF line ends), served at https://mta-sts.<domain>/.well-known/mta-sts.txt."""
    if mode not in ("enforce", "testing", "none"):
        raise DnsInputError(f"MTA-STS mode {mode!r} must be enforce, testing or none")
    if not isinstance(max_age, int) or not 86400 <= max_age <= 31557600:
        raise DnsInputError(f"MTA-STS max_age {max_age!r} must be 86400..31557600 seconds")
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {h}" for h in mx_hosts), f"max_age: {max_age}"]
    return "\r\n".join(lines) + "\r\n"


def _email(value: str, what: str) -> str:
    try:
        return normalize_email(value)
    except ValidationError as exc:
        raise DnsInputError(f"{what}: {exc}") from None


def _host_unit(host: str, ipv4: Sequence[str], ipv6: Sequence[str], tlsa: Sequence[str], ttl: int) -> Unit:
    records = [Record.make(host, "A", ip, ttl) for ip in ipv4]
    records += [Record.make(host, "AAAA", ip, ttl) for ip in ipv6]
    records += [Record.make(f"_25._tcp.{host}", "TLSA", value, ttl) for value in tlsa]
    return Unit(owner=host, records=tuple(sorted(set(records))))


def _domain_unit(
    spec: Mapping[str, Any], host: str, ipv4: Sequence[str], ipv6: Sequence[str], defaults: Mapping[str, Any]
) -> Unit:
    domain = normalize_name(str(spec.get("name", "")))
    if spec.get("state", "present") == "absent":
        return Unit(owner=domain, records=())
    if spec.get("state", "present") != "present":
        raise DnsInputError(f"domain {domain}: state must be present or absent")
    opts = {**defaults, **{k: v for k, v in spec.items() if v is not None}}
    publish = {**defaults.get("publish", {}), **(spec.get("publish") or {})}
    unknown = set(publish) - set(_PUBLISH_KEYS)
    if unknown:
        raise DnsInputError(f"domain {domain}: unknown publish keys {sorted(unknown)}; known {_PUBLISH_KEYS}")
    if opts["dmarc_policy"] not in ("none", "quarantine", "reject"):
        raise DnsInputError(f"domain {domain}: dmarc_policy must be none, quarantine or reject")
    if opts["dmarc_adkim"] not in ("r", "s") or opts["dmarc_aspf"] not in ("r", "s"):
        raise DnsInputError(f"domain {domain}: dmarc_adkim and dmarc_aspf must be r or s")
    ttl = int(opts["ttl"])
    out: list[Record] = []

    def add(name: str, rtype: str, value: str) -> None:
        out.append(Record.make(name, rtype, value, ttl))

    secondary = normalize_name(str(opts["secondary_mx"])) if opts.get("secondary_mx") else None
    if secondary == host:
        raise DnsInputError(f"domain {domain}: secondary_mx must be another host than {host}")
    if secondary and int(opts["secondary_mx_priority"]) <= int(opts["mx_priority"]):
        raise DnsInputError(f"domain {domain}: secondary_mx_priority must be above mx_priority")
    mx_hosts = [host, *([secondary] if secondary else [])]
    if publish.get("mx", True):
        add(domain, "MX", f"{int(opts['mx_priority'])} {host}.")
        if secondary:
            add(domain, "MX", f"{int(opts['secondary_mx_priority'])} {secondary}.")
    if publish.get("spf", True):
        add(domain, "TXT", opts.get("spf") or f"v=spf1 mx a:{host} {opts['spf_all']}")
    if publish.get("dkim", True):
        key = "".join(str(opts.get("dkim_public_key") or "").split())
        if not key:
            raise DnsInputError(
                f"domain {domain}: dkim_public_key is empty (hand over Mailu's key, or publish.dkim: false)"
            )
        selector = str(opts.get("dkim_selector") or "dkim")
        add(f"{selector}._domainkey.{domain}", "TXT", f"v=DKIM1; k=rsa; p={key}")
    rua = _email(opts["dmarc_rua"], f"domain {domain} dmarc_rua") if opts.get("dmarc_rua") else None
    ruf = _email(opts["dmarc_ruf"], f"domain {domain} dmarc_ruf") if opts.get("dmarc_ruf") else None
    if publish.get("dmarc", True):
        parts = ["v=DMARC1", f"p={opts['dmarc_policy']}"]
        parts += [f"rua=mailto:{rua}"] if rua else []
        parts += [f"ruf=mailto:{ruf}"] if ruf else []
        parts += [f"adkim={opts['dmarc_adkim']}", f"aspf={opts['dmarc_aspf']}"]
        add(f"_dmarc.{domain}", "TXT", "; ".join(parts))
        if publish.get("dmarc_report", True):
            # RFC 7489 7.1: a report domain other than the policy domain must authorize it.
            for report_domain in sorted({a.rpartition("@")[2] for a in (rua, ruf) if a} - {domain}):
                add(f"{domain}._report._dmarc.{report_domain}", "TXT", "v=DMARC1")
    if publish.get("srv", True):
        for svc in opts["srv_services"]:
            add(f"{svc['service']}.{domain}", "SRV",
                f"{int(svc['priority'])} {int(svc.get('weight', 1))} {int(svc['port'])} {host}.")
    if publish.get("autoconfig", True):
        add(f"autoconfig.{domain}", "CNAME", f"{host}.")
        add(f"autodiscover.{domain}", "CNAME", f"{host}.")
    extras: dict[str, str] = {}
    if publish.get("mta_sts", True):
        policy = mta_sts_policy(str(opts["mta_sts_mode"]), mx_hosts, int(opts["mta_sts_max_age"]))
        # The id changes exactly when the policy text changes: senders refetch then, and reruns
        # with the same settings publish the same id (idempotent).
        policy_id = hashlib.sha256(policy.encode()).hexdigest()[:20]
        add(f"_mta-sts.{domain}", "TXT", f"v=STSv1; id={policy_id}")
        for ip in ipv4:
            add(f"mta-sts.{domain}", "A", ip)
        for ip in ipv6:
            add(f"mta-sts.{domain}", "AAAA", ip)
        extras = {"mta_sts_policy": policy, "mta_sts_id": policy_id}
    if publish.get("tls_rpt", True):
        tlsrpt = _email(opts.get("tlsrpt_rua") or f"postmaster@{domain}", f"domain {domain} tlsrpt_rua")
        add(f"_smtp._tls.{domain}", "TXT", f"v=TLSRPTv1; rua=mailto:{tlsrpt}")
    return Unit(owner=domain, records=tuple(sorted(set(out))), extras=extras)


def build_units(
    *,
    host: str,
    ipv4: Sequence[str] = (),
    ipv6: Sequence[str] = (),
    tlsa: Sequence[str] = (),
    domains: Sequence[Mapping[str, Any]] = (),
    ttl: int = 600,
    defaults: Mapping[str, Any] | None = None,
) -> list[Unit]:
    """Return the host unit then one unit per domain; raise DnsInputError on any bad setting."""
    host = normalize_name(host)
    base: dict[str, Any] = {
        "ttl": ttl, "mx_priority": 10, "secondary_mx_priority": 20,
        "spf_all": "~all", "dkim_selector": "dkim",
        "dmarc_policy": "reject", "dmarc_adkim": "s", "dmarc_aspf": "s",
        "srv_services": list(DEFAULT_SRV_SERVICES), "mta_sts_mode": "testing", "mta_sts_max_age": 604800,
        "publish": {},
    }
    base.update({k: v for k, v in (defaults or {}).items() if v is not None})
    units = [_host_unit(host, list(ipv4), list(ipv6), list(tlsa), ttl)]
    seen: set[str] = set()
    for spec in domains:
        if not isinstance(spec, Mapping):
            raise DnsInputError(f"each domain must be a mapping with a name, got {spec!r}")
        unit = _domain_unit(spec, host, list(ipv4), list(ipv6), base)
        if unit.owner in seen or unit.owner == host:
            raise DnsInputError(f"domain {unit.owner} is listed twice (or equals the mail host name)")
        seen.add(unit.owner)
        units.append(unit)
    return units
