"""DNS blocklists: the default lists, their return-code maps, query names and answer classification.

The trap this module exists to avoid (Spamhaus's published return codes): Spamhaus answers
127.255.255.252/254/255 for malformed queries, queries through public resolvers and over-quota
use. Those are errors, so every 127.255.255.x answer, every timeout and every code a list does
not document is UNKNOWN, never "listed".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from .errors import MonitoringConfigError
from .results import Status, worst


class ListKind(StrEnum):
    IP = "ip"
    DOMAIN = "domain"


@dataclass(frozen=True)
class ReturnCode:
    meaning: str
    status: Status  # ERROR: listed; WARNING: listed but a configuration matter (PBL); UNKNOWN: an error code
    # A listing most receivers act on at once (Spamhaus SBL/XBL, DBL phishing or malware): its alert
    # opens on the first result and the server's sending caps drop at once (see CheckResult.critical).
    critical: bool = False


LISTED = Status.ERROR
CRITICAL = "critical"


def _codes(entries: Mapping[str, tuple[str, Status] | tuple[str, Status, str]]) -> dict[str, ReturnCode]:
    """Return codes from (meaning, status[, CRITICAL]) entries."""
    return {addr: ReturnCode(entry[0], entry[1], entry[2:] == (CRITICAL,)) for addr, entry in entries.items()}


def _listed_as(meaning: str) -> dict[str, ReturnCode]:
    return _codes({"127.0.0.2": (meaning, LISTED)})


ERROR_NET = ipaddress.IPv4Network("127.255.255.0/24")

# Answers that mean "the query failed" whatever the list (Spamhaus documents these; others reuse them).
ERROR_CODES: dict[str, str] = {
    "127.255.255.252": "typing error in the DNSBL name (malformed query)",
    "127.255.255.254": "query through a public/open resolver refused: use the project's own resolver",
    "127.255.255.255": "excessive number of queries (over quota)",
}


@dataclass(frozen=True)
class DnsblList:
    """One blocklist: its DNS zone, what it lists, its return-code map and its delisting page."""

    name: str
    zone: str
    kind: ListKind
    delist_url: str
    codes: Mapping[str, ReturnCode] = field(default_factory=dict)
    # What removal from this list takes, beyond "fix the cause, then ask on the delisting page".
    removal: str = ""
    # The entry every working list answers as listed (RFC 5782: 127.0.0.2 for IP lists); None: no
    # self-test. A list that does not answer it is dead, refusing us, or rewritten by a resolver.
    test_entry: str | None = None
    # The zone named in check names, alerts and pages when `zone` carries a secret (a Spamhaus DQS
    # key); empty: the zone itself.
    label: str = ""

    @property
    def shown(self) -> str:
        """The list's zone as check names and messages show it: never a key."""
        return self.label or self.zone

    def without_key(self, text: str) -> str:
        """`text` (a resolver's message naming the query) with the queried zone shown as `shown`."""
        return text.replace(self.zone, self.shown) if self.label else text

    def __post_init__(self) -> None:
        zone = self.zone.strip().rstrip(".").lower()
        object.__setattr__(self, "zone", zone)
        if self.test_entry is None and self.kind is ListKind.IP:
            object.__setattr__(self, "test_entry", TEST_LISTED)
        if not zone or "." not in zone:
            raise MonitoringConfigError(f"DNSBL {self.name!r}: zone {self.zone!r} is not a DNS zone")
        if zone == "sorbs.net" or zone.endswith(".sorbs.net"):
            raise MonitoringConfigError(
                f"DNSBL {self.name!r}: SORBS ({zone}) has been dead since June 2024 and must not be queried"
            )
        if not self.delist_url.startswith(("https://", "http://")):
            raise MonitoringConfigError(f"DNSBL {self.name!r}: delist_url must be an http(s) URL")
        for code in self.codes:
            try:
                addr = ipaddress.IPv4Address(code)
            except ValueError:
                raise MonitoringConfigError(
                    f"DNSBL {self.name!r}: return code {code!r} is not IPv4") from None
            if addr in ERROR_NET and self.codes[code].status is not Status.UNKNOWN:
                raise MonitoringConfigError(
                    f"DNSBL {self.name!r}: {code} is an error answer and can only map to 'unknown'"
                )


