"""main IP changes per server

Revision ID: a4d9e2c7b153
Revises: a4c9e2f7b613
Create Date: 2026-12-02 07:05:00

"""

import sqlalchemy as sa
from alembic import op

import webapp.models.types

# revision identifiers, used by Alembic.
revision = "a4d9e2c7b153"
down_revision = "a4c9e2f7b613"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ip_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("old_ip", sa.String(length=45), nullable=False),
        sa.Column("new_ip", sa.String(length=45), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", webapp.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ip_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ip_changes_server_id"), ["server_id"], unique=False)


def downgrade():
    with op.batch_alter_table("ip_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ip_changes_server_id"))
    op.drop_table("ip_changes")
