"""Tenant scoping of every query, in one place.

A :class:`Scope` wraps the current principal. ``scope.select(Model)`` returns a SELECT already
restricted to the principal's tenant (admins see everything); ``scope.get(Model, id)`` answers
NotFound for objects of another tenant, exactly as for objects that do not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, select

from webapp.errors import Forbidden, NotFound
from webapp.extensions import db
from webapp.models import Role, Tenant, User

M = TypeVar("M")


@dataclass(frozen=True)
class SystemPrincipal:
    """Who the scheduler acts as: an administrator with no user row (a run's created_by stays empty)."""

    id: None = None
    tenant_id: None = None
    tenant: None = None
    role: Role = Role.ADMIN
    is_authenticated: bool = True
    is_admin: bool = True


class Scope:
    def __init__(self, user: User | SystemPrincipal) -> None:
        if user is None or not getattr(user, "is_authenticated", False):
            raise Forbidden("log in first")
        self.user = user

    @classmethod
    def system(cls) -> Scope:
        """The scope of periodic jobs: sees every tenant; what it submits is labelled a system run."""
        return cls(SystemPrincipal())

    @property
    def is_system(self) -> bool:
        return isinstance(self.user, SystemPrincipal)

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    @property
    def actor(self) -> str:
        """Who acts, as a record names them: the user's email, or the scheduler."""
        return "scheduler" if isinstance(self.user, SystemPrincipal) else self.user.email

    @property
    def own_tenant(self) -> Tenant:
        """The tenant a tenant's member belongs to; an administrator belongs to none (Forbidden)."""
        if self.user.tenant is None:
            raise Forbidden("this is a tenant member's view; an administrator names the tenant")
        return self.user.tenant

    @property
    def may_remove(self) -> bool:
        """May deprovision servers and remove mail domains (not a mailbox manager)."""
        return self.is_admin or self.user.role.may_remove

    def require_may_remove(self) -> None:
        if not self.may_remove:
            raise Forbidden(
                "your role manages domains and mailboxes; deprovisioning a server or removing a domain "
                "takes a member or admin"
            )

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("only administrators may do this")

    def restrict(self, stmt: Select[Any], model: type) -> Select[Any]:
        """Add the tenant condition for ``model`` (which has a tenant_id column) to ``stmt``."""
        if self.is_admin:
            return stmt
        if model is Tenant:
            return stmt.where(Tenant.id == self.user.tenant_id)
        return stmt.where(model.tenant_id == self.user.tenant_id)  # type: ignore[attr-defined]

    def select(self, model: type[M]) -> Select[tuple[M]]:
        return self.restrict(select(model), model)

    def listing(self, model: type[M], order: Any, tenant: Tenant | None = None) -> list[M]:
        """Every ``model`` row the principal may see in ``order``; with ``tenant``, that tenant's only."""
        stmt = self.select(model).order_by(order)
        if tenant is not None:
            stmt = stmt.where(model.tenant_id == tenant.id)  # type: ignore[attr-defined]
        return list(db.session.execute(stmt).scalars())

    def get(self, model: type[M], object_id: int) -> M:
        stmt = self.select(model).where(model.id == object_id)  # type: ignore[attr-defined]
        found = db.session.execute(stmt).scalar_one_or_none()
        if found is None:
            raise NotFound(f"{model.__name__.lower()} {object_id} not found")
        return found

    def tenant(self, slug: str) -> Tenant:
        found = db.session.execute(self.select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
        if found is None:
            raise NotFound(f"tenant {slug!r} not found")
        return found

    def can_see_tenant(self, tenant_id: int | None) -> bool:
        return self.is_admin or (tenant_id is not None and tenant_id == self.user.tenant_id)
