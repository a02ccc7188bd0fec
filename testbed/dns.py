"""Testbed DNS: a BIND 9 primary and secondary (NOTIFY + zone transfer, TSIG-signed RFC 2136
updates, a settable delay before the secondary hears of a change, to show propagation lag) and
an Unbound recursive resolver that serves only the test zones and refuses everything else, so no
query ever leaves the machine. A second Unbound (``resolver2``) asks the secondary instead of the
primary: while the secondary lags, the two resolvers answer differently, as two resolvers out in
the world do when each asked another name server.

DNSSEC: a zone may be signed by BIND itself (inline signing under a dnssec-policy, keys made and
rolled by BIND; updates still go to the unsigned copy). The registry zone ``dnssec.test`` stands
for the parent a registrar writes to: it is always signed, its key-signing key is the resolver's
one trust anchor, and it delegates each zone added under it, with the DS records a registrar
would publish (`Dns.set_ds`). The resolver validates every answer under the registry; the other
zones have no trust anchor above them and stay insecure.
"""

from __future__ import annotations

import base64
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.reversename
import dns.tsigkeyring
import dns.update

from testbed.daemons import Recorded, TestbedError, run, start, tail
from testbed.layout import Layout

TSIG_NAME = "mailfleet-update"
TSIG_ALGORITHM = "hmac-sha256"
REGISTRY_ZONE = "dnssec.test"
DEFAULT_ZONES = ("example.test", REGISTRY_ZONE)
POLICY = "testbed"
#: The resolvers' folders under the DNS state folder, and the names their processes are recorded by.
RESOLVER_PROCESSES = {"resolver": "unbound", "resolver2": "unbound-2"}
#: The TTL of the DS records the registry publishes; the policy's parent-ds-ttl tells BIND the same.
DS_TTL = 5
# Short TTLs and safety margins, so a key rollover completes its steps within seconds: BIND counts a
# new key in every cache 14 s after it is published (dnskey-ttl, zone-propagation-delay,
# publish-safety), and a change of the parent's DS set 8 s after it is told of it (parent-ds-ttl,
# parent-propagation-delay, retire-safety). The resolvers keep nothing longer than 5 s.
_POLICY_CONF = f"""dnssec-policy "{POLICY}" {{
  keys {{ ksk lifetime unlimited algorithm ecdsap256sha256;
          zsk lifetime unlimited algorithm ecdsap256sha256; }};
  dnskey-ttl 10; max-zone-ttl 600; zone-propagation-delay 2; publish-safety 2; retire-safety 2;
  parent-ds-ttl {DS_TTL}; parent-propagation-delay 1;
}};
"""
# SOA: short negative TTL so records created by tests are seen at once through the resolver.
SOA_TIMERS = "3600 600 86400 5"


