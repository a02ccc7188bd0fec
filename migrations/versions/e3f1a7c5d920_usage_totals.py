"""usage totals per fleet and tenant

Revision ID: e3f1a7c5d920
Revises: 4b8e2c6d1f90
Create Date: 2026-12-02 03:30:00

Usage buckets summed over the whole fleet (tenant 0) and over each tenant's servers, so fleet and
tenant charts read one row per bucket; filled here from the usage rows already kept.
"""

import sqlalchemy as sa
from alembic import op

revision = "e3f1a7c5d920"
down_revision = "4b8e2c6d1f90"
branch_labels = None
depends_on = None

_SUMMED = (
    "mem_used_mb",
    "disk_used_mb",
    "disk_total_mb",
    "bw_used_gb",
    "queue_deferred",
    "mailboxes",
    "mailbox_mb",
)


def upgrade():
    op.create_table(
        "usage_totals",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("ts", sa.Integer(), nullable=False),
        sa.Column("servers", sa.Integer(), nullable=False),
        sa.Column("cpu_pct", sa.SmallInteger(), nullable=True),
        *(sa.Column(name, sa.BigInteger(), nullable=True) for name in _SUMMED),
        sa.PrimaryKeyConstraint("tenant_id", "step", "ts"),
    )
    columns = ", ".join(_SUMMED)
    sums = ", ".join(f"SUM(u.{name})" for name in _SUMMED)
    figures = f"u.step, u.ts, COUNT(*), CAST(ROUND(AVG(u.cpu_pct)) AS INTEGER), {sums}"
    insert = f"INSERT INTO usage_totals (tenant_id, step, ts, servers, cpu_pct, {columns}) "
    # Only this file's column names go into the statements.
    op.execute(f"{insert} SELECT 0, {figures} FROM usage_samples u GROUP BY u.step, u.ts")  # noqa: S608
    op.execute(
        f"{insert} SELECT s.tenant_id, {figures} FROM usage_samples u JOIN servers s"  # noqa: S608
        " ON s.id = u.server_id WHERE s.tenant_id IS NOT NULL GROUP BY s.tenant_id, u.step, u.ts"
    )


def downgrade():
    op.drop_table("usage_totals")
