"""Ownership of records, and the plan that turns the current zone into the wanted one.

The ownership marker is a TXT RRset at ``_mailfleet.<owner>`` (the *manifest*) holding one TXT
record per record we created::

    "mailfleet1 _dmarc.example.test TXT 3f9a0c2be81d44a7"

i.e. owner name, type and the first 16 hex digits of SHA-256 over ``"<TYPE> <canonical value>"``.
Hashes keep long values (DKIM keys) out of the manifest. Rules:

* we delete only records whose hash is in the manifest; every other record is foreign and kept,
  also inside an RRset we write to (an RFC 2136 replace carries foreign values along);
* a wanted record that already exists as a foreign record is left alone and not adopted;
* a foreign record that would contradict ours (a second ``v=spf1`` at the same name, a CNAME
  beside data) is a conflict: the plan fails with a list of them and nothing is changed;
* the manifest is written before additions (owning what is about to exist, so a crash leaves no
  orphans) and rewritten after removals.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from .errors import DnsConflictError
from .rdata import Record

__all__ = [
    "MANIFEST_TAG",
    "Plan",
    "RRsetChange",
    "ZoneReader",
    "digest",
    "manifest_value",
    "parse_manifest",
    "plan_unit",
]

MANIFEST_TAG = "mailfleet1"
# TXT records of which a name may carry only one (RFC 7208 3.2, RFC 7489 6.6.3, RFC 8461, RFC 8460).
_SINGLETON_TAGS = ("v=spf1", "v=dmarc1", "v=dkim1", "v=stsv1", "v=tlsrptv1")
_MANIFEST_TTL = 600


class ZoneReader(Protocol):
    """What the planner needs to know about the live zone; one implementation per provider."""

    def rrset(self, name: str, rtype: str) -> list[Record]:
        """Current records at name/type (TTL included); [] if none."""
        ...

    def cname_at(self, name: str) -> str | None:
        """The canonical CNAME target at ``name`` if the name is an alias, else None."""
        ...

    def has_other_data(self, name: str) -> bool:
        """True if ``name`` holds records of any type other than CNAME."""
        ...


def digest(record: Record) -> str:
    return hashlib.sha256(f"{record.rtype} {record.value}".encode()).hexdigest()[:16]


def manifest_value(record: Record) -> str:
    return f"{MANIFEST_TAG} {record.name} {record.rtype} {digest(record)}"


def parse_manifest(values: Iterable[str]) -> set[tuple[str, str, str]]:
    """(name, type, hash) of every owned record listed in a manifest's TXT values."""
    owned = set()
    for value in values:
        parts = value.split()
        if len(parts) == 4 and parts[0] == MANIFEST_TAG:
            owned.add((parts[1], parts[2], parts[3]))
    return owned


@dataclass(frozen=True)
class RRsetChange:
    """Make the RRset at name/type hold exactly ``values`` (empty: delete the RRset)."""

    name: str
    rtype: str
    ttl: int
    values: tuple[str, ...]

    @property
    def state(self) -> str:
        return "present" if self.values else "absent"


@dataclass
class Plan:
    """What to do for one unit; ``add``/``remove``/``retime`` are per-record (Cloudflare), ``rrsets`` per
    RRset in the order to apply (RFC 2136). Empty plan: nothing to change."""

    manifest: str
    add: list[Record] = field(default_factory=list)
    remove: list[Record] = field(default_factory=list)
    retime: list[Record] = field(default_factory=list)
    manifest_pre: tuple[Record, ...] = ()
    manifest_after: tuple[Record, ...] = ()
    rrsets: list[RRsetChange] = field(default_factory=list)
    present: list[Record] = field(default_factory=list)
    owned: list[Record] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.rrsets)


def _tag(value: str) -> str | None:
    head = re.split(r"[;\s]", value.strip(), maxsplit=1)[0].lower()
    return head if head in _SINGLETON_TAGS else None


def _manifest_records(manifest: str, records: Iterable[Record]) -> tuple[Record, ...]:
    return tuple(sorted({Record.make(manifest, "TXT", manifest_value(r), _MANIFEST_TTL) for r in records}))


def _conflicts(wanted: list[Record], current: dict[tuple[str, str], list[Record]],
               owned: set[tuple[str, str, str]], reader: ZoneReader) -> list[tuple[str, list[Record]]]:
    """Each foreign record in the way of a wanted one: what is wrong, and the foreign records a
    take-over would delete (none where deleting is not enough: data beside a wanted CNAME)."""
    problems: list[tuple[str, list[Record]]] = []
    wanted_keys = {r.key for r in wanted}

    def foreign(rec: Record) -> bool:
        return (rec.name, rec.rtype, digest(rec)) not in owned and rec.key not in wanted_keys

    for rec in wanted:
        tag = _tag(rec.value) if rec.rtype == "TXT" else None
        if tag:
            for other in current.get((rec.name, "TXT"), []):
                if foreign(other) and _tag(other.value) == tag:
                    problems.append((f"{rec.name} TXT already has {other.value[:60]!r}", [other]))
    names = {r.name for r in wanted}
    for name in sorted(names):
        types = {r.rtype for r in wanted if r.name == name}
        target = reader.cname_at(name)
        cname_owned = target is not None and (name, "CNAME", digest(Record(name, "CNAME", target))) in owned
        alias = [Record(name, "CNAME", target)] if target is not None else []
        if "CNAME" in types:
            ours = {r.value for r in wanted if r.name == name and r.rtype == "CNAME"}
            if target is not None and target not in ours and not cname_owned:
                problems.append((f"{name} is already an alias (CNAME {target})", alias))
            elif target is None and reader.has_other_data(name):
                problems.append((f"{name} holds other records; a CNAME cannot stand beside them", []))
        elif target is not None and not cname_owned:
            added = "/".join(sorted(types))
            problems.append((f"{name} is an alias (CNAME {target}); {added} cannot be added", alias))
    return problems