def _under(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


@dataclass(frozen=True)
class DnsInfo:
    primary: str
    secondary: str
    resolver: str
    resolver2: str  # fed by the secondary
    tsig_name: str
    tsig_algorithm: str
    tsig_secret: str
    zones: tuple[str, ...]
    port: int = 53


class Dns:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.dir = layout.state_dir / "dns"

    # -- keys ------------------------------------------------------------------------------
    def _secret(self, name: str) -> str:
        path = self.dir / f"{name}.secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def tsig_secret(self) -> str:
        return self._secret("tsig")

    def info(self, zones: list[str]) -> DnsInfo:
        return DnsInfo(
            primary=self.layout.dns_primary,
            secondary=self.layout.dns_secondary,
            resolver=self.layout.resolver,
            resolver2=self.layout.resolver2,
            tsig_name=TSIG_NAME,
            tsig_algorithm=TSIG_ALGORITHM,
            tsig_secret=self.tsig_secret,
            zones=tuple(zones),
        )

    def reverse_zone(self) -> str:
        return f"{self.layout.instance}.18.198.in-addr.arpa"

    def all_zones(self, zones: list[str]) -> list[str]:
        return [*zones, self.reverse_zone()]

    def _update(self, zone: str, change: Callable[[dns.update.UpdateMessage], None]) -> None:
        """One TSIG-signed RFC 2136 update of a zone on the primary."""
        keyring = dns.tsigkeyring.from_text({TSIG_NAME: (TSIG_ALGORITHM, self.tsig_secret)})
        update = dns.update.UpdateMessage(zone, keyring=keyring, keyname=TSIG_NAME)
        change(update)
        response = dns.query.tcp(update, self.layout.dns_primary, timeout=5)
        if response.rcode() != dns.rcode.NOERROR:
            raise TestbedError(f"update of {zone} refused: {dns.rcode.to_text(response.rcode())}")

    def set_ptr(self, address: str, name: str | None) -> None:
        """Publish ``name`` as the PTR of a host address in the reverse zone (None: remove it), by
        a TSIG-signed RFC 2136 update to the primary, as a provider's reverse DNS would answer."""
        zone = self.reverse_zone()
        owner = dns.reversename.from_address(address).to_text()
        if not owner.endswith(f".{zone}."):
            raise ValueError(f"{address} is not in this testbed's network ({zone})")

        def change(update: dns.update.UpdateMessage) -> None:
            if name:
                update.replace(owner, 60, "PTR", name.rstrip(".") + ".")
            else:
                update.delete(owner, "PTR")
        self._update(zone, change)

    # -- DNSSEC: the registry (parent) and its delegations ----------------------------------
    def delegate(self, zone: str) -> None:
        """The registry delegates a zone under it to the testbed's servers (NS and glue)."""
        lay = self.layout

        def change(update: dns.update.UpdateMessage) -> None:
            update.replace(f"{zone}.", 60, "NS", f"ns1.{zone}.", f"ns2.{zone}.")
            update.replace(f"ns1.{zone}.", 60, "A", lay.dns_primary)
            update.replace(f"ns2.{zone}.", 60, "A", lay.dns_secondary)
        self._update(REGISTRY_ZONE, change)

    def set_ds(self, zone: str, ds_records: list[str]) -> None:
        """What a registrar does when the domain's owner enters DS records: they replace the
        zone's DS set in the parent (an empty list removes it)."""
        if not _under(zone, REGISTRY_ZONE) or zone == REGISTRY_ZONE:
            raise ValueError(f"{zone} is not registered under the testbed registry {REGISTRY_ZONE}")

        def change(update: dns.update.UpdateMessage) -> None:
            update.delete(f"{zone}.", "DS")
            for ds in ds_records:
                update.add(f"{zone}.", DS_TTL, "DS", ds)
        self._update(REGISTRY_ZONE, change)
        self._report_ds(zone, ds_records)
        # Like every TTL here, the resolver's memory of a failed validation is cut short: the
        # zone's keys are asked again at once.
        for resolver in RESOLVER_PROCESSES:
            self._unbound_control("flush_zone", zone, resolver=resolver)
            self._unbound_control("flush_bogus", resolver=resolver)

    def _report_ds(self, zone: str, ds_records: list[str]) -> None:
        """Tell BIND what the parent's DS set now says, as its parental agents would: BIND asks
        them only about the keys it waits for. A key-signing key the set names that BIND was not
        yet told of is published (BIND then counts the zone secure, and moves a rollover on once
        the parent holds the successor's DS); a key BIND is retiring (its DS state unretentive)
        that the set no longer names is withdrawn (BIND then removes the key). Nothing is said of
        any other key: BIND keeps a withdrawal for good (the key's DSRemoved time), and a current
        key once reported withdrawn, even while its DS was only briefly missing, is dropped at its
        next rollover as soon as the successor is published, before the parent holds the
        successor's DS: every validating resolver then refuses the zone."""
        owner = dns.name.from_text(zone)
        parent = [dns.rdata.from_text("IN", "DS", ds) for ds in ds_records]
        states = self.key_states(zone)
        for key in self.dnskeys(zone):
            if not key.flags & 1:
                continue
            tag = dns.dnssec.key_id(key)
            state = states.get(tag, {})
            named = any(ds == dns.dnssec.make_ds(owner, key, ds.digest_type) for ds in parent)
            if named and "DSPublish" not in state:
                seen = "published"
            elif not named and state.get("DSState") == "unretentive" and "DSRemoved" not in state:
                seen = "withdrawn"
            else:
                continue
            self.rndc(self.layout.dns_primary, "dnssec", "-checkds", "-key", str(tag), seen, zone)

    def key_states(self, zone: str) -> dict[int, dict[str, str]]:
        """BIND's record of each key of a signed zone, by key tag: the fields of the key's state
        file (``KSK``, ``DNSKEYState``, ``KRRSIGState``, ``DSState``, ``GoalState``: hidden,
        rumoured, omnipresent or unretentive, as `rndc dnssec -status` shows them; ``DSPublish`` and
        ``DSRemoved``: when BIND was told the parent published or withdrew the key's DS, which
        `rndc dnssec -status` does not show)."""
        keys = {}
        for path in (self.dir / "primary" / "keys").glob(f"K{zone}.+*.state"):
            fields = (line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)
            keys[int(path.stem.rsplit("+", 1)[1])] = {name: value for name, value in fields
                                                     if not name.startswith(";")}
        return keys

    def dnskeys(self, zone: str) -> list[dns.rdtypes.ANY.DNSKEY.DNSKEY]:
        """The zone's DNSKEY set as the primary serves it ([] while unsigned)."""
        answer = dns.query.tcp(dns.message.make_query(zone, "DNSKEY"), self.layout.dns_primary, timeout=5)
        return [r for rrset in answer.answer if rrset.rdtype == dns.rdatatype.DNSKEY for r in rrset]

    def rollover(self, zone: str, ksk: bool) -> int:
        """Start a rollover of the zone's key-signing key (``ksk``) or zone-signing key now;
        returns the old key's tag. A zone-signing key: BIND pre-publishes the successor, signs
        with it once resolvers know it, then retires the old key. A key-signing key: BIND
        publishes the successor beside the old key (both sign the key set), asks the parent for
        the successor's DS by its CDS records once resolvers know the key, and retires the old
        key once the parent's DS set names only the successor (`set_ds`)."""
        keys = [k for k in self.dnskeys(zone) if bool(k.flags & 1) == ksk]
        if len(keys) != 1:
            role = "key-signing" if ksk else "zone-signing"
            raise TestbedError(f"{zone} has {len(keys)} {role} keys; a rollover needs exactly one")
        tag = dns.dnssec.key_id(keys[0])
        self.rndc(self.layout.dns_primary, "dnssec", "-rollover", "-key", str(tag), zone)
        return tag

    def anchor_registry(self, timeout: float = 30.0) -> None:
        """Once BIND signed the registry, make its key-signing key the resolver's trust anchor."""
        deadline = time.monotonic() + timeout
        while not (ksks := [k for k in self.dnskeys(REGISTRY_ZONE) if k.flags & 1]):
            if time.monotonic() > deadline:
                raise TestbedError(f"BIND did not sign {REGISTRY_ZONE} within {timeout:.0f}s")
            time.sleep(0.2)
        self.trust_anchor_file.write_text(
            "".join(f"{REGISTRY_ZONE}. 60 IN DNSKEY {k.to_text()}\n" for k in ksks)
        )

    # -- configuration -----------------------------------------------------------------------
    def _keys(self) -> str:
        return (
            f'key "{TSIG_NAME}" {{ algorithm {TSIG_ALGORITHM}; secret "{self.tsig_secret}"; }};\n'
            f'key "rndc-key" {{ algorithm hmac-sha256; secret "{self._secret("rndc")}"; }};\n'
        )

    def _named_conf(self, role: str, zones: list[str], signed: list[str]) -> str:
        lay = self.layout
        me = lay.dns_primary if role == "primary" else lay.dns_secondary
        d = self.dir / role
        if role == "primary":
            # NOTIFY goes through the relay, which holds it for the secondary's set delay.
            # notify-delay 0: BIND otherwise holds a second NOTIFY within 5 s of the first.
            extra = (
                f"  notify explicit;\n  also-notify {{ {lay.notify_relay}; }};\n  notify-delay 0;\n"
                f"  notify-source {me};\n  allow-transfer {{ 127.0.0.0/8; }};\n"
            )
        else:
            extra = f"  transfer-source {me};\n  notify no;\n"
        zone_lines = "".join(
            f'zone "{z}" {{ {self._zone_stanza(role, z, z in signed)} }};\n' for z in self.all_zones(zones)
        )
        return (
            self._keys()
            + f'controls {{ inet {me} port 953 allow {{ 127.0.0.0/8; }} keys {{ "rndc-key"; }}; }};\n'
            + "options {\n"
            f'  directory "{d}";\n  pid-file "{d}/named.pid";\n'
            f'  session-keyfile "{d}/session.key";\n  managed-keys-directory "{d}";\n'
            f"  listen-on port 53 {{ {me}; }};\n  listen-on-v6 {{ none; }};\n"
            "  recursion no;\n  dnssec-validation no;\n  minimal-responses yes;\n"
            + extra
            + "};\n"
            + f'logging {{ channel main {{ file "{d}/named.log"; severity info; print-time yes; }}; '
            "category default { main; }; category xfer-in { main; }; category xfer-out { main; }; "
            "category notify { main; }; category update { main; }; category dnssec { main; }; };\n"
            + (_POLICY_CONF if role == "primary" else "")
            + zone_lines
        )

    def _zone_stanza(self, role: str, zone: str, signed: bool) -> str:
        d = self.dir / role
        if role == "primary":
            signing = (
                f'dnssec-policy "{POLICY}"; inline-signing yes; key-directory "{d}/keys"; '
                if signed else ""
            )
            return (
                f'type primary; file "{d}/{zone}.db"; journal "{d}/{zone}.db.jnl"; '
                f'allow-update {{ key "{TSIG_NAME}"; }}; {signing}'
            ).rstrip()
        return f'type secondary; primaries {{ {self.layout.dns_primary}; }}; file "{d}/{zone}.db";'

    def _zone_file(self, zone: str) -> str:
        lay = self.layout
        serial = int(time.time())
        lines = [
            "$TTL 60",
            f"@ IN SOA ns1.{zone}. hostmaster.{zone}. {serial} {SOA_TIMERS}",
        ]
        if zone.endswith("in-addr.arpa"):
            lines += [f"@ IN NS ns1.{DEFAULT_ZONES[0]}.", f"@ IN NS ns2.{DEFAULT_ZONES[0]}."]
        else:
            lines += [
                "@ IN NS ns1",
                "@ IN NS ns2",
                f"ns1 IN A {lay.dns_primary}",
                f"ns2 IN A {lay.dns_secondary}",
            ]
        return "\n".join(lines) + "\n"

    @property
    def trust_anchor_file(self) -> Path:
        return self.dir / "resolver" / "registry.anchor"

    #: resolver folder -> (its address, the authoritative server it asks, extra listening address)
    def _resolvers(self) -> dict[str, tuple[str, str, str | None]]:
        lay = self.layout
        return {"resolver": (lay.resolver, lay.dns_primary, lay.gateway),
                "resolver2": (lay.resolver2, lay.dns_secondary, None)}

    def _unbound_conf(self, zones: list[str], name: str = "resolver") -> str:
        """The first resolver asks the primary only, so what checks and Pebble see through it is
        the newest data; the secondary's lag shows when it is asked directly, as checkers do, and
        through the second resolver, which asks the secondary. Both validate from the registry's
        key once `anchor_registry` wrote it. Only the first serves the hosts' bridge."""
        lay = self.layout
        address, upstream, bridge = self._resolvers()[name]
        d = self.dir / name
        stubs = "".join(
            f'stub-zone:\n  name: "{z}."\n  stub-addr: {upstream}\n' for z in self.all_zones(zones)
        )
        transparent = "".join(
            f'  local-zone: "{z}." transparent\n'
            + ("" if _under(z, REGISTRY_ZONE) else f'  domain-insecure: "{z}."\n')
            for z in self.all_zones(zones)
        )
        anchor = (
            f'  trust-anchor-file: "{self.trust_anchor_file}"\n' if self.trust_anchor_file.exists() else ""
        )
        listen = f"  interface: {address}\n" + (f"  interface: {bridge}\n" if bridge else "")
        return (
            "server:\n"
            f"{listen}  port: 53\n"
            f"  access-control: 127.0.0.0/8 allow\n  access-control: {lay.network} allow\n"
            f'  directory: "{d}"\n  pidfile: "{d}/unbound.pid"\n  logfile: "{d}/unbound.log"\n'
            '  username: ""\n  chroot: ""\n  use-syslog: no\n  do-ip6: no\n'
            '  do-not-query-localhost: no\n  module-config: "validator iterator"\n'
            "  cache-max-negative-ttl: 1\n  cache-max-ttl: 5\n  serve-expired: no\n"
            "  val-log-level: 2\n  val-bogus-ttl: 1\n"
            + anchor
            # Only the testbed's zones resolve; everything else is refused here and never sent out.
            + '  local-zone: "." refuse\n'
            + transparent
            + stubs
            + f"remote-control:\n  control-enable: yes\n  control-interface: {address}\n"
            "  control-port: 8953\n  control-use-cert: no\n"
        )

    def reset_zone_data(self) -> None:
        """Forget what earlier runs wrote into the zones, and their keys: each start of the servers
        begins clean (the resolver's trust anchor is read again from the new registry key)."""
        for pattern in ("*/*.db", "*/*.jnl", "*/*.signed", "*/*.signed.jnl", "primary/keys/*",
                        "resolver/registry.anchor"):
            for path in self.dir.glob(pattern):
                path.unlink()

    def write_config(self, zones: list[str], signed: list[str]) -> None:
        (self.dir / "primary" / "keys").mkdir(parents=True, exist_ok=True, mode=0o700)
        for role in ("primary", "secondary"):
            d = self.dir / role
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            (d / "named.conf").write_text(self._named_conf(role, zones, signed))
        for zone in self.all_zones(zones):
            zone_file = self.dir / "primary" / f"{zone}.db"
            if not zone_file.exists():
                zone_file.write_text(self._zone_file(zone))
        for name in self._resolvers():
            (self.dir / name).mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.dir / name / "unbound.conf").write_text(self._unbound_conf(zones, name))
        (self.dir / "rndc.conf").write_text(
            f'key "rndc-key" {{ algorithm hmac-sha256; secret "{self._secret("rndc")}"; }};\n'
            'options { default-key "rndc-key"; };\n'
        )

    def check_config(self) -> None:
        for role in ("primary", "secondary"):
            run(["named-checkconf", str(self.dir / role / "named.conf")])
        for name in self._resolvers():
            run(["unbound-checkconf", str(self.dir / name / "unbound.conf")])

    @property
    def delay_file(self) -> Path:
        return self.dir / "secondary-delay"

    def set_secondary_delay(self, seconds: int) -> None:
        self.delay_file.write_text(str(seconds))

    # -- processes ---------------------------------------------------------------------------
    def start(self) -> dict[str, Recorded]:
        records = {}
        for role in ("primary", "secondary"):
            records[f"named-{role}"] = start(
                ["/usr/sbin/named", "-f", "-c", str(self.dir / role / "named.conf")],
                log=self.dir / role / "stdout.log",
            )
        records["notify-relay"] = start(
            [
                sys.executable,
                "-m",
                "testbed.notify_relay",
                self.layout.notify_relay,
                self.layout.dns_primary,
                self.layout.dns_secondary,
                str(self.delay_file),
            ],
            log=self.dir / "notify-relay.log",
        )
        for name in self._resolvers():
            records[RESOLVER_PROCESSES[name]] = start(
                ["/usr/sbin/unbound", "-d", "-c", str(self.dir / name / "unbound.conf")],
                log=self.dir / name / "stdout.log",
            )
        return records

    def rndc(self, server: str, *args: str) -> None:
        run(["rndc", "-c", str(self.dir / "rndc.conf"), "-s", server, "-p", "953", *args])

    def _unbound_control(self, *args: str, stdin: str | None = None, resolver: str = "resolver") -> None:
        run(["unbound-control", "-c", str(self.dir / resolver / "unbound.conf"), *args], input=stdin)

    def cache_answer(self, name: str, rtype: str, values: list[str], ttl: int) -> None:
        """Make the (first) resolver answer ``values`` from its cache for ``ttl`` seconds, past its 5-second
        cap and whatever the zone serves meanwhile: a stale cache that no clock races."""
        owner = name.rstrip(".") + "."
        rrs = "".join(f"{owner}\t{ttl}\tIN\t{rtype}\t{value}\n" for value in values)
        self._unbound_control("load_cache", stdin=(
            f"START_RRSET_CACHE\n;rrset {ttl} {len(values)} 0 8 0\n{rrs}END_RRSET_CACHE\n"
            # one answer of that RRset, flags QR+RA
            f"START_MSG_CACHE\nmsg {owner} IN {rtype} 32896 1 {ttl} 0 1 0 0\n{owner} IN {rtype} 0\n"
            "END_MSG_CACHE\nEOF\n"))

    def flush_cache(self, name: str, rtype: str) -> None:
        """Both resolvers forget their cached ``rtype`` answer for ``name``, as when its TTL runs out."""
        for resolver in RESOLVER_PROCESSES:
            self._unbound_control("flush_type", name.rstrip(".") + ".", rtype, resolver=resolver)

    def reconfigure(self, zones: list[str], signed: list[str]) -> None:
        """Apply new zones or delay to the running servers without restarting them."""
        self.write_config(zones, signed)
        self.check_config()
        self.rndc(self.layout.dns_primary, "reconfig")
        self.rndc(self.layout.dns_secondary, "reconfig")
        for resolver in RESOLVER_PROCESSES:
            self._unbound_control("reload", resolver=resolver)

    def wait_ready(self, zones: list[str], timeout: float = 20.0) -> None:
        """Wait until both servers answer SOA for every zone and the resolver answers too."""
        lay = self.layout
        deadline = time.monotonic() + timeout
        pending = [
            (server, zone)
            for zone in zones
            for server in (lay.dns_primary, lay.dns_secondary, lay.resolver, lay.resolver2)
        ]
        while pending and time.monotonic() < deadline:
            server, zone = pending[0]
            try:
                query = dns.message.make_query(zone, dns.rdatatype.SOA)
                query.flags |= dns.flags.CD  # served, even if a test left its DNSSEC broken
                answer = dns.query.udp(query, server, timeout=0.5)
                if answer.answer:
                    pending.pop(0)
                    continue
            except (OSError, dns.exception.DNSException):
                pass
            time.sleep(0.1)
        if pending:
            server, zone = pending[0]
            logs = "\n".join(tail(p, 15) for p in self.dir.glob("*/named.log"))
            raise TestbedError(f"DNS server {server} did not serve {zone} within {timeout:.0f}s\n{logs}")
