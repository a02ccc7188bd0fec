"""a tenant's auto-scaling policy

Revision ID: b9d3f5a7c214
Revises: b5e8d2a4c917
Create Date: 2026-12-03 02:45:00

"""

import sqlalchemy as sa
from alembic import op

revision = "b9d3f5a7c214"
down_revision = "b5e8d2a4c917"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "autoscale_policies",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("cpu_p95_pct", sa.Float(), nullable=False),
        sa.Column("mem_p99_pct", sa.Float(), nullable=False),
        sa.Column("disk_full_days", sa.Float(), nullable=False),
        sa.Column("max_plan", sa.String(length=120), nullable=True),
        sa.Column("max_monthly_spend", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("cooldown_hours", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )


def downgrade():
    op.drop_table("autoscale_policies")
