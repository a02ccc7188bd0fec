"""public IPv4 addresses a server holds beside its main one

Revision ID: e6a2c9d4f185
Revises: a7e2c9d4f318
Create Date: 2026-12-02 18:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e6a2c9d4f185"
down_revision = "a7e2c9d4f318"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extra_ipv4", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.drop_column("extra_ipv4")
