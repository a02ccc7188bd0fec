"""Mailu relay domains: how Mailu 2024.06 turns a relay's ``smtp`` field into the Postfix transport
its ``/internal/postfix/transport`` table answers, and the relay mailfleet writes for a secondary MX.

Mailu lower-cases the field, then reads an optional ``mx:`` or ``lmtp:`` prefix, a host (a name, or
an IPv6 address in brackets) and an optional ``:port``:

=====================  =================================
``smtp`` field          transport
=====================  =================================
``mail.example.com``    ``smtp:[mail.example.com]`` (no MX lookup)
``host:2525``           ``smtp:[host]:2525``
``mx:example.com``      ``smtp:example.com`` (MX lookup)
``""`` (or ``:25``)     ``smtp:<relay domain>`` (or ``...:25``; MX lookup of the domain itself)
``lmtp:host:24``        ``lmtp:host:24``
``[2001:db8::1]:25``    ``smtp:[ipv6:2001:db8::1]:25``
=====================  =================================

``mx:`` with brackets, ``lmtp:`` without a host, text after ``]`` that is not ``:port``, a port
that is not a number and a name IDNA cannot encode make Mailu answer 400 (Postfix then defers).

A secondary MX must never look up the relayed domain's MX: it would find itself and loop. So the
relay names the primary's mail host plainly, and :func:`secondary_relay` refuses anything that
would not be rendered ``smtp:[host]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import idna

from mailfleet.validation import ValidationError, normalize_hostname

__all__ = ["RelayPlan", "RelayTargetError", "plan_relays", "relay_transport", "secondary_relay"]


class RelayTargetError(ValidationError):
    """A relay's smtp field Mailu refuses to render (its transport table answers 400)."""


def _split(target: str, use_mx: bool) -> tuple[str, str | None]:
    if target.startswith("["):
        if use_mx or "]" not in target:
            raise RelayTargetError(f"{target!r}: brackets need a closing ']' and no mx: prefix")
        host, rest = target[1:].split("]", 1)
        if rest and not rest.startswith(":"):
            raise RelayTargetError(f"{target!r}: only ':port' may follow ']'")
        return host, rest[1:] if rest else None
    if ":" in target:
        host, port = target.rsplit(":", 1)
        return host, port
    return target, None


def relay_transport(name: str, smtp: str) -> str:
    """The transport Mailu's Postfix uses for mail to relay domain ``name`` with ``smtp``."""
    target = (smtp or "").lower()
    use_mx = target.startswith("mx:")
    use_lmtp = target.startswith("lmtp:")
    target = target[3:] if use_mx else target[5:] if use_lmtp else target
    host, port = _split(target, use_mx)
    if not host:
        if use_lmtp:
            raise RelayTargetError(f"{smtp!r}: lmtp: needs a host")
        host, use_mx = name.lower(), True
    if ":" in host:
        host = f"ipv6:{host}"
    else:
        try:
            host = idna.encode(host).decode("ascii")
        except idna.IDNAError:
            raise RelayTargetError(f"{smtp!r}: {host!r} is not a host name") from None
    if port is not None:
        try:
            port = str(int(port, 10))
        except ValueError:
            raise RelayTargetError(f"{smtp!r}: the port must be a number") from None
    if host.startswith("ipv6:") or not (use_lmtp or use_mx):
        host = f"[{host}]"
    return f"{'lmtp' if use_lmtp else 'smtp'}:{host}{'' if port is None else ':' + port}"


def secondary_relay(domain: str, primary_host: str) -> dict[str, str]:
    """The relay a secondary MX holds for ``domain``: its smtp is the primary's mail host, which
    Mailu renders ``smtp:[<host>]`` (delivery to that host, never to the domain's MX set)."""
    host = normalize_hostname(primary_host)
    if relay_transport(domain, host) != f"smtp:[{host}]":
        raise RelayTargetError(f"{primary_host!r} would not be delivered to as a host")
    return {"name": domain, "smtp": host}


@dataclass(frozen=True)
class RelayPlan:
    """What to change on a Mailu to hold exactly the wanted managed relays (names, sorted)."""

    create: list[str]
    update: list[str]
    remove: list[str]
    comment: str

    def comment_of(self, name: str) -> str:
        return f"{self.comment}: {name}"


def plan_relays(current: Iterable[Mapping[str, Any]], wanted: Mapping[str, Mapping[str, str]],
                comment: str) -> RelayPlan:
    """Compare Mailu's relays with the wanted ones (name -> relay). Relays whose comment starts with
    ``comment`` are managed: removed when not wanted. A wanted name Mailu holds unmanaged is taken
    over (its smtp and comment updated)."""
    have = {str(r.get("name", "")).lower(): r for r in current}
    plan = RelayPlan([], [], [], comment)
    for name, relay in sorted(wanted.items()):
        found = have.get(name)
        if found is None:
            plan.create.append(name)
        elif (str(found.get("smtp") or "").lower(), found.get("comment")) \
                != (relay["smtp"], plan.comment_of(name)):
            plan.update.append(name)
    plan.remove.extend(sorted(
        name for name, r in have.items()
        if name not in wanted and str(r.get("comment") or "").startswith(comment)
    ))
    return plan
