"""run catalogue key and trigger

Revision ID: 3f47c12d9337
Revises: 3fa0e4251c4b
Create Date: 2026-12-01 21:00:00

Runs record the catalogue entry they were submitted as and who started them (a person or the
scheduler). Existing rows are filled from what they hold: the playbook file, whether domains were
passed, and whether a user submitted them.
"""

import sqlalchemy as sa
from alembic import op

revision = "3f47c12d9337"
down_revision = "3fa0e4251c4b"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("catalogue_key", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("trigger", sa.String(length=16), nullable=False, server_default="user"))
        batch_op.create_index(batch_op.f("ix_runs_trigger"), ["trigger"], unique=False)

    runs = sa.table(
        "runs",
        sa.column("playbook", sa.String),
        sa.column("catalogue_key", sa.String),
        sa.column("trigger", sa.String),
        sa.column("created_by_id", sa.Integer),
        sa.column("id", sa.Integer),
        sa.column("extravars", sa.JSON),
    )
    op.execute(runs.update().where(runs.c.playbook == "provision.yml").values(catalogue_key="provision"))
    op.execute(
        runs.update().where(runs.c.playbook == "health_facts.yml").values(catalogue_key="health_facts")
    )
    bind = op.get_bind()
    for run_id, extravars in bind.execute(
        sa.select(runs.c.id, runs.c.extravars).where(runs.c.playbook == "site.yml")
    ):
        key = "domain" if "mailfleet_domains" in (extravars or {}) else "site"
        bind.execute(runs.update().where(runs.c.id == run_id).values(catalogue_key=key))
    op.execute(runs.update().where(runs.c.created_by_id.is_(None)).values(trigger="schedule"))


def downgrade():
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_trigger"))
        batch_op.drop_column("trigger")
        batch_op.drop_column("catalogue_key")
