"""mail stored per mailbox

Revision ID: f2b6d8e4a1c7
Revises: e3f1a7c5d920
Create Date: 2026-12-02 04:05:00

The latest bytes of mail each mailbox holds, as its server's Mailu reports them.
"""

import sqlalchemy as sa
from alembic import op

revision = "f2b6d8e4a1c7"
down_revision = "e3f1a7c5d920"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mailbox_usage",
        sa.Column(
            "mailbox_id", sa.Integer(), sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mailbox_id"),
    )


def downgrade():
    op.drop_table("mailbox_usage")
