"""controller.yml onto a testbed host: converge once for the module (PostgreSQL, Redis, the app from
this checkout, gunicorn, the worker pools, the one scheduler, nginx with a Pebble certificate), then
the second run changes nothing, and from outside the host: HTTPS through nginx with a certificate
Pebble issued, a login over the proxy, a second scheduler refused, /readyz red when a worker
service stops, a failed login counted against the client's own address, Debian's Prometheus (on
this machine) scraping /metrics through the proxy with an administrator's token and loading the
shipped rules. Last, as it leaves the host on another release: an admin in Chromium orders a server
through the proxy; while its run is in progress (the Hostwinds double holds the build) a new commit
with a migration is deployed; the run finishes on the worker that began it, and the new release
serves on the migrated database. The controller's workers reach the Hostwinds double (the
provider's key put in with the secrets command), which boots the ordered server as a testbed host."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets as tokens
import shlex
import socket
import ssl
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode

import pytest
import urllib3
import yaml
from chromium import create_tenant, launch, login, order_server
from controlplane import free_port
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from roletest import REPO, reverse_tunnel, run_playbook, wheelhouse, write_inventory_groups

from mailfleet.hostwinds.contract import API_PATH
from mailfleet.secrets import HOSTWINDS_PATH
from mailfleet.secrets.generators import acme_account_key
from testbed.demo import allow_hostwinds_key
from testbed.site_file import dns_update_vars, pebble_vars

# Building the wheelhouse and a first converge take longer than the suite's 15-minute default.
pytestmark = [pytest.mark.testbed, pytest.mark.timeout(3600)]

NAME = "control.example.test"
ADMIN, PASSWORD = "admin@example.test", "correct horse battery staple"
WORKERS = {"mailfleet": 2, "mailfleet-system": 1, "mailfleet-reaper": 1}
APP_DIR = "/opt/mailfleet"  # the role's default controller_app_dir: a link to the current release
ENV = "set -a; . /etc/mailfleet/mailfleet.env; set +a"
TENANT = "ctlcorp"
SERVER = f"mf-{TENANT}-1"
MAIL_HOST = f"mail.{TENANT}.example.test"
RUN_WAIT_S = 600
# The doubles listen on this machine's loopback; the controller reaches the Hostwinds double through
# an SSH tunnel from this port of its own loopback (as it would reach the provider's API).
HOSTWINDS_PORT = 18081


class Controller(NamedTuple):
    host: object
    inventory: Path
    secrets: dict[str, str]
    issuing_root: Path
    work: Path


@pytest.fixture(scope="module")
def controller(testbed, start_hosts, tmp_path_factory):
    (host,) = start_hosts("ctl1")
    testbed.start_double("hostwinds")
    work = tmp_path_factory.mktemp("controller")
    info, acme = testbed.dns, testbed.acme
    group_vars = {
        "controller_server_name": NAME,
        "controller_wheelhouse": str(wheelhouse(host, work / "wheels")),
        # Fewer processes than the default on the small testbed host; each is its own unit.
        "controller_worker_pools": _pools(WORKERS),
        "controller_settings": {"HOSTWINDS_API_URL": f"http://127.0.0.1:{HOSTWINDS_PORT}{API_PATH}"},
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
    # The operator's secrets command puts the provider's key into the controller's store.
    key = tokens.token_hex(20)
    allow_hostwinds_key(testbed, key)
    host.ssh(f"mailfleet-flask secrets put {HOSTWINDS_PATH} api_key", stdin=key)
    tunnel = reverse_tunnel(host, HOSTWINDS_PORT, testbed.double_url("hostwinds").removeprefix("http://"))
    yield Controller(host, inventory, secrets, acme.issuing_root_path, work)
    tunnel.terminate()
    tunnel.wait(timeout=10)
    testbed.stop_host(SERVER)


def _pools(workers: dict[str, int]) -> list[dict[str, object]]:
    return [{"queue": q, "workers": n} for q, n in workers.items()]


def _https(controller) -> urllib3.HTTPSConnectionPool:
    return urllib3.HTTPSConnectionPool(
        controller.host.address,
        443,
        server_hostname=NAME,
        assert_hostname=NAME,
        ca_certs=str(controller.issuing_root),
        retries=False,
        timeout=10,
        headers={"Host": NAME},
    )


def _csrf_token(page) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.data.decode()).group(1)


def _csrf(page) -> tuple[str, str]:
    """The session cookie and the CSRF token of a form page."""
    return page.headers["Set-Cookie"].split(";")[0], _csrf_token(page)


def _post_form(pool, path: str, cookie: str, fields: dict[str, str], headers: dict[str, str] | None = None):
    return pool.request(
        "POST",
        path,
        body=urlencode(fields),
        headers={
            "Host": NAME,
            "Cookie": cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"https://{NAME}{path}",
            **(headers or {}),
        },
        redirect=False,
    )


def _login(pool) -> str:
    """Log in as the admin over HTTPS; returns the session cookie."""
    page = pool.request("GET", "/login")
    assert page.status == 200
    cookie, token = _csrf(page)
    login = _post_form(pool, "/login", cookie, {"email": ADMIN, "password": PASSWORD, "csrf_token": token})
    assert login.status == 302, login.data.decode()[:500]
    return login.headers["Set-Cookie"].split(";")[0]


def _psql(host, query: str) -> list[str]:
    """The rows of a query on the controller's database, one line each."""
    return host.ssh(f'runuser -u mailfleet -- psql -Atc "{query}" mailfleet').stdout.splitlines()


