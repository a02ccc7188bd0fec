"""a run's place in a chain of steps: the run it follows

Revision ID: c8f3a1d6e270
Revises: b1e7c3a9d024
Create Date: 2026-12-02 14:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c8f3a1d6e270"
down_revision = "b1e7c3a9d024"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follows_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_runs_follows_id"), ["follows_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_runs_follows_id_runs"), "runs", ["follows_id"], ["id"])


def downgrade():
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_runs_follows_id_runs"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_runs_follows_id"))
        batch_op.drop_column("follows_id")
