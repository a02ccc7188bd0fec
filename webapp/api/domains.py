"""A tenant's mail domains: list, add one (a run), remove one (a run), their DNS readiness."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from webapp.api.base import ConfirmSchema, errors, idempotency_key, object_id, resource, scope, submission
from webapp.api.schemas import DomainDnsSchema, DomainSchema, RunSchema
from webapp.models import DnsPropagation, Domain, Run
from webapp.services import dnsdoctor, fleet, lifecycle, secondary_mx, setup_times

blp = resource("domains", "A tenant's mail domains; adding and removing one start runs.")


class DnsCheckSchema(Schema):
    queued = fields.Boolean()
    domain = fields.String()


class PropagationSchema(Schema):
    run_id = fields.Integer(allow_none=True, metadata={"description": "the run that published the records"})
    published_at = fields.DateTime()
    ready_at = fields.DateTime(
        allow_none=True, metadata={"description": "none: not ready yet, or published again before it was"}
    )
    seconds = fields.Integer(allow_none=True, metadata={"description": "DNS propagation time"})


class SecondaryMxSchema(Schema):
    server_id = object_id(
        required=True, allow_none=True,
        metadata={"description": "a server of the tenant in another region; null: no secondary MX"},
    )


class NewDomainSchema(Schema):
    server_id = object_id(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=253))


@blp.route("/tenants/<slug>/domains", methods=["GET"])
@errors(blp, 404)
@blp.response(200, DomainSchema(many=True))
def list_domains(slug: str) -> list[Domain]:
    return fleet.list_domains(scope(), scope().tenant(slug))


@submission(blp, "/tenants/<slug>/domains", "POST", NewDomainSchema, RunSchema)
def add_domain(data: dict[str, Any], slug: str) -> Run:
    return fleet.add_domain(scope(), scope().tenant(slug), data["server_id"], data["name"], idempotency_key())


@submission(blp, "/tenants/<slug>/domains/<int:domain_id>", "DELETE", ConfirmSchema, RunSchema)
def remove_domain(data: dict[str, Any], slug: str, domain_id: int) -> Run:
    return lifecycle.remove_domain(
        scope(), scope().tenant(slug), domain_id, data["confirm"], idempotency_key()
    )


@submission(blp, "/tenants/<slug>/domains/<int:domain_id>/secondary-mx", "PUT", SecondaryMxSchema, RunSchema)
def set_secondary_mx(data: dict[str, Any], slug: str, domain_id: int) -> Run:
    """Admins: the server that accepts and queues the domain's mail while its own server is down
    (published as its MX at preference 20), or none; the domain's run applies it."""
    return secondary_mx.set_secondary(
        scope(), scope().tenant(slug), domain_id, data["server_id"], idempotency_key()
    )


@blp.route("/tenants/<slug>/domains/<int:domain_id>/dns", methods=["GET"])
@errors(blp, 400, 404)
@blp.response(200, DomainDnsSchema)
def domain_dns(slug: str, domain_id: int) -> Domain:
    return dnsdoctor.tenant_domain(scope(), scope().tenant(slug), domain_id)


@blp.route("/tenants/<slug>/domains/<int:domain_id>/dns/propagations", methods=["GET"])
@errors(blp, 400, 404)
@blp.response(200, PropagationSchema(many=True))
def domain_propagations(slug: str, domain_id: int) -> list[DnsPropagation]:
    """Each publication of the domain's records, oldest first, and how long its DNS took to agree."""
    tenant = scope().tenant(slug)
    domain = dnsdoctor.tenant_domain(scope(), tenant, domain_id)
    return setup_times.propagations(scope(), tenant, domain=domain)


@blp.route("/tenants/<slug>/domains/<int:domain_id>/dns/check", methods=["POST"])
@errors(blp, 400, 404)
@blp.response(202, DnsCheckSchema)
def check_domain_dns(slug: str, domain_id: int) -> dict[str, object]:
    """Check again: the DNS doctor runs as a job (asking while one waits is a no-op)."""
    domain = dnsdoctor.request_check(scope(), scope().tenant(slug), domain_id)
    return {"queued": True, "domain": domain.name}


@blp.route("/tenants/<slug>/domains/<int:domain_id>/dns/fix", methods=["POST"])
@errors(blp, 400, 404)
@blp.response(202, RunSchema)
def fix_domain_dns(slug: str, domain_id: int) -> Run:
    """The wizard's Fix: where mailfleet writes the zone, a run publishes the domain's records again
    (the DNS part of the domain run only); refused with the reason where it cannot."""
    return dnsdoctor.fix(scope(), scope().tenant(slug), domain_id)
