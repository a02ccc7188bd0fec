"""mailbox creation attempts and DNS propagation per publication

Revision ID: d9a4c7e2b816
Revises: b9d3f5a7c214
Create Date: 2026-12-03 03:00:00

"""

import sqlalchemy as sa
from alembic import op

import webapp.models.types

UTC = webapp.models.types.UTCDateTime(timezone=True)

# revision identifiers, used by Alembic.
revision = "d9a4c7e2b816"
down_revision = "b9d3f5a7c214"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mailbox_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("result", sa.Enum("CREATED", "FAILED", "NOT_SENT", name="attemptresult", native_enum=False,
                                    length=16), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("attempted_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mailbox_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mailbox_attempts_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mailbox_attempts_domain_id"), ["domain_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mailbox_attempts_attempted_at"), ["attempted_at"], unique=False)
    op.create_table(
        "dns_propagations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("published_at", UTC, nullable=False),
        sa.Column("ready_at", UTC, nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dns_propagations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dns_propagations_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dns_propagations_domain_id"), ["domain_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dns_propagations_published_at"), ["published_at"], unique=False)


def downgrade():
    with op.batch_alter_table("dns_propagations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dns_propagations_published_at"))
        batch_op.drop_index(batch_op.f("ix_dns_propagations_domain_id"))
        batch_op.drop_index(batch_op.f("ix_dns_propagations_tenant_id"))
    op.drop_table("dns_propagations")
    with op.batch_alter_table("mailbox_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mailbox_attempts_attempted_at"))
        batch_op.drop_index(batch_op.f("ix_mailbox_attempts_domain_id"))
        batch_op.drop_index(batch_op.f("ix_mailbox_attempts_tenant_id"))
    op.drop_table("mailbox_attempts")
