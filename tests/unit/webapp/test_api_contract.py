"""The JSON API against its own OpenAPI document, with the app served for real (a WSGI server on
loopback, a SQLite database file, API tokens issued as users get them, the Hostwinds double).

schemathesis generates valid and invalid requests for every documented operation: no answer may be
a 500, nor a status, header or body the document does not list. Then every documented path, filled
with one tenant's objects, is asked with another tenant's token: nothing is found, nothing changes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Domain, HealthAlert, Mailbox, Role, Run, Server, ServerStatus, Tenant, User
from webapp.services import accounts, rollouts, runs, tenants
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD as PASSWORD
from webapp.testing import ServedApp, make_app

pytestmark = pytest.mark.unit

OPENAPI = "/api/v1/openapi.json"
EXAMPLES = 5  # per operation and mode (valid, invalid); derandomized: the same requests every run
# A request the schema accepts may still be refused by the service with 400, for what a schema
# cannot say: a domain or host name by the IDNA rules, a plan the provider does not sell, a
# confirmation that is not the object's name. Every other check keeps schemathesis' defaults.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429"]
            }
        }
    }
)


@dataclass
class Served:
    app: Flask
    url: str
    admin: dict[str, str]  # Authorization headers
    alice: dict[str, str]  # a member of acme
    bob: dict[str, str]  # a member of globex
    # acme's objects, by the path parameter that names them, and the name each is confirmed with
    acme: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)


def _acme_objects(admin: User) -> tuple[dict[str, Any], dict[str, str], User, User]:
    scope = Scope(admin)
    acme = tenants.create_tenant(scope, "acme", "Acme Corp")
    globex = tenants.create_tenant(scope, "globex", "Globex")
    alice = accounts.add_member(scope, acme, "alice@acme.example", PASSWORD)
    bob = accounts.add_member(scope, globex, "bob@globex.example", PASSWORD)
    server = Server(
        tenant_id=acme.id, name="mf-acme-1", public_ipv4="198.18.17.10", status=ServerStatus.ACTIVE
    )
    db.session.add(server)
    db.session.flush()
    domain = Domain(tenant_id=acme.id, server_id=server.id, name="acme-mail.example")
    db.session.add(domain)
    db.session.flush()
    mailbox = Mailbox(
        tenant_id=acme.id, domain_id=domain.id, local_part="info", email="info@acme-mail.example"
    )
    db.session.add(mailbox)
    db.session.add(
        HealthAlert(
            server_id=server.id, check="disk", severity="warning", state="open", opened_at=server.created_at
        )
    )
    db.session.commit()
    run = runs.submit_run(Scope(alice), acme, "site")
    rollout = rollouts.start_rollout(scope, "backup", "1", 0, ["acme"])
    alert = db.session.execute(select(HealthAlert)).scalar_one()
    objects = {
        "slug": acme.slug,
        "server_id": server.id,
        "domain_id": domain.id,
        "mailbox_id": mailbox.id,
        "user_id": alice.id,
        "run_id": run.id,
        "rollout_id": rollout.id,
        "alert_id": alert.id,
        "key": "backup",
    }
    names = {
        "slug": acme.slug,
        "server_id": server.name,
        "domain_id": domain.name,
        "mailbox_id": mailbox.email,
        "user_id": alice.email,
    }
    return objects, names, alice, bob


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from mailfleet.hostwinds import HostwindsClient
    from testbed.doubles import hostwinds as hostwinds_double

    with pytest.MonkeyPatch.context() as env:
        # Built from its test configuration alone, never from a deployment's environment.
        for name in list(os.environ):
            if (
                name.startswith("MAILFLEET_")
                and name != "MAILFLEET_TESTBED_INSTANCE"
                or name
                in (
                    "DATABASE_URL",
                    "REDIS_URL",
                    "HOSTWINDS_API_URL",
                    "HOSTWINDS_API_KEY",
                )
            ):
                env.delenv(name)
        hostwinds = ServedApp(hostwinds_double.create_app(hostwinds_double.HostwindsState()))
        app = make_app(
            tmp_path_factory.mktemp("api"),
            HOSTWINDS_CLIENT=HostwindsClient(
                hostwinds_double.DEFAULT_KEY, f"{hostwinds.url}/cloud/api.php", attempts=1
            ),
        )
        with app.app_context():
            admin = accounts.create_user("admin@example.com", PASSWORD, Role.ADMIN, None)
            objects, names, alice, bob = _acme_objects(admin)
            tokens = [accounts.issue_api_token(user) for user in (admin, alice, bob)]
        web = ServedApp(app)
        admin_h, alice_h, bob_h = ({"Authorization": f"Bearer {token}"} for token in tokens)
        yield Served(app, web.url, admin_h, alice_h, bob_h, objects, names)
        web.stop()
        hostwinds.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_no_generated_request_breaks_the_contract(served: Served) -> None:
    """Valid and invalid requests for every operation, a fixed number each, the same every run."""
    schema = schemathesis.openapi.from_url(served.url + OPENAPI, config=CONFIG)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 29
    for operation in operations:
        for mode in schemathesis.GenerationMode:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def call(case: Any) -> None:
                case.call_and_validate(headers=served.admin)

            call()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


def _body(served: Served, operation: dict[str, Any], path: str) -> dict[str, Any] | None:
    """A body that passes the operation's schema, so the request reaches the tenant check."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    acme = served.acme
    last = (re.findall(r"{(\w+)}", path) or [""])[-1]
    bodies = {
        "NewTenant": {"slug": "intruder", "name": "Intruder"},
        "TenantChange": {"home_region": "eu"},
        "NewMember": {"email": "mole@globex.example", "password": PASSWORD},
        "NewServer": {"location": "Seattle", "plan": "101", "mail_hostname": "mail.acme.example"},
        "NewDomain": {"server_id": acme["server_id"], "name": "taken.example"},
        "SecondaryMx": {"server_id": acme["server_id"]},
        "NewMailboxes": {"domain": "acme-mail.example", "names": ["mole"]},
        "NewRun": {"playbook": "site"},
        "NewRollout": {"playbook": "site", "share": "1", "failure_threshold": 0},
        "Action": {"server_id": acme["server_id"]},
        "NewDrill": {"server_id": acme["server_id"]},
        "NewRecovery": {
            "server_id": acme["server_id"],
            "location": "Seattle",
            "plan": "101",
            "confirm": True,
        },
        "Acknowledge": {"note": "not mine"},
        "Confirm": {"confirm": served.names.get(last, "")},
        "Resize": {"plan": "102", "confirm": served.names.get(last, "")},
        "SwitchIp": {"confirm": served.names.get(last, ""), "override_cooldown": True},
        "TenantMode": {"mode": "act"},
        "ServerMode": {"mode": "act"},
        "PolicyChange": {"cpu_p95_pct": 50},
    }
    name = content["schema"]["$ref"].rsplit("/", 1)[-1]
    return bodies[name]  # a new request schema needs its body here, so its isolation is tested too


