"""The JSON API: the same actions as the pages, authenticated by a per-user Bearer token only.

No session cookie is accepted here, so cross-site requests cannot use a browser's login (which is
why this blueprint needs no CSRF token). ``Idempotency-Key`` plays the role of the forms'
submission key.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, jsonify, request
from werkzeug.wrappers import Response

from webapp import playbooks
from webapp.errors import InvalidInput
from webapp.extensions import csrf
from webapp.models import Domain, Mailbox, RunEvent, Server, Tenant
from webapp.services import accounts, actions, dnsdoctor, fleet, mailboxes, runs, tenants
from webapp.services.scope import Scope
from webapp.views.run_json import event_json, run_json
from webapp.views.runs import filters_from_args

bp = Blueprint("api", __name__)
csrf.exempt(bp)


@bp.before_request
def authenticate() -> Response | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = accounts.user_for_api_token(token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        response = jsonify(error="a valid API token is required (Authorization: Bearer <token>)")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    g.scope = Scope(user)
    return None


def scope() -> Scope:
    return g.scope


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("send a JSON object (Content-Type: application/json)")
    return data


def text(data: dict[str, Any], key: str, *, required: bool = True, max_length: int = 255) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidInput(f"{key!r} must be a non-empty string of at most {max_length} characters")
    return value


def idempotency_key() -> str | None:
    return request.headers.get("Idempotency-Key") or None


def tenant_json(t: Tenant) -> dict:
    return {"slug": t.slug, "name": t.name, "created_at": t.created_at.isoformat()}


def server_json(s: Server) -> dict:
    return {
        "id": s.id,
        "name": s.name,
        "tenant": s.tenant.slug if s.tenant else None,
        "provider_id": s.provider_id,
        "public_ipv4": s.public_ipv4,
        "public_ipv6": s.public_ipv6,
        "location": s.location,
        "plan": s.plan,
        "monthly_price": str(s.monthly_price) if s.monthly_price is not None else None,
        "status": str(s.status),
    }


def domain_json(d: Domain) -> dict:
    return {
        "id": d.id,
        "name": d.name,
        "server": d.server.name,
        "tenant": d.tenant.slug,
        "status": str(d.status),
        "status_reason": d.status_reason,
        "dns_status": d.dns_status,
    }


def mailbox_json(m: Mailbox) -> dict:
    return {
        "id": m.id,
        "email": m.email,
        "quota_bytes": m.quota_bytes,
        "created_at": m.created_at.isoformat(),
    }


@bp.get("/tenants")
def list_tenants() -> Response:
    return jsonify([tenant_json(row["tenant"]) for row in tenants.list_tenants(scope())])


@bp.post("/tenants")
def create_tenant() -> tuple[Response, int]:
    data = body()
    tenant = tenants.create_tenant(
        scope(), text(data, "slug", max_length=32), text(data, "name", max_length=120)
    )
    return jsonify(tenant_json(tenant)), 201


@bp.post("/tenants/<slug>/members")
def add_member(slug: str) -> tuple[Response, int]:
    data = body()
    user = accounts.add_member(
        scope(),
        scope().tenant(slug),
        text(data, "email", max_length=254),
        text(data, "password", max_length=256),
    )
    return jsonify({"email": user.email, "tenant": slug, "role": str(user.role)}), 201


@bp.get("/tenants/<slug>/servers")
def list_servers(slug: str) -> Response:
    return jsonify([server_json(s) for s in fleet.list_servers(scope(), scope().tenant(slug))])


@bp.post("/tenants/<slug>/servers")
def provision(slug: str) -> tuple[Response, int]:
    data = body()
    run = fleet.provision_server(
        scope(),
        scope().tenant(slug),
        text(data, "location", max_length=64),
        text(data, "plan", max_length=64),
        text(data, "mail_hostname", max_length=253),
        idempotency_key(),
    )
    return jsonify(run_json(run)), 202


@bp.get("/tenants/<slug>/domains")
def list_domains(slug: str) -> Response:
    return jsonify([domain_json(d) for d in fleet.list_domains(scope(), scope().tenant(slug))])


@bp.post("/tenants/<slug>/domains")
def add_domain(slug: str) -> tuple[Response, int]:
    data = body()
    server_id = data.get("server_id")
    if not isinstance(server_id, int) or isinstance(server_id, bool):
        raise InvalidInput("'server_id' must be a number")
    run = fleet.add_domain(
        scope(), scope().tenant(slug), server_id, text(data, "name", max_length=253), idempotency_key()
    )
    return jsonify(run_json(run)), 202


@bp.get("/tenants/<slug>/domains/<int:domain_id>/dns")
def domain_dns(slug: str, domain_id: int) -> Response:
    """The DNS doctor's last report on the domain (findings, propagation), and its readiness."""
    domain = dnsdoctor.tenant_domain(scope(), scope().tenant(slug), domain_id)
    checked = domain.dns_checked_at
    return jsonify({**domain_json(domain), "checked_at": checked.isoformat() if checked else None,
                    "propagation_seconds": domain.dns_propagation_seconds,
                    "mailboxes_refused": dnsdoctor.readiness_refusal(domain), "report": domain.dns_report})


