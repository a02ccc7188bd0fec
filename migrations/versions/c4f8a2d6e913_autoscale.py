"""auto-scaling per tenant and server, and its decisions

Revision ID: c4f8a2d6e913
Revises: c8f2a6d1e047
Create Date: 2026-12-02 14:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "c4f8a2d6e913"
down_revision = "c8f2a6d1e047"
branch_labels = None
depends_on = None

_MODE = sa.Enum("OFF", "RECOMMEND", "ACT", name="autoscale", native_enum=False, length=16)


def upgrade():
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("autoscale", _MODE, nullable=False, server_default="OFF"))
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("autoscale", _MODE, nullable=True))
    op.create_table(
        "scale_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mode", _MODE, nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "RECOMMENDED", "RESIZED", "HELD", "SETTLED", name="scaleaction", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("plan", sa.String(length=120), nullable=True),
        sa.Column("change", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scale_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_scale_decisions_server_id", ["server_id"], unique=False)


def downgrade():
    op.drop_table("scale_decisions")
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.drop_column("autoscale")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("autoscale")