def _counts(app: Flask) -> dict[str, int]:
    models = (Tenant, User, Server, Domain, Mailbox, Run, HealthAlert)
    with app.app_context():
        return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in models}


def test_another_tenants_token_finds_nothing_on_any_documented_path(served: Served) -> None:
    document = requests.get(served.url + OPENAPI, timeout=10).json()
    before = _counts(served.app)
    walked = 0
    for method, path, operation in _operations(document):
        url = served.url + re.sub(r"{(\w+)}", lambda m: str(served.acme[m.group(1)]), path)
        body = _body(served, operation, path)
        answer = requests.request(method, url, json=body, headers=served.bob, timeout=30)
        walked += 1
        where = f"{method.upper()} {path}"
        if "{" in path:
            assert answer.status_code == 404, f"{where}: {answer.status_code} {answer.text}"
        elif method == "get":  # the lists: nothing of acme's in them
            assert answer.status_code == 200 and "acme" not in answer.text, f"{where}: {answer.text}"
        else:
            assert answer.status_code == 403, f"{where}: {answer.status_code} {answer.text}"
        if answer.status_code >= 400:  # the one error shape
            assert answer.json()["status"] == answer.status_code and answer.json()["error"], where
    assert walked >= 29  # every operation of today, and those added later
    assert _counts(served.app) == before
    # and acme's own member still reads everything bob could not
    run_url = f"{served.url}/api/v1/runs/{served.acme['run_id']}"
    assert requests.get(run_url, headers=served.alice, timeout=10).json()["tenant"] == "acme"
