"""a throwaway server of a restore drill: the server whose backup it restores

Revision ID: b4d7e1a9c362
Revises: d9a4c7e2b816
Create Date: 2026-12-03 07:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b4d7e1a9c362"
down_revision = "d9a4c7e2b816"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("drill_of_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_servers_drill_of_id"), ["drill_of_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_servers_drill_of_id_servers"), "servers", ["drill_of_id"], ["id"]
        )


def downgrade():
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_servers_drill_of_id_servers"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_servers_drill_of_id"))
        batch_op.drop_column("drill_of_id")
