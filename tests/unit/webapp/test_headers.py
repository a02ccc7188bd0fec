"""Every page the app serves carries the security headers, whoever asks and whatever the answer."""

from __future__ import annotations

import pytest

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import RunStatus, Server, ServerStatus
from webapp.services import accounts, runs
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD as PASSWORD
from webapp.testing import login

pytestmark = pytest.mark.unit

EXPECTED = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
CSP_DIRECTIVES = ("default-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'")


def _get_urls(app, values: dict[str, object]) -> list[str]:
    with app.test_request_context():
        from flask import url_for

        return sorted(
            url_for(rule.endpoint, **{name: values.get(name, 1) for name in rule.arguments})
            for rule in app.url_map.iter_rules()
            if "GET" in rule.methods
        )


def _assert_headers(response, url: str) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (url, name)
    policy = [part.strip() for part in response.headers["Content-Security-Policy"].split(";")]
    assert set(CSP_DIRECTIVES) <= set(policy), url


def test_every_get_route_sends_the_security_headers(app, client, world):
    server = Server(
        tenant_id=world.acme.id, name="mf-acme-1", public_ipv4="198.18.17.10", status=ServerStatus.ACTIVE
    )
    db.session.add(server)
    run = runs.submit_run(Scope(world.admin), world.acme, "site")
    run.status, run.rc, run.finished_at = RunStatus.SUCCESSFUL, 0, utcnow()
    db.session.commit()
    values = {
        "run_id": run.id,
        "server_id": server.id,
        "alert_id": 1,
        "slug": world.acme.slug,
        "check": "disk",
        "filename": "style.css",
        "key": "backup",
    }  # any other argument is 1: a 404 page has the headers too
    urls = _get_urls(app, values)
    assert len(urls) > 20
    bearer = {"Authorization": f"Bearer {accounts.issue_api_token(world.admin)}"}
    for url in urls:  # logged out: the login redirect, 401s, the login page, static files
        with client.get(url) as response:
            _assert_headers(response, url)
    login(client, world.admin.email, PASSWORD)
    for url in urls:
        with client.get(url, headers=bearer if url.startswith("/api/") else {}) as response:
            # /readyz answers 503 while no worker or scheduler runs (none does here).
            assert response.status_code < 500 or (url, response.status_code) == ("/readyz", 503), url
            _assert_headers(response, url)
