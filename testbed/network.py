"""The instance's bridge and each host's veth pair and network namespace (iproute2)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from testbed.daemons import run
from testbed.layout import Layout


def _exists(link: str) -> bool:
    return Path(f"/sys/class/net/{link}").exists()


def ensure_bridge(layout: Layout) -> None:
    if not _exists(layout.bridge):
        run(["ip", "link", "add", layout.bridge, "type", "bridge"])
    addr = f"{layout.gateway}/{layout.network.prefixlen}"
    shown = run(["ip", "-4", "-o", "addr", "show", "dev", layout.bridge]).stdout
    if f" {addr} " not in shown:
        run(["ip", "addr", "add", addr, "dev", layout.bridge])
    run(["ip", "link", "set", layout.bridge, "up"])


def ensure_loopback(layout: Layout) -> None:
    """Put the instance's service addresses on lo: BIND binds only to addresses an interface has."""
    shown = run(["ip", "-4", "-o", "addr", "show", "dev", "lo"]).stdout
    for address in layout.loopback_addresses:
        if f" {address}/32 " not in shown:
            run(["ip", "addr", "add", f"{address}/32", "dev", "lo"])


def delete_loopback(layout: Layout) -> None:
    shown = run(["ip", "-4", "-o", "addr", "show", "dev", "lo"]).stdout
    for address in layout.loopback_addresses:
        if f" {address}/32 " in shown:
            run(["ip", "addr", "del", f"{address}/32", "dev", "lo"])


def delete_bridge(layout: Layout) -> None:
    if _exists(layout.bridge):
        run(["ip", "link", "delete", layout.bridge])


def create_host_link(layout: Layout, index: int) -> str:
    """A namespace with `host0` addressed and routed via the gateway; the other end on the bridge."""
    netns, veth = layout.host_netns(index), layout.host_veth(index)
    delete_host_link(layout, index)  # leftovers of a crashed run
    run(["ip", "netns", "add", netns])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "host0", "netns", netns])
    run(["ip", "link", "set", veth, "master", layout.bridge, "up"])
    address = f"{layout.host_address(index)}/{layout.network.prefixlen}"
    run(["ip", "-n", netns, "addr", "add", address, "dev", "host0"])
    run(["ip", "-n", netns, "link", "set", "lo", "up"])
    run(["ip", "-n", netns, "link", "set", "host0", "up"])
    run(["ip", "-n", netns, "route", "add", "default", "via", layout.gateway])
    return netns


def delete_host_link(layout: Layout, index: int) -> None:
    veth, netns = layout.host_veth(index), layout.host_netns(index)
    if _exists(veth):
        subprocess.run(["ip", "link", "delete", veth], check=False, capture_output=True)
    if Path(f"/run/netns/{netns}").exists():
        subprocess.run(["ip", "netns", "delete", netns], check=False, capture_output=True)


def leftover_links(layout: Layout) -> list[str]:
    """Interfaces and namespaces of this instance still present (for `down` checks and tests)."""
    prefix = f"mf{layout.instance}h"
    links = [p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith(prefix)]
    if _exists(layout.bridge):
        links.append(layout.bridge)
    shown = run(["ip", "-4", "-o", "addr", "show", "dev", "lo"]).stdout
    links += [f"lo:{a}" for a in layout.loopback_addresses if f" {a}/32 " in shown]
    ns_dir = Path("/run/netns")
    if ns_dir.is_dir():
        links += [p.name for p in ns_dir.iterdir() if p.name.startswith(f"mailfleet-{layout.instance}-")]
    return sorted(links)
