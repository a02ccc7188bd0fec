"""Fixtures for the control plane's unit tests: a fresh database per test, fakeredis, a real
local secrets store in tmp_path, and users of two tenants."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from controlplane import forget_deployment
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from webapp.extensions import db
from webapp.models import Role, Server, ServerStatus, Tenant, User
from webapp.services import accounts, tenants
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD as PASSWORD
from webapp.testing import login, make_app


@dataclass
class World:
    admin: User
    acme: Tenant
    globex: Tenant
    alice: User  # member of acme
    bob: User  # member of globex


@pytest.fixture
def app(tmp_path, monkeypatch) -> Iterator[Flask]:
    """The app built from its test configuration alone, never from the deployment's environment."""
    forget_deployment(monkeypatch)
    app = make_app(tmp_path)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()  # speaks https (webapp.testing.HttpsClient): cookies are Secure


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def world(app: Flask) -> World:
    admin = accounts.create_user("admin@example.com", PASSWORD, Role.ADMIN, None)
    scope = Scope(admin)
    acme = tenants.create_tenant(scope, "acme", "Acme Corp")
    globex = tenants.create_tenant(scope, "globex", "Globex")
    alice = accounts.add_member(scope, acme, "alice@acme.example", PASSWORD)
    bob = accounts.add_member(scope, globex, "bob@globex.example", PASSWORD)
    return World(admin, acme, globex, alice, bob)


@pytest.fixture
def add_server(app: Flask) -> Callable[..., Server]:
    """``add_server(tenant, name, public_ipv4, **fields)``: an ACTIVE server of the tenant, flushed
    (it has its id; the test commits)."""

    def add(tenant: Tenant, name: str, public_ipv4: str, **fields: Any) -> Server:
        server = Server(
            tenant_id=tenant.id, name=name, public_ipv4=public_ipv4, status=ServerStatus.ACTIVE, **fields
        )
        db.session.add(server)
        db.session.flush()
        return server

    return add


@pytest.fixture
def as_admin(client: FlaskClient, world: World) -> FlaskClient:
    assert login(client, world.admin.email, PASSWORD).status_code == 302
    return client


@pytest.fixture
def hostwinds(app: Flask) -> Iterator[object]:
    """The Hostwinds API double, served on loopback, as the app's Hostwinds client."""
    from mailfleet.hostwinds import HostwindsClient
    from testbed.doubles import hostwinds as hostwinds_double
    from webapp.testing import ServedApp

    state = hostwinds_double.HostwindsState()
    served = ServedApp(hostwinds_double.create_app(state))
    app.config["HOSTWINDS_CLIENT"] = HostwindsClient(
        hostwinds_double.DEFAULT_KEY, f"{served.url}/cloud/api.php", attempts=1
    )
    yield state
    served.stop()


@pytest.fixture
def mailu(app: Flask, world: World, add_server: Callable[..., Server]) -> Iterator[tuple[object, object]]:
    """The Mailu double serving acme's server mf-acme-1 and its domain acme-mail.example, which
    the DNS doctor found ready."""
    from mailfleet.secrets import tenant_path
    from testbed.doubles import mailu as mailu_double
    from webapp.integrations import secret_store
    from webapp.models import Domain
    from webapp.testing import ServedApp

    state = mailu_double.MailuDoubleState()
    served = ServedApp(mailu_double.create_app(state))
    app.config["MAILFLEET_MAILU_URL"] = served.url + "/{host}/api/v1"
    token = secret_store().get_field(tenant_path("acme", "mailu"), "api_token")
    mail_server = state.register("mf-acme-1", {"api_token": token, "domain": "acme-mail.example"})
    mail_server.new_domain("acme-mail.example")
    server = add_server(world.acme, "mf-acme-1", "198.18.17.10")
    domain = Domain(
        tenant_id=world.acme.id, server_id=server.id, name="acme-mail.example", dns_status="ready"
    )
    db.session.add(domain)
    db.session.commit()
    yield mail_server, domain
    served.stop()
