"""server backups

Revision ID: b4c8e2f1a9d3
Revises: d5a8c2e9f140
Create Date: 2026-12-02 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b4c8e2f1a9d3"
down_revision = "d5a8c2e9f140"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "server_backups",
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"]),
        sa.PrimaryKeyConstraint("server_id"),
    )


def downgrade():
    op.drop_table("server_backups")
