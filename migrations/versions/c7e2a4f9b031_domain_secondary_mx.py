"""a mail domain's secondary MX: another server of the tenant that queues its mail

Revision ID: c7e2a4f9b031
Revises: b4d7e1a9c362
Create Date: 2026-12-03 09:50:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c7e2a4f9b031"
down_revision = "b4d7e1a9c362"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secondary_server_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_domains_secondary_server_id"), ["secondary_server_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_domains_secondary_server_id_servers"), "servers", ["secondary_server_id"], ["id"]
        )


def downgrade():
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_domains_secondary_server_id_servers"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_domains_secondary_server_id"))
        batch_op.drop_column("secondary_server_id")