def _readyz(pool, want: int, within: float = 60.0) -> dict:
    deadline = time.monotonic() + within
    while True:
        response = pool.request("GET", "/readyz")
        if response.status == want or time.monotonic() > deadline:
            assert response.status == want, response.data.decode()
            return json.loads(response.data)
        time.sleep(1)


def test_second_run_changes_nothing(controller):
    run_playbook(
        "playbooks/controller.yml", controller.inventory, extra_vars=controller.secrets, timeout=900
    ).assert_idempotent()


def test_https_through_nginx_with_a_pebble_certificate_and_a_login(controller):
    host = controller.host
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
    session = _login(pool)
    dashboard = pool.request("GET", "/", headers={"Host": NAME, "Cookie": session}, redirect=False)
    assert dashboard.status == 200 and ADMIN in dashboard.data.decode()
    guide = pool.request("GET", "/help/", headers={"Host": NAME, "Cookie": session}, redirect=False)
    assert guide.status == 200 and "mailfleet guide" in guide.data.decode()


def test_a_failed_login_counts_against_the_real_client_address(controller):
    """nginx connects from loopback for everyone; the app counts the address nginx saw, not one the
    client claims (X-Forwarded-For sent by the client), so each client gets its own login limit."""
    host = controller.host
    pool = _https(controller)
    cookie, token = _csrf(pool.request("GET", "/login"))
    email = "nobody@example.test"
    failed = _post_form(
        pool, "/login", cookie, {"email": email, "password": "wrong password!", "csrf_token": token},
        headers={"X-Forwarded-For": "203.0.113.66"},
    )
    assert failed.status == 401
    this_machine = host.ssh("echo ${SSH_CLIENT%% *}").stdout.strip()
    assert _psql(host, f"select address from login_failures where email = '{email}'") == [this_machine]


def test_a_second_scheduler_refuses_to_start(controller):
    host = controller.host
    assert host.ssh("systemctl is-active mailfleet-cron").stdout.strip() == "active"
    second = host.ssh(f"{ENV}; runuser -u mailfleet -- /opt/mailfleet-venv/bin/mailfleet-cron", check=False)
    assert second.returncode == 1
    assert re.fullmatch(
        r"mailfleet-cron: another rq cron scheduler holds mailfleet:cron:lock \(\S+\); exactly one may run\n",
        second.stderr,
    ), second.stderr


def _worker_units(workers: dict[str, int]) -> list[str]:
    return [f"mailfleet-worker@{queue}:{n}" for queue, count in workers.items() for n in range(1, count + 1)]


def test_readyz_turns_red_when_the_worker_service_stops(controller):
    host = controller.host
    pool = _https(controller)
    assert _readyz(pool, 200)["status"] == "ready"
    units = " ".join(_worker_units({"mailfleet": WORKERS["mailfleet"]}))
    assert host.ssh(f"systemctl is-active {units}").stdout.split() == ["active"] * WORKERS["mailfleet"]
    host.ssh(f"systemctl stop {units}")
    try:
        checks = _readyz(pool, 503)["checks"]
        assert checks["workers"] == {"ok": False, "detail": "no live worker serves mailfleet"}
        assert checks["database"]["ok"] and checks["cron"]["ok"]
    finally:
        host.ssh(f"systemctl start {units}")
    _readyz(pool, 200)


def _api_token(pool) -> str:
    """An administrator's API token, issued on the account page over HTTPS (shown once)."""
    session = _login(pool)
    account = pool.request("GET", "/account", headers={"Host": NAME, "Cookie": session}, redirect=False)
    assert account.status == 200
    if fresh := account.headers.get("Set-Cookie"):
        session = fresh.split(";")[0]
    issued = _post_form(pool, "/account/token", session, {"csrf_token": _csrf_token(account)})
    assert issued.status == 200, issued.data.decode()[:500]
    return re.search(r'<code id="api-token">([^<]+)</code>', issued.data.decode()).group(1)


