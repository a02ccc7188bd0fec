"""each server's provider; provider ids unique per provider

Revision ID: c8f2a6d1e047
Revises: c8f3a1d6e270
Create Date: 2026-12-02 14:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c8f2a6d1e047"
down_revision = "c8f3a1d6e270"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(length=32), nullable=False,
                                      server_default="hostwinds"))
        batch_op.drop_constraint("uq_servers_provider_id", type_="unique")
        batch_op.create_unique_constraint("uq_servers_provider", ["provider", "provider_id"])


def downgrade():
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_servers_provider", type_="unique")
        batch_op.create_unique_constraint("uq_servers_provider_id", ["provider_id"])
        batch_op.drop_column("provider")
