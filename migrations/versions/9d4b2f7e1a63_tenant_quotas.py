"""tenant quotas

Revision ID: 9d4b2f7e1a63
Revises: 7d3c1e9a5b20
Create Date: 2026-12-01 22:00:00

Per-tenant limits an administrator sets: how many servers and how much monthly spend (in the
provider's plan prices) the tenant's people may order. Existing tenants get no limit. The
mailbox-manager role needs no schema change (roles are stored as text).
"""

import sqlalchemy as sa
from alembic import op

revision = "9d4b2f7e1a63"
down_revision = "7d3c1e9a5b20"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_servers", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_monthly_spend", sa.Numeric(precision=10, scale=2), nullable=True))


def downgrade():
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("max_monthly_spend")
        batch_op.drop_column("max_servers")
