"""DNS helpers shared by the dns role's modules and monitoring: canonical record values, the records
a mail server needs, record ownership and change planning, and authoritative propagation checks."""

from __future__ import annotations

from .errors import DnsConflictError, DnsError, DnsInputError, DnsQueryError, PropagationTimeout
from .mailrecords import Unit, build_units, mta_sts_policy
from .ownership import Plan, RRsetChange, ZoneReader, plan_unit
from .propagation import (
    Expectation,
    PropagationReport,
    authoritative_servers,
    check_server,
    expectations,
    wait_everywhere,
    wait_for_propagation,
)
from .rdata import Record, canonical_value, normalize_name
from .rfc2136 import AuthoritativeReader

__all__ = [
    "AuthoritativeReader",
    "DnsConflictError",
    "DnsError",
    "DnsInputError",
    "DnsQueryError",
    "Expectation",
    "Plan",
    "PropagationReport",
    "PropagationTimeout",
    "RRsetChange",
    "Record",
    "Unit",
    "ZoneReader",
    "authoritative_servers",
    "build_units",
    "canonical_value",
    "check_server",
    "expectations",
    "mta_sts_policy",
    "normalize_name",
    "plan_unit",
    "wait_everywhere",
    "wait_for_propagation",
]
