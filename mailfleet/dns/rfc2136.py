"""Read a zone's live state from its primary server (plain queries, no transfer rights needed).

The writes themselves go through community.general.nsupdate in the dns role; this side plans
them (see ``ownership.plan_unit``) and tells each update which zone it belongs to.
"""

from __future__ import annotations

from .errors import DnsQueryError
from .ownership import RRsetChange
from .query import Answer, query_rrset
from .rdata import Record

__all__ = ["AuthoritativeReader"]


class AuthoritativeReader:
    """ZoneReader over direct queries to one authoritative server (the primary); answers are cached
    for the life of the object (one plan)."""

    def __init__(self, server: str, *, port: int = 53, timeout: float = 3.0) -> None:
        self.server = server
        self.port = port
        self.timeout = timeout
        self._answers: dict[tuple[str, str], Answer] = {}
        self._zones: dict[str, str] = {}

    def _ask(self, name: str, rtype: str) -> Answer:
        key = (name, rtype)
        if key not in self._answers:
            self._answers[key] = query_rrset(self.server, name, rtype, port=self.port, timeout=self.timeout)
        return self._answers[key]

    def rrset(self, name: str, rtype: str) -> list[Record]:
        answer = self._ask(name, rtype)
        return [Record(name, rtype, value, answer.ttl or 0) for value in answer.values]

    def overlay(self, change: RRsetChange) -> None:
        """Pretend ``change`` is applied, so the next unit's plan builds on it (shared RRsets)."""
        old = self._ask(change.name, change.rtype)
        self._answers[(change.name, change.rtype)] = Answer(
            server=self.server, name=change.name, rtype=change.rtype, values=change.values,
            ttl=change.ttl if change.values else None, exists=old.exists or bool(change.values),
            cname=old.cname, soa_owner=old.soa_owner,
        )

    def cname_at(self, name: str) -> str | None:
        answer = self._ask(name, "CNAME")
        return answer.values[0] if answer.values else None

    def has_other_data(self, name: str) -> bool:
        answer = self._ask(name, "CNAME")
        return answer.exists and not answer.values

    def zone_for(self, name: str) -> str:
        """The apex of the zone holding ``name`` on this server (raises if the server has none)."""
        if name in self._zones:
            return self._zones[name]
        answer = self._ask(name, "SOA")
        if answer.values:
            zone = name
        elif answer.soa_owner and (name == answer.soa_owner or name.endswith("." + answer.soa_owner)):
            zone = answer.soa_owner
        else:
            raise DnsQueryError(f"{self.server}: no zone found for {name}")
        self._zones[name] = zone
        return zone