SPAMHAUS_CHECK = "https://check.spamhaus.org/"
# RFC 5782's test addresses: every IP list must list the first and must not list the second.
TEST_LISTED = "127.0.0.2"
TEST_CLEAN = "127.0.0.1"

DEFAULT_IP_LISTS: tuple[DnsblList, ...] = (
    DnsblList("Spamhaus ZEN", "zen.spamhaus.org", ListKind.IP, SPAMHAUS_CHECK, _codes({
        "127.0.0.2": ("SBL: Spamhaus SBL data", LISTED, CRITICAL),
        "127.0.0.3": ("SBL CSS: snowshoe spam source", LISTED, CRITICAL),
        "127.0.0.4": ("XBL: exploited / botnet", LISTED, CRITICAL),
        "127.0.0.5": ("XBL: exploited / botnet", LISTED, CRITICAL),
        "127.0.0.6": ("XBL: exploited / botnet", LISTED, CRITICAL),
        "127.0.0.7": ("XBL: exploited / botnet", LISTED, CRITICAL),
        "127.0.0.9": ("SBL DROP: hijacked netblock", LISTED, CRITICAL),
        # PBL on an MTA address is a configuration matter (provider marks the range as end-user).
        "127.0.0.10": ("PBL (ISP maintained): address should not send mail directly", Status.WARNING),
        "127.0.0.11": ("PBL (Spamhaus maintained): address should not send mail directly", Status.WARNING),
    }), removal="Look the address up on the page: it names the listing (SBL, CSS, XBL, PBL) and its "
        "own removal form. CSS and XBL listings clear once the cause stops; SBL tickets need the "
        "cause stated; PBL removal is self-service for a server that sends mail directly."),
    # Barracuda answers only DNS servers registered with it (free) - register the project resolver.
    DnsblList("Barracuda", "b.barracudacentral.org", ListKind.IP,
              "https://www.barracudacentral.org/rbl/removal-request", _listed_as("listed"),
              removal="Fill in the removal request (address, contact, reason); answered within "
              "about 12 hours."),
    DnsblList("SpamCop", "bl.spamcop.net", ListKind.IP, "https://www.spamcop.net/bl.shtml",
              _listed_as("listed"),
              removal="No request: a listing expires about 24 hours after the reports stop."),
    DnsblList("UCEPROTECT Level 1", "dnsbl-1.uceprotect.net", ListKind.IP,
              "https://www.uceprotect.net/en/rblcheck.php", _listed_as("listed"),
              removal="Level 1 listings expire 7 days after the last spam trap hit; paid express "
              "removal is not needed."),
    DnsblList("Backscatterer", "ips.backscatterer.org", ListKind.IP,
              "https://www.backscatterer.org/?target=test", _listed_as("listed (backscatter)")),
    DnsblList("PSBL", "psbl.surriel.com", ListKind.IP, "https://psbl.org/", _listed_as("listed")),
    DnsblList("Mailspike", "z.mailspike.net", ListKind.IP, "https://mailspike.org/iplookup.html",
              _listed_as("listed")),
    DnsblList("s5h", "all.s5h.net", ListKind.IP, "https://www.usenix.org.uk/content/rblremove",
              _listed_as("listed")),
    DnsblList("SpamRATS", "all.spamrats.com", ListKind.IP, "https://www.spamrats.com/lookup.php", _codes({
        "127.0.0.36": ("RATS-Dyna: looks like a dynamic/end-user address", LISTED),
        "127.0.0.37": ("RATS-NoPtr: no reverse DNS", LISTED),
        "127.0.0.38": ("RATS-Spam: seen sending spam", LISTED),
        "127.0.0.43": ("RATS-Auth: authentication attacks", LISTED),
    })),
)

DEFAULT_DOMAIN_LISTS: tuple[DnsblList, ...] = (
    DnsblList("Spamhaus DBL", "dbl.spamhaus.org", ListKind.DOMAIN, SPAMHAUS_CHECK, test_entry="dbltest.com",
              removal=(
        "Look the domain up on the page and follow its removal form once the spam, phishing or "
        "malware links in the domain's mail or sites are gone."), codes=_codes({
        "127.0.1.2": ("spam domain", LISTED),
        "127.0.1.4": ("phishing domain", LISTED, CRITICAL),
        "127.0.1.5": ("malware domain", LISTED, CRITICAL),
        "127.0.1.6": ("botnet C&C domain", LISTED),
        "127.0.1.102": ("abused legit domain: spam", LISTED),
        "127.0.1.103": ("abused legit domain: spammed redirector", LISTED),
        "127.0.1.104": ("abused legit domain: phishing", LISTED, CRITICAL),
        "127.0.1.105": ("abused legit domain: malware", LISTED, CRITICAL),
        "127.0.1.106": ("abused legit domain: botnet C&C", LISTED),
        "127.0.1.255": ("IP queries are not allowed on the DBL", Status.UNKNOWN),
    })),
)


