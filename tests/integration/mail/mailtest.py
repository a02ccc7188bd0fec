"""Helpers of the mail tests: a tenant's server made through the control plane's job path, the
"create mailboxes" action, and IMAP/SMTP clients that check the Pebble certificate for the mail
host name while connecting to the host's address."""

from __future__ import annotations

import imaplib
import secrets
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import select

from jobs.app import use_app
from mailfleet.secrets import get_store
from testbed.demo import seed_hostwinds_key
from testbed.hosts import Host
from testbed.sitevars import write_site_vars
from testbed.stack import Stack, write_monitoring_config

LOGIN_WAIT = 30.0  # seconds a new mailbox gets to become usable before a test gives up


@dataclass
class MailServer:
    tenant: Any
    zone: str
    mail_host: str
    host: Host
    server_id: int
    domain_id: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def work(app: Any) -> None:
    """Run every queued job as the worker pool does."""
    from webapp.extensions import db
    from webapp.queue import get_queue

    queue = get_queue(app)
    SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
    db.session.expire_all()


@contextmanager
def control_plane(testbed: Any, data_dir: Path) -> Iterator[dict[str, Any]]:
    """The control plane's app on a fresh database in `data_dir`, with the testbed's site settings,
    the Hostwinds and Mailu doubles up and the environment its jobs read (undone afterwards)."""
    import fakeredis

    from webapp.testing import make_app

    for name in ("hostwinds", "mailu"):
        testbed.start_double(name)
    stack = Stack(testbed, data_dir / "stack", free_port())
    stack.data_dir.mkdir(mode=0o700)
    env = {
        **{k: v for k, v in stack.env().items() if k not in ("PATH", "PORT")},
        "HOME": str(stack.data_dir / "home"),
        "MAILFLEET_MONITORING_RESOLVER": testbed.dns.resolver,
    }
    write_monitoring_config(testbed, Path(env["MAILFLEET_MONITORING_CONFIG_FILE"]))
    patcher = pytest.MonkeyPatch()
    for key, value in env.items():
        patcher.setenv(key, value)
    store = get_store(env)
    seed_hostwinds_key(testbed, stack)
    write_site_vars(testbed, Path(env["MAILFLEET_SITE_VARS_FILE"]), store)
    app = make_app(
        stack.data_dir,
        SECRET_STORE=store,
        REDIS_CONNECTION=fakeredis.FakeRedis(),
        MAILFLEET_DATA_DIR=stack.data_dir,
        MAILFLEET_RUN_TIMEOUT=900,
        MAILFLEET_JOB_TIMEOUT=1020,
        MAILFLEET_LEASE_SECONDS=60,
    )
    use_app(app)
    try:
        with app.app_context():
            yield {"app": app, "store": store, "stack": stack}
    finally:
        use_app(None)
        patcher.undo()


def provision(testbed, app: Any, label: str) -> MailServer:
    """A tenant, its server (provision.yml) and its first domain (site.yml), all as a user does."""
    from webapp.extensions import db
    from webapp.models import Role, RunStatus, Server, User
    from webapp.services import accounts, fleet, tenants
    from webapp.services.scope import Scope

    admin = db.session.execute(select(User).where(User.role == Role.ADMIN)).scalars().first()
    admin = admin or accounts.create_user("admin@mail.test", "a long admin password", Role.ADMIN, None)
    scope = Scope(admin)
    tag = secrets.token_hex(2)
    slug, zone = f"{label}{tag}", f"{label}{tag}.test"
    testbed.add_zone(zone)
    tenant = tenants.create_tenant(scope, slug, f"Mail tenant {label}")
    run = fleet.provision_server(scope, tenant, "Seattle", "101", f"mail.{zone}")
    work(app)
    assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
    server = db.session.execute(select(Server).where(Server.name == f"mf-{slug}-1")).scalar_one()
    site = fleet.add_domain(scope, tenant, server.id, zone)
    work(app)
    assert site.status == RunStatus.SUCCESSFUL, (site.failure_reason, site.recap)
    domain = next(d for d in server.domains if d.name == zone)
    return MailServer(tenant, zone, f"mail.{zone}", testbed.host(server.name), server.id, domain.id)


def scope_of_admin() -> Any:
    from webapp.extensions import db
    from webapp.models import Role, User
    from webapp.services.scope import Scope

    return Scope(db.session.execute(select(User).where(User.role == Role.ADMIN)).scalars().first())


def create_mailboxes(server: MailServer, *local_parts: str) -> dict[str, str]:
    """The "create mailboxes" action of the tenant's page: email -> the password shown once. The
    admin creates them whatever the DNS doctor says (its override): these tests are about mail
    flow, and the testbed gives the hosts no reverse DNS."""
    from webapp.services import mailboxes

    batch = mailboxes.create_mailboxes(
        scope_of_admin(), server.tenant, server.domain_id, list(local_parts), dns_override=True
    )
    assert batch.error is None and not batch.failed, (batch.error, batch.failed)
    return batch.passwords


def tls_context(testbed) -> ssl.SSLContext:
    """Trusts only the root Pebble issues certificates under, and checks the host name."""
    return ssl.create_default_context(cafile=str(testbed.acme.issuing_root_path))


class Imap(imaplib.IMAP4_SSL):
    """IMAP over TLS to an address, verifying the certificate for the mail host name."""

    def __init__(self, address: str, name: str, context: ssl.SSLContext, port: int = 993) -> None:
        self._name = name
        super().__init__(address, port, ssl_context=context, timeout=15)

    def _create_socket(self, timeout: float | None) -> ssl.SSLSocket:
        sock = socket.create_connection((self.host, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self._name)


class Smtps(smtplib.SMTP_SSL):
    """SMTP submission over TLS (465) to an address, verifying the certificate for the host name."""

    def __init__(self, address: str, name: str, context: ssl.SSLContext) -> None:
        self._address = address
        super().__init__(name, 465, context=context, timeout=30)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return super()._get_socket(self._address, port, timeout)


def imap_login(server: MailServer, context: ssl.SSLContext, email: str, password: str) -> bool:
    """One IMAP login over 993: True when accepted, False when refused."""
    with Imap(server.host.address, server.mail_host, context) as imap:
        try:
            imap.login(email, password)
        except imaplib.IMAP4.error:
            return False
        imap.logout()
        return True


def wait_for_login(server: MailServer, context: ssl.SSLContext, email: str, password: str,
                   timeout: float = LOGIN_WAIT) -> float:
    """Seconds until the first accepted IMAP login; fails the test after `timeout`."""
    started = time.monotonic()
    while True:
        try:
            if imap_login(server, context, email, password):
                return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            pytest.fail(f"{email} could not log in by IMAP within {timeout:.0f} s")
        time.sleep(0.2)
