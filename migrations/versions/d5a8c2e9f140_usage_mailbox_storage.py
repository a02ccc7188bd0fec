"""mailbox storage in usage samples

Revision ID: d5a8c2e9f140
Revises: b7d2e4f81c35
Create Date: 2026-12-02 01:00:00

The mail stored in a server's mailboxes (MB, as its Mailu reports them) in every usage sample.
"""

import sqlalchemy as sa
from alembic import op

revision = "d5a8c2e9f140"
down_revision = "b7d2e4f81c35"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("usage_samples", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mailbox_mb", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("usage_samples", schema=None) as batch_op:
        batch_op.drop_column("mailbox_mb")
