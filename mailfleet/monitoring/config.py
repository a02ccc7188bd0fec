"""Monitoring settings with validation. Bad input raises MonitoringConfigError and builds nothing.

Two rules from the reference are enforced here, not left to care: DNSBL queries go through the
project's own recursive resolver (public resolvers are refused: Spamhaus answers them with
127.255.255.254), and SORBS (dead since June 2024) is refused (in DnsblList).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any

from mailfleet.settings import Settings

from .alerts import AlertPolicies, AlertPolicy
from .dnsbl import DEFAULT_DOMAIN_LISTS, DEFAULT_IP_LISTS, DnsblList, ListKind, ReturnCode
from .errors import MonitoringConfigError
from .facts import FactsThresholds
from .results import Severity, Status

DEFAULT_PORTS: tuple[int, ...] = (25, 465, 587, 993, 995, 143, 110, 4190, 80, 443, 22)
CHECK_FAMILIES = frozenset({"ports", "smtp", "imap", "dns", "ptr", "soa", "mta_sts", "tlsa", "dnsbl"})

# Open resolvers of the big public DNS services; DNSBLs refuse or poison answers through them.
PUBLIC_RESOLVERS = frozenset(str(ipaddress.ip_address(a)) for a in (
    "8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844",             # Google
    "1.1.1.1", "1.0.0.1", "1.1.1.2", "1.0.0.2", "1.1.1.3", "1.0.0.3",                  # Cloudflare
    "2606:4700:4700::1111", "2606:4700:4700::1001",
    "9.9.9.9", "149.112.112.112", "9.9.9.10", "9.9.9.11", "2620:fe::fe", "2620:fe::9",  # Quad9
    "208.67.222.222", "208.67.220.220", "208.67.222.123", "208.67.220.123",            # OpenDNS
    "2620:119:35::35", "2620:119:53::53",
    "94.140.14.14", "94.140.15.15", "2a10:50c0::ad1:ff",                               # AdGuard
    "64.6.64.6", "64.6.65.6",                                                          # Verisign
    "185.228.168.9", "185.228.169.9",                                                  # CleanBrowsing
    "76.76.2.0", "76.76.10.0",                                                         # Control D
    "4.2.2.1", "4.2.2.2", "4.2.2.3", "4.2.2.4", "4.2.2.5", "4.2.2.6",                  # Level3
    "77.88.8.8", "77.88.8.1",                                                          # Yandex
    "84.200.69.80", "84.200.70.40",                                                    # DNS.Watch
    "156.154.70.1", "156.154.71.1",                                                    # Neustar
))


def validate_resolver(address: str) -> str:
    try:
        addr = ipaddress.ip_address(address.strip())
    except ValueError:
        raise MonitoringConfigError(
            f"resolver {address!r} must be the IP address of the project's own recursive resolver") from None
    if str(addr) in PUBLIC_RESOLVERS:
        raise MonitoringConfigError(
            f"resolver {addr} is a public resolver; DNSBLs answer those with errors (127.255.255.254). "
            "Use the project's own recursive resolver")
    if addr.is_unspecified or addr.is_multicast:
        raise MonitoringConfigError(f"resolver {addr} is not a usable address")
    return str(addr)


@dataclass(frozen=True)
class MonitoringConfig:
    resolver: str
    resolver_port: int = 53
    ports: tuple[int, ...] = DEFAULT_PORTS
    ip_lists: tuple[DnsblList, ...] = DEFAULT_IP_LISTS
    domain_lists: tuple[DnsblList, ...] = DEFAULT_DOMAIN_LISTS
    dns_timeout: float = 3.0
    connect_timeout: float = 5.0
    tls_timeout: float = 15.0
    max_concurrency: int = 200
    ca_file: str | None = None
    ehlo_name: str = "monitor.mailfleet.invalid"
    cert_warn_days: int = 14
    require_mta_sts: bool = True
    require_tlsa: bool = False
    checks: frozenset[str] = CHECK_FAMILIES
    facts: FactsThresholds = field(default_factory=FactsThresholds)
    alerts: AlertPolicies = field(default_factory=AlertPolicies)

    def __post_init__(self) -> None:
        object.__setattr__(self, "resolver", validate_resolver(self.resolver))
        if not 0 < self.resolver_port < 65536:
            raise MonitoringConfigError("resolver_port must be in 1..65535")
        if not self.ports or any(not isinstance(p, int) or not 0 < p < 65536 for p in self.ports):
            raise MonitoringConfigError("ports must be a non-empty list of numbers in 1..65535")
        for name in ("dns_timeout", "connect_timeout", "tls_timeout"):
            if not 0 < getattr(self, name) <= 120:
                raise MonitoringConfigError(f"{name} must be in (0, 120] seconds")
        if not 1 <= self.max_concurrency <= 5000:
            raise MonitoringConfigError("max_concurrency must be in 1..5000")
        if not 1 <= self.cert_warn_days <= 90:
            raise MonitoringConfigError("cert_warn_days must be in 1..90")
        unknown = set(self.checks) - CHECK_FAMILIES
        if unknown:
            raise MonitoringConfigError(
                f"unknown check families {sorted(unknown)}; known: {sorted(CHECK_FAMILIES)}")
        for lst in self.ip_lists:
            if lst.kind is not ListKind.IP:
                raise MonitoringConfigError(f"{lst.name} is a domain list, not an IP list")
        for lst in self.domain_lists:
            if lst.kind is not ListKind.DOMAIN:
                raise MonitoringConfigError(f"{lst.name} is an IP list, not a domain list")

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> MonitoringConfig:
        """From a JSON/YAML-shaped dict. Lists may name a default list by zone or define one:
        {"name": ..., "zone": ..., "delist_url": ...,
         "codes": {"127.0.0.2": {"meaning": ..., "status": "error", "critical": false}}}
        """
        allowed = {f.name for f in fields(cls)}
        extra = set(data) - allowed
        if extra:
            raise MonitoringConfigError(f"unknown monitoring settings {sorted(extra)}")
        if "resolver" not in data:
            raise MonitoringConfigError("resolver is required: the project's own recursive resolver")
        kwargs: dict[str, Any] = dict(data)
        try:
            if "ports" in data:
                kwargs["ports"] = tuple(int(p) for p in data["ports"])
            if "ip_lists" in data:
                kwargs["ip_lists"] = tuple(_dnsbl(x, ListKind.IP) for x in data["ip_lists"])
            if "domain_lists" in data:
                kwargs["domain_lists"] = tuple(_dnsbl(x, ListKind.DOMAIN) for x in data["domain_lists"])
            if "checks" in data:
                kwargs["checks"] = frozenset(data["checks"])
            if "facts" in data:
                kwargs["facts"] = _facts(data["facts"])
            if "alerts" in data:
                kwargs["alerts"] = _alerts(data["alerts"])
        except (TypeError, ValueError, KeyError) as exc:
            if isinstance(exc, MonitoringConfigError):
                raise
            raise MonitoringConfigError(f"invalid monitoring settings: {exc}") from None
        return cls(**kwargs)


def monitoring_config(env: Mapping[str, str] | None = None) -> MonitoringConfig:
    """From the settings: MAILFLEET_MONITORING_CONFIG_FILE (JSON of any setting above), with
    MAILFLEET_MONITORING_RESOLVER over its resolver."""
    settings = Settings(env, error=MonitoringConfigError)
    data: dict[str, Any] = {}
    path = settings["MAILFLEET_MONITORING_CONFIG_FILE"]
    if path:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MonitoringConfigError(f"MAILFLEET_MONITORING_CONFIG_FILE={path}: {exc}") from None
    resolver = settings["MAILFLEET_MONITORING_RESOLVER"]
    if resolver:
        data["resolver"] = resolver
    return MonitoringConfig.from_mapping(data)


def _dnsbl(entry: str | dict[str, Any], kind: ListKind) -> DnsblList:
    defaults = DEFAULT_IP_LISTS if kind is ListKind.IP else DEFAULT_DOMAIN_LISTS
    if isinstance(entry, str):
        zone = entry.strip().rstrip(".").lower()
        if zone == "sorbs.net" or zone.endswith(".sorbs.net"):
            raise MonitoringConfigError(
                f"SORBS ({zone}) has been dead since June 2024 and must not be queried")
        for known in defaults:
            if known.zone == zone:
                return known
        raise MonitoringConfigError(f"{entry!r} is not a default {kind.value} list; define it with a zone, "
                                    "delist_url and codes")
    codes = {addr: ReturnCode(str(c["meaning"]), Status(c.get("status", "error")), bool(c.get("critical")))
             for addr, c in dict(entry.get("codes") or {"127.0.0.2": {"meaning": "listed"}}).items()}
    return DnsblList(str(entry.get("name") or entry["zone"]), str(entry["zone"]), kind,
                     str(entry["delist_url"]), codes)


def _facts(data: dict[str, Any]) -> FactsThresholds:
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key.startswith("backup_") and key.endswith("_hours"):
            name = key.removesuffix("_hours")
            if not isinstance(getattr(FactsThresholds, name, None), timedelta):
                raise MonitoringConfigError(f"unknown facts threshold {key!r}")
            kwargs[name] = timedelta(hours=float(value))
        elif key in {f.name for f in fields(FactsThresholds)} and not key.startswith("backup_"):
            kwargs[key] = type(getattr(FactsThresholds, key))(value)
        else:
            raise MonitoringConfigError(f"unknown facts threshold {key!r}")
    return FactsThresholds(**kwargs)


def _policy(data: dict[str, Any], base: AlertPolicy) -> AlertPolicy:
    unknown = set(data) - {"fail_after", "pass_after", "severity", "escalate_after_minutes"}
    if unknown:
        raise MonitoringConfigError(f"unknown alert policy settings {sorted(unknown)}")
    escalate = base.escalate_after
    if "escalate_after_minutes" in data:
        minutes = data["escalate_after_minutes"]
        escalate = None if minutes is None else timedelta(minutes=float(minutes))
    severity = base.severity
    if "severity" in data:
        severity = None if data["severity"] is None else Severity(data["severity"])
    return AlertPolicy(fail_after=int(data.get("fail_after", base.fail_after)),
                       pass_after=int(data.get("pass_after", base.pass_after)),
                       severity=severity, escalate_after=escalate)


def _alerts(data: dict[str, Any]) -> AlertPolicies:
    unknown = set(data) - {"default", "checks"}
    if unknown:
        raise MonitoringConfigError(f"unknown alert settings {sorted(unknown)}")
    default = _policy(data.get("default", {}), AlertPolicy())
    by_prefix = tuple((prefix, _policy(p, default)) for prefix, p in (data.get("checks") or {}).items())
    return AlertPolicies(default, by_prefix)
