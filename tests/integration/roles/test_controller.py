"""controller.yml onto a testbed host: converge once for the module (PostgreSQL, Redis, the app from
this checkout, gunicorn, the worker pools, the one scheduler, nginx with a Pebble certificate), then
the second run changes nothing, and from outside the host: HTTPS through nginx with a certificate
Pebble issued, a login over the proxy, a second scheduler refused, /readyz red when a worker
service stops."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import urllib3
from roletest import REPO, run_playbook, write_inventory_groups

from mailfleet.secrets.generators import acme_account_key
from testbed.site_file import dns_update_vars, pebble_vars

# Building the wheelhouse and a first converge take longer than the suite's 15-minute default.
pytestmark = [pytest.mark.testbed, pytest.mark.timeout(3600)]

NAME = "control.example.test"
ADMIN, PASSWORD = "admin@example.test", "correct horse battery staple"
WORKERS = {"mailfleet": 2, "mailfleet-system": 1, "mailfleet-reaper": 1}
ENV = "set -a; . /etc/mailfleet/mailfleet.env; set +a"


def _wheelhouse(host, directory: Path) -> Path:
    """Every dependency as a wheel for the host's Python, from this machine's package index (the
    hosts have none): scripts/wheelhouse.py, as an operator builds it."""
    version = host.ssh("python3 -c 'import platform; print(platform.python_version())'").stdout.strip()
    subprocess.run(
        [sys.executable, str(REPO / "scripts/wheelhouse.py"), str(directory), "--python-version", version],
        check=True,
        timeout=900,
    )
    return directory


@pytest.fixture(scope="module")
def controller(testbed, start_hosts, tmp_path_factory):
    (host,) = start_hosts("ctl1")
    work = tmp_path_factory.mktemp("controller")
    info, acme = testbed.dns, testbed.acme
    group_vars = {
        "controller_server_name": NAME,
        "controller_wheelhouse": str(_wheelhouse(host, work / "wheels")),
        # Fewer processes than the default on the small testbed host; each is its own unit.
        "controller_worker_pools": [{"queue": q, "workers": n} for q, n in WORKERS.items()],
        **dns_update_vars(testbed),
        **pebble_vars(testbed),
    }
    inventory = write_inventory_groups(work, {"controllers": ([host], group_vars)})
    secrets = {
        "dns_rfc2136_key_secret": info.tsig_secret,
        "letsencrypt_account_key_content": acme_account_key()["private_key"],
    }
    first = run_playbook("playbooks/controller.yml", inventory, extra_vars=secrets, timeout=3000)
    first.assert_ok()
    host.ssh(
        f"MAILFLEET_ADMIN_PASSWORD={shlex.quote(PASSWORD)} mailfleet-flask create-admin --email {ADMIN}"
    )
    return host, inventory, secrets, acme.issuing_root_path


def _https(controller) -> urllib3.HTTPSConnectionPool:
    host, _, _, issuing_root = controller
    return urllib3.HTTPSConnectionPool(
        host.address,
        443,
        server_hostname=NAME,
        assert_hostname=NAME,
        ca_certs=str(issuing_root),
        retries=False,
        timeout=10,
        headers={"Host": NAME},
    )


def _readyz(pool, want: int, within: float = 60.0) -> dict:
    deadline = time.monotonic() + within
    while True:
        response = pool.request("GET", "/readyz")
        if response.status == want or time.monotonic() > deadline:
            assert response.status == want, response.data.decode()
            return json.loads(response.data)
        time.sleep(1)


def test_second_run_changes_nothing(controller):
    _, inventory, secrets, _ = controller
    run_playbook("playbooks/controller.yml", inventory, extra_vars=secrets, timeout=900).assert_idempotent()


def test_https_through_nginx_with_a_pebble_certificate_and_a_login(controller):
    host = controller[0]
    pool = _https(controller)
    plain = urllib3.PoolManager(retries=False).request(
        "GET", f"http://{host.address}/login", headers={"Host": NAME}
    )
    assert plain.status == 301 and plain.headers["Location"] == f"https://{NAME}/login"

    page = pool.request("GET", "/login")
    assert page.status == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "nginx/" not in page.headers.get("Server", "")
    cookie = page.headers["Set-Cookie"].split(";")[0]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.data.decode()).group(1)
    login = pool.request(
        "POST",
        "/login",
        body=urlencode({"email": ADMIN, "password": PASSWORD, "csrf_token": token}),
        headers={
            "Host": NAME,
            "Cookie": cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"https://{NAME}/login",
        },
        redirect=False,
    )
    assert login.status == 302, login.data.decode()[:500]
    session = login.headers["Set-Cookie"].split(";")[0]
    dashboard = pool.request("GET", "/", headers={"Host": NAME, "Cookie": session}, redirect=False)
    assert dashboard.status == 200 and ADMIN in dashboard.data.decode()
    guide = pool.request("GET", "/help/", headers={"Host": NAME, "Cookie": session}, redirect=False)
    assert guide.status == 200 and "mailfleet guide" in guide.data.decode()


def test_a_second_scheduler_refuses_to_start(controller):
    host = controller[0]
    assert host.ssh("systemctl is-active mailfleet-cron").stdout.strip() == "active"
    second = host.ssh(f"{ENV}; runuser -u mailfleet -- /opt/mailfleet-venv/bin/mailfleet-cron", check=False)
    assert second.returncode == 1
    assert re.fullmatch(
        r"mailfleet-cron: another rq cron scheduler holds mailfleet:cron:lock \(\S+\); exactly one may run\n",
        second.stderr,
    ), second.stderr


def test_readyz_turns_red_when_the_worker_service_stops(controller):
    host = controller[0]
    pool = _https(controller)
    assert _readyz(pool, 200)["status"] == "ready"
    units = " ".join(f"mailfleet-worker@mailfleet:{n}" for n in range(1, WORKERS["mailfleet"] + 1))
    assert host.ssh(f"systemctl is-active {units}").stdout.split() == ["active"] * WORKERS["mailfleet"]
    host.ssh(f"systemctl stop {units}")
    try:
        checks = _readyz(pool, 503)["checks"]
        assert checks["workers"] == {"ok": False, "detail": "no live worker serves mailfleet"}
        assert checks["database"]["ok"] and checks["cron"]["ok"]
    finally:
        host.ssh(f"systemctl start {units}")
    _readyz(pool, 200)
