"""mail counts per sender

Revision ID: b8c3e5f17a2d
Revises: d4b7e9a2c615
Create Date: 2026-12-02 15:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b8c3e5f17a2d"
down_revision = "d4b7e9a2c615"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mail_counts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("senders", sa.JSON(), nullable=False, server_default="{}"))


def downgrade():
    with op.batch_alter_table("mail_counts", schema=None) as batch_op:
        batch_op.drop_column("senders")
