"""Tenants: creation (with their secrets) and listing."""

from __future__ import annotations

from sqlalchemy import func, select

from mailfleet.secrets import SecretsError, ensure_tenant_secrets
from mailfleet.validation import validate_tenant_slug
from webapp.errors import Conflict, InvalidInput, UpstreamError, valid
from webapp.extensions import db
from webapp.integrations import secret_store
from webapp.models import Domain, Mailbox, Server, Tenant
from webapp.services.scope import Scope

MAX_NAME_LENGTH = 120


def create_tenant(scope: Scope, slug: str, name: str) -> Tenant:
    scope.require_admin()
    slug = valid(validate_tenant_slug, (slug or "").strip())
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise InvalidInput(f"the tenant name must be 1-{MAX_NAME_LENGTH} printable characters")
    if db.session.execute(select(Tenant.id).where(Tenant.slug == slug)).first():
        raise Conflict(f"a tenant {slug!r} already exists")
    try:  # secrets first: a tenant row without its SSH key and Mailu token would be unusable
        ensure_tenant_secrets(slug, secret_store())
    except SecretsError as exc:
        raise UpstreamError(f"could not create the tenant's secrets: {exc}") from None
    tenant = Tenant(slug=slug, name=name)
    db.session.add(tenant)
    db.session.commit()
    return tenant


def list_tenants(scope: Scope) -> list[dict]:
    """Each visible tenant with its counts of servers, domains and mailboxes."""
    rows = []
    for tenant in db.session.execute(scope.select(Tenant).order_by(Tenant.slug)).scalars():
        counts = {
            label: db.session.execute(select(func.count()).where(model.tenant_id == tenant.id)).scalar_one()
            for label, model in (("servers", Server), ("domains", Domain), ("mailboxes", Mailbox))
        }
        rows.append({"tenant": tenant, **counts})
    return rows
