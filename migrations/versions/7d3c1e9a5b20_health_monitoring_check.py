"""health rows of no server: the monitoring's own check

Revision ID: 7d3c1e9a5b20
Revises: 7c3e9a1d5b20
Create Date: 2026-12-01 21:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "7d3c1e9a5b20"
down_revision = "7c3e9a1d5b20"
branch_labels = None
depends_on = None

TABLES = ("health_results", "health_checks", "health_alerts")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("server_id", existing_type=sa.Integer(), nullable=True)


def downgrade():
    for table in TABLES:
        op.execute(f"DELETE FROM {table} WHERE server_id IS NULL")  # noqa: S608 - fixed table names
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("server_id", existing_type=sa.Integer(), nullable=False)