def _prometheus(base: str, path: str, **query: str):
    """The `data` of one answer of Prometheus's HTTP API."""
    url = f"{base}{path}?{urlencode(query)}" if query else f"{base}{path}"
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - Prometheus on loopback
        return json.load(answer)["data"]


def _value(base: str, query: str) -> str | None:
    """The value of an instant query that has one series (None while it has none)."""
    result = _prometheus(base, "/api/v1/query", query=query)["result"]
    return result[0]["value"][1] if result else None


def _rules(base: str) -> dict[str, dict]:
    """The loaded rules by name."""
    return {r["name"]: r for g in _prometheus(base, "/api/v1/rules")["groups"] for r in g["rules"]}


def _scraped_and_evaluated(base: str) -> bool:
    """The target is up, a mailfleet_ series is stored, and every shipped rule has been evaluated."""
    try:
        targets = _prometheus(base, "/api/v1/targets")["activeTargets"]
        rules = _rules(base).values()
        return (
            [t["health"] for t in targets] == ["up"]
            and _value(base, "mailfleet_cron_schedulers") is not None
            and bool(rules)
            and all(r["health"] == "ok" for r in rules)
        )
    except OSError:  # not listening yet
        return False


def test_prometheus_scrapes_metrics_through_the_proxy_and_loads_the_shipped_rules(controller, tmp_path):
    """Debian's Prometheus on this machine, configured as the README's scrape job says: HTTPS to
    the controller's nginx (Pebble's root as the CA), an administrator's token as the credentials
    file, the shipped rule file loaded."""
    pool = _https(controller)
    assert pool.request("GET", "/metrics").status == 401
    token = tmp_path / "mailfleet.token"
    token.write_text(_api_token(pool))
    token.chmod(0o600)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(REPO / "deploy/prometheus/mailfleet.rules.yml")],
        "scrape_configs": [
            {
                "job_name": "mailfleet",  # the name the rules expect
                "scheme": "https",
                "authorization": {"credentials_file": str(token)},
                "tls_config": {"ca_file": str(controller.issuing_root), "server_name": NAME},
                "static_configs": [{"targets": [f"{controller.host.address}:443"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "prometheus.log"
    with log.open("w") as output:
        prometheus = subprocess.Popen(
            ["/usr/bin/prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while not _scraped_and_evaluated(base):
            assert prometheus.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        assert _value(base, 'up{job="mailfleet"}') == "1"
        assert _value(base, "mailfleet_cron_schedulers") == "1"
        assert _value(base, "sum(mailfleet_workers)") == str(sum(WORKERS.values()))
        states = {name: rule["state"] for name, rule in _rules(base).items()}
        quiet = ("MailfleetDown", "MailfleetNoWorker", "MailfleetNoCron")
        assert {name: states[name] for name in quiet} == dict.fromkeys(quiet, "inactive")
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)


# The next release's migration (the test's commit on top of this checkout): a table of its own.
MIGRATION = '''"""the upgrade test's release: a table of its own

Revision ID: {revision}
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("upgrade_check", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("upgrade_check")
'''


def _next_release(work: Path) -> tuple[Path, str, str]:
    """A clone of this checkout with one commit more, whose migration adds a table: the clone, the
    commit and the migration's revision."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(REPO / "migrations")).get_current_head()
    clone = work / "next-release"
    subprocess.run(["git", "clone", "--quiet", "--shared", str(REPO), str(clone)], check=True, timeout=120)
    revision = tokens.token_hex(6)
    (clone / "migrations/versions" / f"{revision}_upgrade_check.py").write_text(
        MIGRATION.format(revision=revision, head=head)
    )
    git = ["git", "-C", str(clone), "-c", "user.name=mailfleet tests", "-c", "user.email=tests@example.test"]
    subprocess.run([*git, "add", "migrations"], check=True, timeout=60)
    subprocess.run([*git, "commit", "--quiet", "-m", "The next release: a migration"], check=True, timeout=60)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout
    return clone, commit.strip(), revision


def _hold_builds(testbed, hold: bool) -> None:
    """While held, the Hostwinds double keeps new instances in BUILD (a provisioning run waits)."""
    request = urllib.request.Request(  # noqa: S310 - the loopback double
        f"{testbed.double_url('hostwinds')}/_double/builds",
        method="POST",
        data=json.dumps({"hold": hold}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


def _pinned_key(controller) -> str:
    """The served certificate's public key (base64 SHA-256 of its SPKI), once the certificate is
    verified against Pebble's root for NAME: Chromium accepts that key alone."""
    context = ssl.create_default_context(cafile=str(controller.issuing_root))
    with (
        socket.create_connection((controller.host.address, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=NAME) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    spki = x509.load_der_x509_certificate(der).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _stopping_worker(host) -> str | None:
    """The worker unit of the runs' queue that is stopping (waiting for its run to finish), if any."""
    units = _worker_units({"mailfleet": WORKERS["mailfleet"]})
    states = host.ssh(f"systemctl show -p ActiveState --value {' '.join(units)}").stdout.split()
    return next((unit for unit, state in zip(units, states, strict=True) if state == "deactivating"), None)


def _working_directories(host) -> set[str]:
    """Where every mailfleet service's main process runs (its resolved working directory)."""
    units = ["mailfleet-web", *_worker_units(WORKERS), "mailfleet-cron"]
    pids = host.ssh(f"systemctl show -p MainPID --value {' '.join(units)}").stdout.split()
    assert "0" not in pids, dict(zip(units, pids, strict=True))
    return set(host.ssh(" ; ".join(f"readlink /proc/{pid}/cwd" for pid in pids)).stdout.split())


def _finished_status(page, url: str) -> str:
    """The run page's status once the run finished (the live view reloaded: the web restarted)."""
    page.goto(url)
    page.wait_for_selector(
        "#run-status .badge.s-successful, #run-status .badge.s-failed, #run-status .badge.s-canceled",
        timeout=RUN_WAIT_S * 1000,
    )
    return page.inner_text("#run-status")


def test_a_server_ordered_in_chromium_is_provisioned_across_an_upgrade(controller, testbed):
    """Last in the module (it leaves the host on the next release). An admin in Chromium, through
    nginx (the name mapped to the host, the Pebble certificate's key accepted), orders a server.
    Its run waits on the build (held by the double) while a new commit with a migration is
    deployed: the worker running it stops only after it, the run finishes successfully, once, and
    every service runs the new release on the migrated database; the previous release stays."""
    from playwright.sync_api import sync_playwright

    host, base = controller.host, f"https://{NAME}"
    clone, commit, revision = _next_release(controller.work)
    previous = host.ssh(f"readlink -f {APP_DIR}").stdout.strip()
    _hold_builds(testbed, True)
    try:
        with sync_playwright() as playwright:
            browser = launch(
                playwright,
                f"--host-resolver-rules=MAP {NAME} {host.address}",
                f"--ignore-certificate-errors-spki-list={_pinned_key(controller)}",
            )
            page = login(browser, base, ADMIN, PASSWORD)
            create_tenant(page, base, TENANT, "Control Corp")
            run_url = order_server(page, base, TENANT, MAIL_HOST)
            run_id = int(run_url.rsplit("/", 1)[1])
            page.wait_for_selector("#run-status .badge.s-running", timeout=RUN_WAIT_S * 1000)

            with ThreadPoolExecutor(max_workers=1) as deploying:
                upgrade = deploying.submit(
                    run_playbook, "playbooks/controller.yml", controller.inventory,
                    extra_vars={**controller.secrets, "controller_source_dir": str(clone)}, timeout=1800,
                )
                try:
                    deadline = time.monotonic() + RUN_WAIT_S
                    while (stopping := _stopping_worker(host)) is None and not upgrade.done():
                        assert time.monotonic() < deadline, "no worker began to stop within the deploy"
                        time.sleep(1)
                    # The new release is linked and migrated; a worker waits on the run in progress.
                    assert stopping, upgrade.result().stdout[-3000:]
                    assert _psql(host, f"select status from runs where id = {run_id}") == ["RUNNING"]
                finally:
                    _hold_builds(testbed, False)  # before the deploy is waited for: it waits on the run
                upgrade.result().assert_ok()
            # The services restarted: the web app answers again (and a worker serves each queue).
            _readyz(_https(controller), 200)

            assert _finished_status(page, run_url) == "successful", page.inner_text("#log")[-3000:]
            assert "PLAY RECAP" in page.inner_text("#log")
            page.goto(f"{base}/tenants/{TENANT}")
            row = page.locator("#servers tbody tr", has_text=SERVER)
            assert "active" in row.inner_text(), row.inner_text()
            browser.close()
    finally:
        _hold_builds(testbed, False)

    release = f"{APP_DIR}-releases/{commit}"
    assert host.ssh(f"readlink -f {APP_DIR}").stdout.strip() == release != previous
    assert host.ssh(f"test -d {previous}", check=False).returncode == 0
    assert _working_directories(host) == {release}
    assert _psql(host, "select version_num from alembic_version") == [revision]
    assert _psql(host, "select count(*) from upgrade_check") == ["0"]
    provisions = f"select r.status from runs r join tenants t on t.id = r.tenant_id where t.slug = '{TENANT}'"
    assert _psql(host, f"{provisions} and r.catalogue_key = 'provision'") == ["SUCCESSFUL"]
