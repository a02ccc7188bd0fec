"""What a sweep looks at: one `ServerTarget` per mail server, with its IPs and mail domains."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from mailfleet.validation import ValidationError, normalize_domain

from .errors import MonitoringConfigError

_SELECTOR = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def _name(value: str, what: str) -> str:
    try:
        return normalize_domain(value)
    except ValidationError as exc:
        raise MonitoringConfigError(f"{what}: {exc}") from None


def _selector(value: str) -> str:
    selector = value.strip().lower()
    if not _SELECTOR.match(selector):
        raise MonitoringConfigError(f"DKIM selector {value!r} is not a valid DNS label")
    return selector


@dataclass(frozen=True)
class ProbeCredentials:
    """IMAP probe account. The password never appears in repr(), results or notifications."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class MailDomain:
    """A mail domain served by the server; `dkim_public_key` is the base64 `p=` of the server's key."""

    name: str
    dkim_selector: str = "dkim"  # Mailu's default selector
    dkim_public_key: str | None = None
    # The host its MX set names after the server's (its secondary MX), if it has one.
    secondary_mx: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _name(self.name, "mail domain"))
        object.__setattr__(self, "dkim_selector", _selector(self.dkim_selector))
        if self.dkim_public_key is not None:
            object.__setattr__(self, "dkim_public_key", "".join(self.dkim_public_key.split()))


@dataclass(frozen=True)
class ServerTarget:
    """One mail server. `name` identifies it (inventory name); `hostname` is its mail host name
    (MX target, PTR, certificate name). `ports` overrides the configured port list."""

    name: str
    hostname: str
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    domains: tuple[MailDomain, ...] = ()
    ports: tuple[int, ...] | None = None
    imap_probe: ProbeCredentials | None = None
    # Domains of other servers this one is the secondary MX of: it must accept their mail.
    relays: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise MonitoringConfigError("a server target needs a name")
        object.__setattr__(self, "hostname", _name(self.hostname, f"host name of {self.name}"))
        for family, addrs, kind in (("IPv4", self.ipv4, ipaddress.IPv4Address),
                                    ("IPv6", self.ipv6, ipaddress.IPv6Address)):
            for addr in addrs:
                try:
                    parsed = ipaddress.ip_address(addr)
                except ValueError:
                    raise MonitoringConfigError(f"{self.name}: {addr!r} is not an {family} address") from None
                if not isinstance(parsed, kind):
                    raise MonitoringConfigError(f"{self.name}: {addr!r} is not an {family} address")
        object.__setattr__(self, "ipv4", tuple(str(ipaddress.ip_address(a)) for a in self.ipv4))
        object.__setattr__(self, "ipv6", tuple(str(ipaddress.ip_address(a)) for a in self.ipv6))
        if self.ports is not None:
            for port in self.ports:
                if not isinstance(port, int) or not 0 < port < 65536:
                    raise MonitoringConfigError(f"{self.name}: port {port!r} is not in 1..65535")

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.ipv4 + self.ipv6

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ServerTarget:
        """Build from a JSON-safe dict (the shape the web app and the job pass around)."""
        probe = data.get("imap_probe")
        return cls(
            name=str(data["name"]),
            hostname=str(data["hostname"]),
            ipv4=tuple(data.get("ipv4", ())),
            ipv6=tuple(data.get("ipv6", ())),
            domains=tuple(MailDomain(**d) for d in data.get("domains", ())),
            relays=tuple(str(r) for r in data.get("relays", ())),
            ports=tuple(data["ports"]) if data.get("ports") is not None else None,
            imap_probe=ProbeCredentials(probe["username"], probe["password"]) if probe else None,
        )
