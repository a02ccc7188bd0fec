"""SSH host keys: pinned once at provisioning, trusted strictly by every run, a change stops the run.

- Each run gets a known_hosts file written from the pinned keys of its tenant's servers
  (`known_hosts`); ansible.cfg checks strictly, so a server without a pinned key, or whose key
  differs, cannot be reached: nothing is written to a host we cannot authenticate.
- provision.yml reads a new server's keys at first contact and adds them to that same file; after
  a successful provisioning run they are recorded with the server row (`pin_from_run`).
- A run that met a changed key fails with "host key of <server> changed" and raises an alert
  through the monitoring engine (check `ssh_host_key`), notified at once (`changed_hosts`, `alert`).

A server rebuilt on purpose gets a new key: clear its pinned keys and run provision.yml again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from flask import Flask
from sqlalchemy import select

from mailfleet.monitoring import (
    AlertPolicies,
    AlertPolicy,
    CheckResult,
    Status,
    deliver_with_retry,
    record_results,
)
from webapp.extensions import db
from webapp.integrations import alert_router
from webapp.models import RunEvent, Server, SqlHealthStore

log = logging.getLogger(__name__)

CHECK = "ssh_host_key"
#: What ssh prints when the key a host presents differs from the pinned one, and what Mitogen's
#: strategy reports instead for any key ssh refused, unknown or different: for a server whose keys
#: the run pinned, a different one.
CHANGED = ("REMOTE HOST IDENTIFICATION HAS CHANGED", "SSH reported an unrecognized or mismatching host key")
#: A changed key is never a blip: alert on the first failure.
POLICIES = AlertPolicies(default=AlertPolicy(fail_after=1))


def known_hosts(servers: Iterable[Server]) -> str:
    """known_hosts lines (`<name>,<address> <type> <key>`) of the servers with pinned keys."""
    lines = []
    for server in servers:
        if server.public_ipv4 and server.ssh_host_keys:
            hosts = f"{server.name},{server.public_ipv4}"
            lines += [f"{hosts} {key}\n" for key in server.ssh_host_keys.splitlines() if key.strip()]
    return "".join(lines)


def keys_for(name: str, text: str) -> list[str]:
    """The `<type> <key>` pairs a known_hosts text holds for host `name` (plain, unhashed lines)."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and not line.startswith(("#", "@")) and name in fields[0].split(","):
            found.append(f"{fields[1]} {fields[2]}")
    return sorted(set(found))


def pin_from_run(server: Server, run_known_hosts: str) -> bool:
    """Record the keys provision.yml read from `server` at first contact, unless pinned already."""
    if server.ssh_host_keys:
        return False
    keys = keys_for(server.name, run_known_hosts)
    if not keys:
        log.warning("server %s: provisioning recorded no host key; runs cannot reach it", server.name)
        return False
    server.ssh_host_keys = "\n".join(keys)
    log.info("server %s: host keys pinned (%s)", server.name, ", ".join(k.split()[0] for k in keys))
    return True


def changed_hosts(run_id: int, run_known_hosts: str) -> dict[str, str]:
    """Host -> ssh's message, for each host of the run that presented a key other than the one
    pinned for it in `run_known_hosts` (the run's known_hosts)."""
    found: dict[str, str] = {}
    unreachable = db.session.execute(
        select(RunEvent.host_name, RunEvent.event_data).where(
            RunEvent.run_id == run_id, RunEvent.event == "runner_on_unreachable"
        )
    )
    for host, data in unreachable:
        message = str(((data or {}).get("res") or {}).get("msg") or "")
        if host and any(text in message for text in CHANGED) and keys_for(host, run_known_hosts):
            found[host] = message
    return found


def failure_reason(changed: Mapping[str, str]) -> str:
    names = ", ".join(sorted(changed))
    return (
        f"host key of {names} changed since it was pinned at provisioning: nothing was done on it "
        "(if the server was rebuilt on purpose, pin its new key)"
    )[:255]


def alert(app: Flask, changed: Mapping[str, str]) -> None:
    """An alert per server through the monitoring engine, delivered to the configured channels."""
    results = [
        CheckResult(host, CHECK, Status.ERROR, None, f"host key of {host} changed: the run was stopped")
        for host in sorted(changed)
    ]
    notes = record_results(SqlHealthStore(), results, POLICIES)
    try:
        deliver_with_retry(alert_router(app), notes)
    except Exception as exc:  # noqa: BLE001 - the alert is stored; a channel failing must not hide it
        log.warning("host key alert not delivered: %s", type(exc).__name__)
