"""user session generation

Revision ID: 7c1e5a9d2b40
Revises: 3f47c12d9337
Create Date: 2026-12-01 21:30:00

Each user has a session generation, kept in the session cookie too; raising it on logout or a new
password ends every session issued before. Existing users start at 0 (their current cookies,
which carry no generation, stop working: everyone logs in once more).
"""

import sqlalchemy as sa
from alembic import op

revision = "7c1e5a9d2b40"
down_revision = "3f47c12d9337"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
