"""mail counts per server and day

Revision ID: 6e1d3a9c4b72
Revises: f2b6d8e4a1c7
Create Date: 2026-12-02 03:40:00

"""

import sqlalchemy as sa
from alembic import op

import webapp.models.types

# revision identifiers, used by Alembic.
revision = "6e1d3a9c4b72"
down_revision = "f2b6d8e4a1c7"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mail_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("deferred", sa.Integer(), nullable=False),
        sa.Column("bounced", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("reputation_deferrals", sa.Integer(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("collected_at", webapp.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("server_id", "day"),
    )
    with op.batch_alter_table("mail_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_counts_server_id"), ["server_id"], unique=False)


def downgrade():
    with op.batch_alter_table("mail_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_counts_server_id"))
    op.drop_table("mail_counts")
