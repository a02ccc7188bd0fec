"""domain status

Revision ID: 9c1e5d7a2b40
Revises: 9d4b2f7e1a63
Create Date: 2026-12-01 21:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "9c1e5d7a2b40"
down_revision = "9d4b2f7e1a63"
branch_labels = None
depends_on = None


def upgrade():
    # Domains recorded before statuses existed were accepted by a run already: call them active.
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="ACTIVE")
        )
        batch_op.add_column(sa.Column("status_reason", sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_column("status_reason")
        batch_op.drop_column("status")
