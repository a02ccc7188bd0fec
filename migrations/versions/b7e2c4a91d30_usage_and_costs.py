"""usage history and cost periods

Revision ID: b7e2c4a91d30
Revises: 9c1e5d7a2b40
Create Date: 2026-12-02 00:05:00

Usage samples per server (5-minute, hourly and daily rows in one table keyed by server, step and
bucket start), the price history of every server (cost periods) and a monthly budget per tenant.
"""

import sqlalchemy as sa
from alembic import op

revision = "b7e2c4a91d30"
down_revision = "9c1e5d7a2b40"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "usage_samples",
        sa.Column("server_id", sa.Integer(), sa.ForeignKey("servers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("ts", sa.Integer(), nullable=False),
        sa.Column("samples", sa.SmallInteger(), nullable=False),
        sa.Column("cpu_pct", sa.SmallInteger(), nullable=True),
        sa.Column("cpu_peak_pct", sa.SmallInteger(), nullable=True),
        sa.Column("mem_used_mb", sa.Integer(), nullable=True),
        sa.Column("mem_total_mb", sa.Integer(), nullable=True),
        sa.Column("disk_used_mb", sa.Integer(), nullable=True),
        sa.Column("disk_total_mb", sa.Integer(), nullable=True),
        sa.Column("bw_used_gb", sa.Integer(), nullable=True),
        sa.Column("bw_total_gb", sa.Integer(), nullable=True),
        sa.Column("queue_deferred", sa.Integer(), nullable=True),
        sa.Column("queue_active", sa.Integer(), nullable=True),
        sa.Column("mailboxes", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("server_id", "step", "ts"),
    )
    op.create_table(
        "cost_periods",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("server_id", sa.Integer(), sa.ForeignKey("servers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="SET NULL"), nullable=True),
        sa.Column("plan", sa.String(length=120), nullable=True),
        sa.Column("monthly_price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_cost_periods_server_id", "cost_periods", ["server_id"])
    op.create_index("ix_cost_periods_tenant_end", "cost_periods", ["tenant_id", "ended_at"])
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("monthly_budget", sa.Numeric(precision=10, scale=2), nullable=True))


def downgrade():
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("monthly_budget")
    op.drop_index("ix_cost_periods_tenant_end", table_name="cost_periods")
    op.drop_index("ix_cost_periods_server_id", table_name="cost_periods")
    op.drop_table("cost_periods")
    op.drop_table("usage_samples")
