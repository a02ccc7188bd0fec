"""caps of a critically listed server without a warm-up plan

Revision ID: b5e8d2a4c917
Revises: e6a2c9d4f185
Create Date: 2026-12-03 02:50:00

"""

import sqlalchemy as sa
from alembic import op

import webapp.models.types

# revision identifiers, used by Alembic.
revision = "b5e8d2a4c917"
down_revision = "e6a2c9d4f185"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "listing_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("daily", sa.Integer(), nullable=False),
        sa.Column("hourly", sa.Integer(), nullable=False),
        sa.Column("usual_daily", sa.Integer(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("since", webapp.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("server_id"),
    )


def downgrade():
    op.drop_table("listing_holds")
