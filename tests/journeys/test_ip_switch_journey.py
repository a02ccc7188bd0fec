"""Journey: a tenant moves its converged server to a new main IP through the API, as a member does.

The server is the session's converged server "mb", warming up (day 10 of the standard curve). The
member asks for the switch (`POST .../switch-ip`, the server's name typed to confirm); the run goes
through the Hostwinds double, which gives the testbed host a second address and publishes the PTR
in the testbed's reverse zone; the control plane then restarts the warm-up and runs the domain run
(site.yml) that republishes the mail host's A record (and so its SPF, `a:<mail host>`). In the end:

- the host answers SMTP on the new address;
- the primary and the secondary both answer the mail host's A with the new address and the new
  address's PTR with the mail host name;
- the warm-up is back at day 1 and the server's policy service counts the new address;
- the address history shows the old and the new address, with the run that moved it.

The old address stays on the host (the double only adds one), so nothing else is cut off; still,
the server keeps its new address and DNS, so this file runs last among the converged users
(tests/scheduling.py)."""

from __future__ import annotations

import json
import secrets
import smtplib
import threading
import time
from datetime import timedelta

import dns.message
import dns.query
import dns.rdatatype
import dns.reversename
import pytest
import requests
from controlplane import scope_of_admin, work

pytestmark = pytest.mark.testbed

AGREE_S = 30.0  # the secondary hears of a change by NOTIFY and a transfer: seconds


def answers(server: str, name: str, rtype: str) -> set[str]:
    reply = dns.query.udp(dns.message.make_query(name, rtype), server, timeout=3)
    wanted = dns.rdatatype.from_text(rtype)
    return {rr.to_text().rstrip(".") for rrset in reply.answer if rrset.rdtype == wanted for rr in rrset}


def agreed(testbed, name: str, rtype: str, value: str) -> dict[str, set[str]]:
    """What each authoritative server answers for `name`, once both answer only `value` (or the
    deadline passes)."""
    servers = (testbed.dns.primary, testbed.dns.secondary)
    deadline = time.monotonic() + AGREE_S
    while True:
        seen = {server: answers(server, name, rtype) for server in servers}
        if all(found == {value} for found in seen.values()) or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def advance_the_doubles_clock_once_asked(testbed, stop: threading.Event) -> None:
    """Hostwinds takes about a minute to move an address (the double's ip_change_seconds): once the
    run has asked for the new address, the double's clock is moved on instead of waiting."""
    base = testbed.double_url("hostwinds")
    while not stop.wait(0.5):
        calls = requests.get(f"{base}/_double/state", timeout=5).json()["calls"]
        if calls.get("change_main_ip"):
            requests.post(f"{base}/_double/clock", json={"advance": 120}, timeout=5).raise_for_status()
            return


def test_a_server_moved_to_a_new_ip_answers_there_and_dns_warmup_and_history_follow(
    testbed, control_plane, converged_servers
):
    from mailfleet.warmup import curve
    from webapp.extensions import db
    from webapp.models import Run, RunStatus, Server, WarmupPlan
    from webapp.services import accounts, warmup

    server = converged_servers("mb")
    app = control_plane["app"]
    slug, old = server.tenant.slug, server.host.address
    email = f"switch{secrets.token_hex(2)}@{server.zone}"
    member = accounts.add_member(scope_of_admin(), server.tenant, email, secrets.token_urlsafe(16))
    api = app.test_client()
    headers = {"Authorization": f"Bearer {accounts.issue_api_token(member)}"}
    path = f"/api/v1/tenants/{slug}/servers/{server.server_id}"

    # Warming up: day 10 of the standard curve. Written as the warm-up page would write it, but not
    # pushed: the switch pushes the caps of the new address anyway (one run fewer to wait for).
    started_on = warmup.today() - timedelta(days=9)
    db.session.add(WarmupPlan(tenant_id=server.tenant.id, server_id=server.server_id, curve="standard",
                              started_on=started_on))
    db.session.commit()
    before = api.get(f"{path}/warmup", headers=headers).get_json()
    assert (before["sending_ip"], before["day"]) == (old, 10), before

    stop = threading.Event()
    clock = threading.Thread(target=advance_the_doubles_clock_once_asked, args=(testbed, stop), daemon=True)
    clock.start()
    try:
        started = api.post(f"{path}/switch-ip", json={"confirm": server.host.name}, headers=headers)
        assert started.status_code == 202, started.get_json()
        work(app)  # the switch, then what it queues: the caps for the new address and the domain run
    finally:
        stop.set()
        clock.join()
    db.session.expire_all()
    runs = list(db.session.query(Run).filter(Run.id >= started.get_json()["id"]).order_by(Run.id))
    assert [(r.catalogue_key, r.status) for r in runs] == [
        (key, RunStatus.SUCCESSFUL) for key in ("switch_ip", "sendcap", "domain")
    ], [(r.catalogue_key, r.status, r.failure_reason) for r in runs]
    new = db.session.get(Server, server.server_id).public_ipv4
    assert new and new != old

    # The host answers mail on its new address.
    with smtplib.SMTP(new, 25, timeout=30) as smtp:
        code, banner = smtp.ehlo("journey.example.test")
    assert code == 250 and server.mail_host in banner.decode(), banner

    # A and PTR agree on every authoritative server.
    ptr = dns.reversename.from_address(new).to_text()
    assert agreed(testbed, server.mail_host, "A", new) == dict.fromkeys(
        (testbed.dns.primary, testbed.dns.secondary), {new}
    )
    assert agreed(testbed, ptr, "PTR", server.mail_host) == dict.fromkeys(
        (testbed.dns.primary, testbed.dns.secondary), {server.mail_host}
    )

    # The warm-up starts again for the cold address, and the server's policy service counts it.
    after = api.get(f"{path}/warmup", headers=headers).get_json()
    assert (after["sending_ip"], after["day"]) == (new, 1), after
    assert after["daily_cap"] == curve("standard")[0].daily
    caps = json.loads(server.host.ssh("cat /mailu/sendcap/caps.json").stdout)
    assert caps["sending_ip"] == new

    # The history shows both addresses, and the run that moved the server.
    history = api.get(f"{path}/addresses", headers=headers).get_json()
    assert [(h["old_ip"], h["new_ip"], h["run_id"]) for h in history] == [(old, new, runs[0].id)]