def default_list(zone: str) -> DnsblList | None:
    """The built-in list of `zone`, or None for a list the configuration added."""
    return next((x for x in DEFAULT_IP_LISTS + DEFAULT_DOMAIN_LISTS if x.zone == zone), None)


#: Spamhaus' public zones and their Data Query Service twins (same data and codes, queried as
#: <key>.<twin>; the public zones refuse commercial volumes and queries through public resolvers).
DQS_ZONES = {"zen.spamhaus.org": "zen.dq.spamhaus.net", "dbl.spamhaus.org": "dbl.dq.spamhaus.net"}
_DQS_KEY = re.compile(r"^[a-z0-9]{16,64}$")


def with_dqs(lists: Iterable[DnsblList], key: str) -> tuple[DnsblList, ...]:
    """`lists` with the Spamhaus ones queried through DQS with `key`. Their checks keep the public
    zone's name (the key stays in the zone queried, never in a check name or message)."""
    if not _DQS_KEY.match(key):
        raise MonitoringConfigError("the Spamhaus DQS key must be 16-64 lower-case letters and digits")
    return tuple(
        replace(x, zone=f"{key}.{DQS_ZONES[x.zone]}", label=x.zone) if x.zone in DQS_ZONES else x
        for x in lists
    )


def query_name(subject: str, dnsbl: DnsblList) -> str:
    """The name to look up: reversed octets (IPv4), reversed nibbles (IPv6) or the domain itself."""
    if dnsbl.kind is ListKind.DOMAIN:
        return f"{subject.rstrip('.').lower()}.{dnsbl.zone}"
    addr = ipaddress.ip_address(subject)
    if isinstance(addr, ipaddress.IPv4Address):
        return ".".join(reversed(str(addr).split("."))) + "." + dnsbl.zone
    return ".".join(reversed(addr.exploded.replace(":", ""))) + "." + dnsbl.zone


@dataclass(frozen=True)
class Verdict:
    status: Status
    detail: str
    listed: bool
    critical: bool = False  # one of the answers is a critical listing


def classify(dnsbl: DnsblList, answers: Iterable[str]) -> Verdict:
    """Turn the A records returned for a query into a verdict. No answers means not listed."""
    answers = sorted(set(answers))
    if not answers:
        return Verdict(Status.OK, f"not listed on {dnsbl.name}", listed=False)
    codes = [_classify_one(dnsbl, answer) for answer in answers]
    meanings = [f"{answer}: {code.meaning}" for answer, code in zip(answers, codes, strict=True)]
    status = worst([code.status for code in codes])
    listed = any(code.status.failing for code in codes)
    critical = any(code.critical and code.status.failing for code in codes)
    prefix = f"{'critically ' if critical else ''}listed on {dnsbl.name}" if listed else (
        f"{dnsbl.name} gave no usable answer")
    return Verdict(status, f"{prefix} ({'; '.join(meanings)})", listed=listed, critical=critical)


def _classify_one(dnsbl: DnsblList, answer: str) -> ReturnCode:
    if answer in ERROR_CODES:
        return ReturnCode(ERROR_CODES[answer], Status.UNKNOWN)
    try:
        addr = ipaddress.IPv4Address(answer)
    except ValueError:
        return ReturnCode("not an IPv4 answer", Status.UNKNOWN)
    if addr in ERROR_NET:
        return ReturnCode("error answer from the list", Status.UNKNOWN)
    if answer in dnsbl.codes:
        return dnsbl.codes[answer]
    if addr not in ipaddress.IPv4Network("127.0.0.0/8"):
        # A resolver that rewrites NXDOMAIN, or a list that has been shut down and wildcards everything.
        return ReturnCode("answer outside 127.0.0.0/8 (resolver rewriting or dead list)", Status.UNKNOWN)
    return ReturnCode("return code the list does not document", Status.UNKNOWN)
