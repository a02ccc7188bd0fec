"""The DNS doctor: one mail domain's DNS checked the way receivers see it, each problem with a
stable code, a plain explanation, the exact record to set and the DNS host's own steps; the
propagation of its records over every authoritative server and a resolver panel; its readiness.

    from mailfleet.dnsdoctor import Doctor, DoctorConfig
    report = Doctor(DoctorConfig(resolver="10.0.0.53")).run(target, domain)
    report.status            # ready | propagating | failing
    report.findings[0].to_dict()
"""

from __future__ import annotations

from .engine import Doctor, DoctorConfig, Readiness, Report, caa_identity
from .findings import CATALOGUE, SECTIONS, Finding, Problem
from .guidance import DnsHost, detect_host
from .propagation import NameServer, RecordPropagation, ServerAnswer

__all__ = [
    "CATALOGUE",
    "SECTIONS",
    "DnsHost",
    "Doctor",
    "DoctorConfig",
    "Finding",
    "NameServer",
    "Problem",
    "Readiness",
    "RecordPropagation",
    "Report",
    "ServerAnswer",
    "caa_identity",
    "detect_host",
]
