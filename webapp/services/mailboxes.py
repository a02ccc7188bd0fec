"""The "free mailbox" feature: create mailboxes on the tenant's Mailu, record them, show passwords once.

This calls the Mailu API directly (seconds, not a playbook run): the generated passwords go from
the Mailu client to the one response that shows them, and are never written anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NoReturn

from sqlalchemy import select

from mailfleet.mailu import BulkCreateResult, MailuError, MailuValidationError
from mailfleet.secrets import SecretsError
from mailfleet.validation import normalize_email
from webapp.errors import InvalidInput, UpstreamError, valid
from webapp.extensions import db
from webapp.integrations import mailu_client
from webapp.models import Domain, Mailbox, Tenant
from webapp.services import dnsdoctor, setup_times
from webapp.services.runs import TEMPLATE_MARKERS
from webapp.services.scope import Scope

MAX_PER_REQUEST = 100
MAX_QUOTA_BYTES = 100 * 1024**3
_SPLIT = re.compile(r"[\s,;]+")


@dataclass
class MailboxBatch:
    """What happened; ``passwords`` is for the one response that shows them."""

    created: list[str] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict, repr=False)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None


def parse_local_parts(text: str) -> list[str]:
    """Split what a person typed (one per line, or separated by commas/spaces)."""
    return [part for part in _SPLIT.split(text or "") if part]


def list_mailboxes(scope: Scope, tenant: Tenant | None = None) -> list[Mailbox]:
    return scope.listing(Mailbox, Mailbox.email, tenant)


def create_mailboxes(
    scope: Scope,
    tenant: Tenant,
    domain_id: int,
    local_parts: list[str],
    quota_bytes: int | None = None,
    dns_override: bool = False,
) -> MailboxBatch:
    """``dns_override`` (admins only) creates them although the domain's DNS is not ready, and
    records that on the domain."""
    domain = dnsdoctor.tenant_domain(scope, tenant, domain_id)
    refusal = dnsdoctor.readiness_refusal(domain)
    if refusal and not dns_override:
        raise InvalidInput(f"no mailboxes yet: {refusal}")
    if not local_parts:
        raise InvalidInput("name at least one mailbox")
    if len(local_parts) > MAX_PER_REQUEST:
        raise InvalidInput(f"at most {MAX_PER_REQUEST} mailboxes at a time")
    if quota_bytes is not None and not 0 < quota_bytes <= MAX_QUOTA_BYTES:
        raise InvalidInput(f"quota must be between 1 byte and {MAX_QUOTA_BYTES} bytes")
    emails: list[str] = []
    for local in local_parts:
        if any(marker in local for marker in TEMPLATE_MARKERS):
            raise InvalidInput(f"{local!r}: template syntax is not allowed in mailbox names")
        email = valid(normalize_email, f"{local}@{domain.name}")
        if email in emails:
            raise InvalidInput(f"{email} is listed twice")
        emails.append(email)
    existing = set(db.session.execute(select(Mailbox.email).where(Mailbox.email.in_(emails))).scalars())
    if existing:
        raise InvalidInput(f"already exist: {', '.join(sorted(existing))}")

    if refusal:
        dnsdoctor.override(scope, tenant, domain.id)
    spec = [{"email": email, **({"quota_bytes": quota_bytes} if quota_bytes else {})} for email in emails]
    try:
        with mailu_client(tenant.slug, domain.server.mail_hostname or domain.server.name) as client:
            result = client.create_users(spec)
    except (MailuValidationError, SecretsError) as exc:
        _unsent(tenant, domain, emails, f"cannot reach this tenant's Mailu: {exc}")
    except MailuError as exc:
        _unsent(tenant, domain, emails, f"Mailu refused: {exc}")
    _record(tenant, domain, result)

    for email in result.created:
        db.session.add(
            Mailbox(
                tenant_id=tenant.id,
                domain_id=domain.id,
                local_part=email.split("@", 1)[0],
                email=email,
                quota_bytes=quota_bytes,
                created_by_id=scope.user.id,
            )
        )
    db.session.commit()
    return MailboxBatch(
        created=list(result.created),
        passwords=dict(result.generated_passwords),
        failed={email: str(exc) for email, exc in result.failed.items()},
        skipped=list(result.skipped),
        error=str(result.aborted) if result.aborted else None,
    )


def _record(tenant: Tenant, domain: Domain, result: BulkCreateResult) -> None:
    """Every mailbox of the batch as an attempt: the one that stopped it failed, the rest were
    never sent."""
    failed = {email: str(exc) for email, exc in result.failed.items()}
    not_sent = {}
    for email in result.skipped:
        if email in result.seconds:
            failed[email] = str(result.aborted)
        else:
            not_sent[email] = f"not sent, the batch stopped: {result.aborted}"
    setup_times.record_attempts(tenant, domain, result.created, failed, not_sent, result.seconds)


def _unsent(tenant: Tenant, domain: Domain, emails: list[str], reason: str) -> NoReturn:
    """Nothing reached Mailu: each mailbox is recorded as not sent, and the caller told why."""
    setup_times.record_attempts(tenant, domain, (), {}, dict.fromkeys(emails, reason), {})
    db.session.commit()
    raise UpstreamError(reason)
