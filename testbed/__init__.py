"""The local testbed: real hosts (systemd-nspawn), BIND, Unbound, Pebble, Redis, an apt proxy, and
doubles of the outside APIs that cannot run here. Tests and `make demo` share it.

    tb = Testbed(instance=1)
    tb.up()                                   # DNS, ACME, Redis, apt proxy (idempotent)
    web1, web2 = tb.start_hosts(["web1", "web2"])
    tb.down()                                 # everything stopped by recorded PID, links removed

Nothing here is part of the product that runs in production.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from testbed import hosts as hostlib
from testbed import kernel_limits, mailstack, network, rootfs
from testbed.acme import Acme, AcmeInfo
from testbed.aptproxy import AptProxy
from testbed.daemons import Recorded, TestbedError, start, stop
from testbed.dns import DEFAULT_ZONES, REGISTRY_ZONE, RESOLVER_PROCESSES, Dns, DnsInfo
from testbed.hosts import Host
from testbed.layout import MAX_HOSTS, Layout
from testbed.redis_server import Redis
from testbed.state import StateFile

__all__ = ["AcmeInfo", "DnsInfo", "Host", "Testbed", "TestbedError", "DOUBLE_PORTS"]

#: Each double listens on the instance's doubles address (127.77.N.6) at a fixed port.
DOUBLE_PORTS = {"hostwinds": 8081, "cloudflare": 8082, "mailu": 8083, "digitalocean": 8084, "vault": 8200}


def default_instance() -> int:
    return int(os.environ.get("MAILFLEET_TESTBED_INSTANCE", "1"))


class Testbed:
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, instance: int | None = None) -> None:
        self.layout = Layout(default_instance() if instance is None else instance)
        self.state = StateFile(self.layout.state_dir / "state.json")
        self._dns = Dns(self.layout)
        self._acme = Acme(self.layout)
        self._redis = Redis(self.layout)
        self._apt = AptProxy(self.layout)

    @property
    def instance(self) -> int:
        return self.layout.instance

    # -- what tests and tools read ---------------------------------------------------------
    @property
    def dns(self) -> DnsInfo:
        return self._dns.info(self.state.read()["zones"] or list(DEFAULT_ZONES))

    @property
    def acme(self) -> AcmeInfo:
        return self._acme.info()

    @property
    def redis_url(self) -> str:
        return self._redis.url

    @property
    def ssh_key(self) -> Path:
        """The instance's private key: root login on every testbed host."""
        key = self.layout.state_dir / "ssh" / "id_ed25519"
        if not key.exists():
            key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Hosts booted at once (the Hostwinds double's threads) all ask for the key first: one
            # generates it, the others wait; the public half is in place before the private one.
            with open(key.parent / "keygen.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not key.exists():
                    fresh = key.with_name(f"{key.name}.new")
                    for stale in (fresh, fresh.with_name(fresh.name + ".pub")):
                        stale.unlink(missing_ok=True)
                    subprocess.run(
                        [
                            "ssh-keygen",
                            "-q",
                            "-t",
                            "ed25519",
                            "-N",
                            "",
                            "-C",
                            f"mailfleet-testbed-{self.instance}",
                            "-f",
                            str(fresh),
                        ],
                        check=True,
                    )
                    fresh.with_name(fresh.name + ".pub").replace(key.with_suffix(".pub"))
                    fresh.replace(key)
        return key

    def double_url(self, name: str) -> str:
        return f"http://{self.layout.doubles}:{DOUBLE_PORTS[name]}"

    @property
    def hosts_mailu_url(self) -> str:
        """The Mailu double as testbed hosts reach it (its /internal endpoints, on their bridge)."""
        return f"http://{self.layout.gateway}:{DOUBLE_PORTS['mailu']}"

    # -- services --------------------------------------------------------------------------
    def up(self, hosts: int = 0) -> list[Host]:
        """Start what is not running yet; safe to call again. Returns the hosts (booting `hosts` more
        named host1..N if fewer are up)."""
        network.ensure_bridge(self.layout)
        network.ensure_loopback(self.layout)
        with self.state.locked() as state:
            zones = state["zones"]
            procs = state["processes"]
            dns_procs = ("named-primary", "named-secondary", "notify-relay", *RESOLVER_PROCESSES.values())
            if not self._running(procs, *dns_procs):
                self._stop_named(procs, *dns_procs)
                state["zones"] = zones = list(DEFAULT_ZONES)
                state["signed_zones"] = [REGISTRY_ZONE]
                self._dns.reset_zone_data()
                self._dns.write_config(zones, state["signed_zones"])
                self._dns.check_config()
                procs.update({k: v.to_json() for k, v in self._dns.start().items()})
            self._dns.wait_ready(zones)
            if REGISTRY_ZONE in zones and not self._dns.trust_anchor_file.exists():
                self._dns.anchor_registry()
                self._dns.reconfigure(zones, state["signed_zones"])
            if not self._running(procs, "pebble"):
                self._acme.write_config()
                procs["pebble"] = self._acme.start().to_json()
            if not self._running(procs, "redis"):
                self._redis.write_config()
                procs["redis"] = self._redis.start().to_json()
            if not self._running(procs, "apt-proxy"):
                procs["apt-proxy"] = self._apt.start().to_json()
        self._acme.wait_ready()
        self._redis.wait_ready()
        existing = self.hosts()
        wanted = [f"host{i}" for i in range(1, hosts + 1) if f"host{i}" not in {h.name for h in existing}]
        if len(existing) < hosts:
            self.start_hosts(wanted[: hosts - len(existing)])
        return self.hosts()

    @staticmethod
    def _running(procs: dict, *names: str) -> bool:
        return all(n in procs and Recorded.from_json(procs[n]).alive() for n in names)

    @staticmethod
    def _stop_named(procs: dict, *names: str) -> None:
        for n in names:
            if n in procs:
                stop(Recorded.from_json(procs.pop(n)))

    def restart(self, service: str) -> None:
        """Stop one recorded service (e.g. "redis") and start it again with its data kept."""
        with self.state.locked() as state:
            if service not in state["processes"]:
                raise TestbedError(f"no service {service!r} recorded in instance {self.instance}")
            stop(Recorded.from_json(state["processes"].pop(service)))
        self.up()

    def add_zone(self, zone: str, signed: bool = False) -> None:
        """Serve another zone on both authoritative servers and through the resolver; ``signed``:
        BIND signs it inline (DNSSEC). A zone under the registry (``dnssec.test``) is delegated by
        it; its DS records are the registrar's step (`set_ds`)."""
        zone = zone.rstrip(".").lower()
        if not all(label.replace("-", "").isalnum() for label in zone.split(".")):
            raise ValueError(f"invalid zone name {zone!r}")
        with self.state.locked() as state:
            if zone in state["zones"]:
                return
            state["zones"].append(zone)
            if signed:
                state["signed_zones"].append(zone)
            if zone.endswith("." + REGISTRY_ZONE):  # else the registry proves it does not exist
                self._dns.delegate(zone)
            self._dns.reconfigure(state["zones"], state["signed_zones"])
        self._dns.wait_ready([zone])

    def set_ds(self, zone: str, ds_records: list[str]) -> None:
        """The registrar's step: publish a zone's DS records in the registry (its parent)."""
        self._dns.set_ds(zone, ds_records)

    def rollover_zsk(self, zone: str) -> int:
        """Start a rollover of a signed zone's zone-signing key now; returns the old key's tag."""
        return self._dns.rollover(zone, ksk=False)

    def rollover_ksk(self, zone: str) -> int:
        """Start a rollover of a signed zone's key-signing key now; returns the old key's tag. The
        old key is retired once the registrar's DS set names only the successor (`set_ds`)."""
        return self._dns.rollover(zone, ksk=True)

    def key_states(self, zone: str) -> dict[int, dict[str, str]]:
        """BIND's state of each key of a signed zone, by key tag (see `Dns.key_states`)."""
        return self._dns.key_states(zone)

    def set_ptr(self, address: str, name: str | None) -> None:
        """Reverse DNS of a host address (None removes it), served from the testbed's reverse zone."""
        self._dns.set_ptr(address, name)

    def cache_answer(self, name: str, rtype: str, values: list[str], ttl: int) -> None:
        """The (first) resolver answers ``values`` (presentation text) for ``ttl`` seconds, stale or not."""
        self._dns.cache_answer(name, rtype, values, ttl)

    def flush_cache(self, name: str, rtype: str) -> None:
        """Both resolvers forget their cached ``rtype`` answer for ``name``."""
        self._dns.flush_cache(name, rtype)

    def set_secondary_delay(self, seconds: int) -> None:
        """Make the secondary hear of each change `seconds` later (0: at once)."""
        if not 0 <= seconds <= 3600:
            raise ValueError("delay must be 0..3600 seconds")
        self._dns.set_secondary_delay(seconds)

    def start_double(self, name: str) -> str:
        """Run one API double (testbed/doubles/<name>.py) as a process; return its base URL."""
        if name not in DOUBLE_PORTS:
            raise ValueError(f"unknown double {name!r}; known: {', '.join(DOUBLE_PORTS)}")
        key = f"double-{name}"
        # The Mailu double also answers the hosts' mail stacks (testbed/mailstack) on their bridge.
        extra = ["--hosts-bind", self.hosts_mailu_url.removeprefix("http://")] if name == "mailu" else []
        if extra:
            network.ensure_bridge(self.layout)
        with self.state.locked() as state:
            procs = state["processes"]
            if not self._running(procs, key):
                env = {**os.environ, "MAILFLEET_TESTBED_INSTANCE": str(self.instance)}
                procs[key] = start(
                    [
                        sys.executable,
                        "-m",
                        "testbed.doubles.serve",
                        name,
                        "--bind",
                        f"{self.layout.doubles}:{DOUBLE_PORTS[name]}",
                        "--state-dir",
                        str(self.layout.state_dir / "doubles" / name),
                        *extra,
                    ],
                    log=self.layout.state_dir / "doubles" / f"{name}.log",
                    env=env,
                ).to_json()
        from testbed.doubles.serve import wait_ready  # noqa: PLC0415 - only needed here

        wait_ready(self.layout.doubles, DOUBLE_PORTS[name], self.layout.state_dir / "doubles" / f"{name}.log")
        return self.double_url(name)

    # -- hosts -----------------------------------------------------------------------------
    def hosts(self) -> list[Host]:
        state = self.state.read()
        return [
            self._host(name, data)
            for name, data in sorted(state["hosts"].items())
            if Recorded.from_json(data["nspawn"]).alive()
        ]

    def host(self, name: str) -> Host:
        data = self.state.read()["hosts"].get(name)
        if data is None:
            raise TestbedError(f"no testbed host named {name!r} in instance {self.instance}")
        return self._host(name, data)

    def _host(self, name: str, data: dict) -> Host:
        return Host(name=name, index=int(data["index"]), address=str(data["address"]), ssh_key=self.ssh_key)

    def start_hosts(self, names: Sequence[str], authorized_keys: Iterable[str] = ()) -> list[Host]:
        """Boot hosts in parallel and wait until each answers SSH with the instance key."""
        for name in names:
            hostlib.validate_name(name)
        if len(set(names)) != len(names):
            raise ValueError("host names must be unique")
        kernel_limits.ensure()
        network.ensure_bridge(self.layout)
        lower = rootfs.ensure_root()
        keys = [self.ssh_key.with_suffix(".pub").read_text(), *authorized_keys]
        booting: list[tuple[Host, Recorded]] = []
        with self.state.locked() as state:
            for name in names:
                if name in state["hosts"]:
                    if Recorded.from_json(state["hosts"][name]["nspawn"]).alive():
                        raise TestbedError(f"host {name!r} is already running in instance {self.instance}")
                    self._forget(state, name)
                used = {int(h["index"]) for h in state["hosts"].values()}
                index = next(i for i in range(MAX_HOSTS) if i not in used)
                root = hostlib.prepare(self.layout, name, index, lower, keys)
                mailstack.install(root, self.hosts_mailu_url)
                record = hostlib.boot(self.layout, name, index, root)
                state["hosts"][name] = {
                    "index": index,
                    "address": self.layout.host_address(index),
                    "nspawn": record.to_json(),
                    "init": None,
                }
                booting.append((self._host(name, state["hosts"][name]), record))
        errors = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(booting))) as pool:
            futures = [
                pool.submit(hostlib.wait_for_ssh, h, r, hostlib.host_dir(self.layout, h.name) / "console.log")
                for h, r in booting
            ]
            for future in futures:
                try:
                    future.result()
                except TestbedError as exc:
                    errors.append(str(exc))
        with self.state.locked() as state:
            for host, record in booting:
                init = hostlib.container_init(record)
                state["hosts"][host.name]["init"] = init.to_json() if init else None
            self._write_known_hosts(state)
        if errors:
            for booted, _ in booting:
                self.stop_host(booted.name)
            raise TestbedError("\n\n".join(errors))
        return [h for h, _ in booting]

    def stop_host(self, name: str) -> None:
        with self.state.locked() as state:
            if name in state["hosts"]:
                self._forget(state, name)
                self._write_known_hosts(state)

    @property
    def known_hosts(self) -> Path:
        """The host keys of this instance's running hosts, as they were generated at boot (what a
        provider's console shows), in known_hosts format: tests that run ansible-playbook against
        testbed hosts point UserKnownHostsFile here, since ansible.cfg checks host keys strictly."""
        return self.layout.state_dir / "known_hosts"

    def host_keys(self, name: str) -> str:
        """The host keys `name` booted with, one `<type> <key>` per line (what provisioning pins)."""
        return "\n".join(hostlib.host_keys(self.layout, name))

    def _write_known_hosts(self, state: dict) -> None:
        lines = [
            f"{data['address']} {key}\n"
            for name, data in sorted(state["hosts"].items())
            for key in hostlib.host_keys(self.layout, name)
        ]
        tmp = self.known_hosts.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        tmp.replace(self.known_hosts)

    def _forget(self, state: dict, name: str) -> None:
        data = state["hosts"].pop(name)
        init = Recorded.from_json(data["init"]) if data.get("init") else None
        hostlib.destroy(self.layout, name, int(data["index"]), Recorded.from_json(data["nspawn"]), init)

    # -- teardown and status ---------------------------------------------------------------
    def down(self) -> None:
        """Stop every host and process this instance started (by PID) and remove its links."""
        with self.state.locked() as state:
            for name in list(state["hosts"]):
                self._forget(state, name)
            for name in list(state["processes"]):
                stop(Recorded.from_json(state["processes"].pop(name)))
        for index in range(MAX_HOSTS):  # links of hosts whose state was lost
            network.delete_host_link(self.layout, index)
        network.delete_bridge(self.layout)
        network.delete_loopback(self.layout)

    def status(self) -> dict[str, object]:
        state = self.state.read()
        return {
            "instance": self.instance,
            "processes": {
                n: {"pid": d["pid"], "running": Recorded.from_json(d).alive()}
                for n, d in sorted(state["processes"].items())
            },
            "hosts": {h.name: h.address for h in self.hosts()},
            "dns": {
                "primary": self.layout.dns_primary,
                "secondary": self.layout.dns_secondary,
                "resolver": self.layout.resolver,
                "resolver2": self.layout.resolver2,
                "zones": state["zones"],
            },
            "acme": self.acme.directory_url,
            "redis": self.redis_url,
            "links": network.leftover_links(self.layout),
        }
