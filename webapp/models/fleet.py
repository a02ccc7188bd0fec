"""What a tenant owns: servers (from its providers), mail domains and mailboxes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import JSON, Enum, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailfleet.clock import utcnow
from mailfleet.providers import DEFAULT_PROVIDER
from mailfleet.providers.regions import LOCATION_REGIONS
from mailfleet.regions import Region, region_of
from webapp.extensions import db
from webapp.models.tenancy import AutoScale, Tenant
from webapp.models.types import UTCDateTime


class ServerStatus(StrEnum):
    REQUESTED = "requested"  # row written, provisioning run queued
    BUILDING = "building"
    ACTIVE = "active"
    STOPPED = "stopped"
    ERROR = "error"
    DEPROVISIONING = "deprovisioning"  # the deprovision run is removing it
    GONE = "gone"  # no longer in the provider's inventory


class Server(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "servers"
    __table_args__ = (UniqueConstraint("provider", "provider_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: seen at the provider but not (yet) assigned to a tenant; visible to admins only.
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    # The inventory name and the provider label (srvrname), e.g. mf-acme-1.
    name: Mapped[str] = mapped_column(String(253), unique=True)
    hostname: Mapped[str | None] = mapped_column(String(253))  # the provider's
    # The mail host name (FQDN, PTR of the main IP): Mailu's address, set when provisioned.
    mail_hostname: Mapped[str | None] = mapped_column(String(253))
    # The provider it runs at (mailfleet.providers) and its id there.
    provider: Mapped[str] = mapped_column(String(32), default=DEFAULT_PROVIDER,
                                          server_default=DEFAULT_PROVIDER)
    provider_id: Mapped[int | None] = mapped_column()
    public_ipv4: Mapped[str | None] = mapped_column(String(45))
    public_ipv6: Mapped[str | None] = mapped_column(String(45))
    private_ipv4: Mapped[str | None] = mapped_column(String(45))
    # Public IPv4 addresses it holds beside the main one (the provider's count; each billed apart).
    extra_ipv4: Mapped[int] = mapped_column(default=0, server_default="0")
    location: Mapped[str | None] = mapped_column(String(64))
    plan: Mapped[str | None] = mapped_column(String(120))
    monthly_price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    status: Mapped[ServerStatus] = mapped_column(
        Enum(ServerStatus, native_enum=False, length=16), default=ServerStatus.REQUESTED
    )
    provider_status: Mapped[str | None] = mapped_column(String(32))
    # Its SSH host keys ("<type> <base64>" per line), pinned at provisioning (first contact); every
    # run trusts these and no others. None: not pinned, so no run can reach it.
    ssh_host_keys: Mapped[str | None] = mapped_column(Text)
    # Auto-scaling of this server; None: as its tenant's.
    autoscale: Mapped[AutoScale | None] = mapped_column(Enum(AutoScale, native_enum=False, length=16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A restore drill's throwaway server (webapp.services.drills): the server whose backup it
    # restores. It serves nothing, counts in no limit, is swept by no health check, and only a run
    # that names it reaches it (jobs.inventory). None: a server of the fleet.
    drill_of_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id"), index=True)

    tenant: Mapped[Tenant | None] = relationship()
    domains: Mapped[list[Domain]] = relationship(back_populates="server", foreign_keys="Domain.server_id")

    @property
    def region(self) -> Region | None:
        return region_of(self.location, LOCATION_REGIONS.get(self.provider, {}))

    @property
    def autoscale_mode(self) -> AutoScale:
        """Its own auto-scaling, else its tenant's (off for a server of no tenant)."""
        if self.autoscale is not None:
            return self.autoscale
        return self.tenant.autoscale if self.tenant is not None else AutoScale.OFF


class DomainStatus(StrEnum):
    PENDING = "pending"  # recorded, its run not finished yet
    ACTIVE = "active"  # its run configured Mailu and published its records
    FAILED = "failed"  # its run failed; status_reason says why
    REMOVING = "removing"  # the remove-domain run is taking it off the server


class Domain(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)  # IDNA A-label form
    status: Mapped[DomainStatus] = mapped_column(
        Enum(DomainStatus, native_enum=False, length=16), default=DomainStatus.PENDING
    )
    # Why the last run on this domain failed (its first failed task and message).
    status_reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # DNS readiness as the DNS doctor last found it (mailfleet.dnsdoctor): None until first checked,
    # then propagating, ready or failing; its last report (findings, propagation) as JSON.
    dns_status: Mapped[str | None] = mapped_column(String(16))
    dns_report: Mapped[dict | None] = mapped_column(JSON)
    dns_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When its records were last published (its run succeeded), and when DNS first agreed after
    # that: their difference is the DNS propagation time, kept per domain.
    dns_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dns_ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dns_propagation_seconds: Mapped[int | None] = mapped_column()
    # An admin who let mailboxes be created although DNS was not ready, and when.
    dns_override_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    dns_override_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The secondary (backup) MX: another server of the tenant, in another region, that accepts the
    # domain's mail as a Mailu relay domain and queues it for this server while it is down
    # (webapp.services.secondary_mx). None: no secondary MX.
    secondary_server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id"), index=True)

    tenant: Mapped[Tenant] = relationship()
    server: Mapped[Server] = relationship(back_populates="domains", foreign_keys=[server_id])
    secondary_server: Mapped[Server | None] = relationship(foreign_keys=[secondary_server_id])
    mailboxes: Mapped[list[Mailbox]] = relationship(back_populates="domain")


class Mailbox(db.Model):  # type: ignore[name-defined,misc]
    """A mailbox created on the tenant's Mailu. Its password is never stored (shown once)."""

    __tablename__ = "mailboxes"
    __table_args__ = (UniqueConstraint("domain_id", "local_part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id"), index=True)
    local_part: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    quota_bytes: Mapped[int | None] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    domain: Mapped[Domain] = relationship(back_populates="mailboxes")
