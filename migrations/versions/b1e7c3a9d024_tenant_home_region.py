"""a tenant's home region

Revision ID: b1e7c3a9d024
Revises: a4d9e2c7b153
Create Date: 2026-12-02 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b1e7c3a9d024"
down_revision = "a4d9e2c7b153"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("home_region", sa.Enum("US", "EU", "ASIA", name="region", native_enum=False, length=8),
                      nullable=True)
        )


def downgrade():
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("home_region")
