"""a tenant's opt-in to automatic failover

Revision ID: d4b7e9a2c615
Revises: c4f8a2d6e913
Create Date: 2026-12-02 14:50:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "d4b7e9a2c615"
down_revision = "c4f8a2d6e913"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failover_auto", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("failover_auto")
