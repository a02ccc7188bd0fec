"""server SSH host keys, pinned at provisioning

Revision ID: 7c3e9a1d5b20
Revises: 7c1e5a9d2b40
Create Date: 2026-12-01 20:50:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "7c3e9a1d5b20"
down_revision = "7c1e5a9d2b40"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ssh_host_keys", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.drop_column("ssh_host_keys")
