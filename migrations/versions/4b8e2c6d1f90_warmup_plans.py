"""warmup plans and sending caps

Revision ID: 4b8e2c6d1f90
Revises: b4c8e2f1a9d3
Create Date: 2026-12-02 00:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "4b8e2c6d1f90"
down_revision = "b4c8e2f1a9d3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "warmup_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("curve", sa.String(length=16), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=True),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("held_days", sa.Integer(), nullable=False),
        sa.Column("backoff_until", sa.Date(), nullable=True),
        sa.Column("backoff_factor", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("server_id"),
    )
    with op.batch_alter_table("warmup_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warmup_plans_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "sending_caps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=254), nullable=False),
        sa.Column("daily", sa.Integer(), nullable=False),
        sa.Column("hourly", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("server_id", "name"),
    )
    with op.batch_alter_table("sending_caps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sending_caps_server_id"), ["server_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sending_caps_tenant_id"), ["tenant_id"], unique=False)


def downgrade():
    with op.batch_alter_table("sending_caps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sending_caps_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_sending_caps_server_id"))
    op.drop_table("sending_caps")
    with op.batch_alter_table("warmup_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warmup_plans_tenant_id"))
    op.drop_table("warmup_plans")