@bp.post("/tenants/<slug>/domains/<int:domain_id>/dns/check")
def check_domain_dns(slug: str, domain_id: int) -> tuple[Response, int]:
    domain = dnsdoctor.request_check(scope(), scope().tenant(slug), domain_id)
    return jsonify({"queued": True, "domain": domain.name}), 202


@bp.get("/tenants/<slug>/mailboxes")
def list_mailboxes(slug: str) -> Response:
    return jsonify([mailbox_json(m) for m in mailboxes.list_mailboxes(scope(), scope().tenant(slug))])


@bp.post("/tenants/<slug>/mailboxes")
def create_mailboxes(slug: str) -> tuple[Response, int]:
    data = body()
    tenant = scope().tenant(slug)
    names = data.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) and len(n) <= 64 for n in names):
        raise InvalidInput("'names' must be a list of mailbox names (the part before the @)")
    domain_name = text(data, "domain", max_length=253)
    domain = next((d for d in fleet.list_domains(scope(), tenant) if d.name == domain_name), None)
    if domain is None:
        raise InvalidInput(f"{domain_name!r} is not one of this tenant's domains")
    quota = data.get("quota_bytes")
    if quota is not None and (not isinstance(quota, int) or isinstance(quota, bool)):
        raise InvalidInput("'quota_bytes' must be a number")
    batch = mailboxes.create_mailboxes(scope(), tenant, domain.id, names, quota)
    response = jsonify(
        {
            "created": [{"email": e, "password": batch.passwords.get(e)} for e in batch.created],
            "failed": batch.failed,
            "skipped": batch.skipped,
            "error": batch.error,
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response, (201 if batch.created and not batch.failed and not batch.error else 207)


@bp.get("/runs")
def list_runs() -> Response:
    return jsonify([run_json(r) for r in runs.list_runs(scope(), filters_from_args())])


@bp.post("/tenants/<slug>/runs")
def submit_run(slug: str) -> tuple[Response, int]:
    data = body()
    key = text(data, "playbook", max_length=64)
    playbook = playbooks.by_key(key)
    if playbook is None or not playbook.direct:
        raise InvalidInput(f"{key!r} cannot be run directly; use the servers, domains or actions endpoints")
    run = runs.submit_run(
        scope(),
        scope().tenant(slug),
        key,
        limit=text(data, "limit", required=False),
        submission_key=idempotency_key(),
    )
    return jsonify(run_json(run)), 202


def optional_id(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise InvalidInput(f"{key!r} must be a number")
    return value


@bp.post("/tenants/<slug>/actions/<key>")
def start_action(slug: str, key: str) -> tuple[Response, int]:
    """Back up now, restore, rotate keys: ``server_id`` for backup and restore; a restore also takes
    ``before`` ('YYYY-MM-DD HH:MM:SS' UTC, empty or absent for the latest) and ``source_server_id``."""
    data = body()
    run = actions.start_action(
        scope(),
        scope().tenant(slug),
        key,
        server_id=optional_id(data, "server_id"),
        restore_before=text(data, "before", required=False, max_length=32) if data.get("before") else None,
        source_server_id=optional_id(data, "source_server_id"),
        submission_key=idempotency_key(),
    )
    return jsonify(run_json(run)), 202


@bp.get("/runs/<int:run_id>")
def get_run(run_id: int) -> Response:
    return jsonify(run_json(runs.get_run(scope(), run_id)))


@bp.get("/runs/<int:run_id>/events")
def run_events(run_id: int) -> Response:
    try:
        after = int(request.args.get("after", 0))
    except ValueError:
        abort(400)
    events: list[RunEvent] = runs.events_after(scope(), run_id, after)
    return jsonify([event_json(e) for e in events])


@bp.post("/runs/<int:run_id>/cancel")
def cancel_run(run_id: int) -> Response:
    return jsonify(run_json(runs.cancel_run(scope(), run_id)))


@bp.post("/runs/<int:run_id>/retry")
def retry_run(run_id: int) -> tuple[Response, int]:
    return jsonify(run_json(runs.retry_run(scope(), run_id, idempotency_key()))), 202