def _stray_addresses(wanted: list[Record], current: dict[tuple[str, str], list[Record]],
                     owned: set[tuple[str, str, str]]) -> list[Record]:
    """Foreign A/AAAA records beside the addresses mailfleet publishes for a name (a mail host that
    also resolves elsewhere, such as into a CDN's proxy ranges). Not a conflict for an ordinary run,
    which keeps them; a take-over deletes them."""
    wanted_keys = {r.key for r in wanted}
    names = {(r.name, r.rtype) for r in wanted if r.rtype in ("A", "AAAA")}
    return [r for key in sorted(names) for r in current.get(key, [])
            if r.key not in wanted_keys and (r.name, r.rtype, digest(r)) not in owned]


def plan_unit(manifest: str, wanted: Iterable[Record], reader: ZoneReader, *,
              take_over: bool = False) -> Plan:
    """Compare the wanted records of one unit with the zone and return what to change.

    Raises DnsConflictError (nothing planned, nothing changed) when foreign records conflict.
    ``take_over`` (the DNS doctor's Fix, asked for by a person shown those records) deletes the
    conflicting foreign records instead, where deleting them is enough, and foreign addresses beside
    the mail host's own.
    """
    wanted = sorted(set(wanted))
    manifest_now = reader.rrset(manifest, "TXT")
    owned = parse_manifest(r.value for r in manifest_now)
    keys = {(r.name, r.rtype) for r in wanted} | {(n, t) for n, t, _ in owned}
    current = {key: reader.rrset(*key) for key in sorted(keys)}
    problems = _conflicts(wanted, current, owned, reader)
    blocking = [text for text, removable in problems if not (take_over and removable)]
    if blocking:
        raise DnsConflictError(blocking)
    taken = list(dict.fromkeys(r for _, removable in problems for r in removable))
    if take_over:
        taken += [r for r in _stray_addresses(wanted, current, owned) if r not in taken]
    for r in taken:
        current.setdefault((r.name, r.rtype), reader.rrset(r.name, r.rtype))

    wanted_keys = {r.key for r in wanted}
    present_keys = {r.key for recs in current.values() for r in recs}
    add = [r for r in wanted if r.key not in present_keys]
    remove = [
        r for recs in current.values() for r in recs
        if (r.name, r.rtype, digest(r)) in owned and r.key not in wanted_keys
    ] + [r for r in taken if r.key not in wanted_keys]
    ttl_of = {r.key: r.ttl for recs in current.values() for r in recs}
    owned_after = [r for r in wanted if r in add or (r.name, r.rtype, digest(r)) in owned]
    retime = [r for r in owned_after if r not in add and ttl_of.get(r.key) != r.ttl]

    plan = Plan(manifest=manifest, add=add, remove=remove, retime=retime, present=list(wanted),
                owned=owned_after)
    foreign_manifest = [r for r in manifest_now if not r.value.startswith(MANIFEST_TAG + " ")]
    still_owned = [
        r for recs in current.values() for r in recs
        if (r.name, r.rtype, digest(r)) in owned and r.key in wanted_keys
    ]
    plan.manifest_pre = _manifest_records(manifest, [*still_owned, *remove, *add])
    plan.manifest_after = _manifest_records(manifest, owned_after)
    # RRset changes. Deletions first, so a CNAME we drop is gone before data takes its name.
    touched = {(r.name, r.rtype) for r in [*add, *remove, *retime]}
    deletes: list[RRsetChange] = []
    replaces: list[RRsetChange] = []
    removing = {r.key for r in remove}
    for key in sorted(touched):
        values = {r.value for r in current.get(key, []) if r.key not in removing}
        values |= {r.value for r in add if (r.name, r.rtype) == key}
        ours = [r for r in owned_after if (r.name, r.rtype) == key]
        ttl = ours[0].ttl if ours else max((r.ttl for r in current.get(key, [])), default=600)
        change = RRsetChange(key[0], key[1], ttl, tuple(sorted(values)))
        (replaces if values else deletes).append(change)
    manifest_changes: list[RRsetChange] = []
    foreign_values = {r.value for r in foreign_manifest}
    pre_values = tuple(sorted(foreign_values | {r.value for r in plan.manifest_pre}))
    after_values = tuple(sorted(foreign_values | {r.value for r in plan.manifest_after}))
    before_values = tuple(sorted(r.value for r in manifest_now))
    if pre_values != before_values and (add or remove or retime):
        manifest_changes.append(RRsetChange(manifest, "TXT", _MANIFEST_TTL, pre_values))
    last = pre_values if manifest_changes else before_values
    tail = []
    if after_values != last:
        tail.append(RRsetChange(manifest, "TXT", _MANIFEST_TTL, after_values))
    plan.rrsets = [*manifest_changes, *deletes, *replaces, *tail]
    return plan
