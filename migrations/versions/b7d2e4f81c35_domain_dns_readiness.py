"""domain DNS readiness

Revision ID: b7d2e4f81c35
Revises: b7e2c4a91d30
Create Date: 2026-12-02 00:15:00

"""

import sqlalchemy as sa
from alembic import op

import webapp.models.types

UTC = webapp.models.types.UTCDateTime(timezone=True)

# revision identifiers, used by Alembic.
revision = "b7d2e4f81c35"
down_revision = "b7e2c4a91d30"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dns_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("dns_report", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("dns_checked_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("dns_changed_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("dns_ready_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("dns_propagation_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("dns_override_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("dns_override_at", UTC, nullable=True))
        batch_op.create_foreign_key("fk_domains_dns_override_by", "users", ["dns_override_by_id"], ["id"])


def downgrade():
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_constraint("fk_domains_dns_override_by", type_="foreignkey")
        for column in ("dns_override_at", "dns_override_by_id", "dns_propagation_seconds", "dns_ready_at",
                       "dns_changed_at", "dns_checked_at", "dns_report", "dns_status"):
            batch_op.drop_column(column)
