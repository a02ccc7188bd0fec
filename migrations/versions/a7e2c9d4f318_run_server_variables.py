"""runs name their server the same way at every provider

Revision ID: a7e2c9d4f318
Revises: b8c3e5f17a2d
Create Date: 2026-12-02 18:00:00

The playbooks that act on a tenant's server (provision, resize, switch_ip, deprovision) name its
index, plan and location server_index, server_plan and server_location at every provider; runs
recorded before name them hostwinds_*. Renamed in place, so a run read or submitted again finds
its server.
"""

import sqlalchemy as sa
from alembic import op

revision = "a7e2c9d4f318"
down_revision = "b8c3e5f17a2d"
branch_labels = None
depends_on = None

RENAMED = {"hostwinds_index": "server_index", "hostwinds_plan": "server_plan",
           "hostwinds_location": "server_location"}

runs = sa.table("runs", sa.column("id", sa.Integer), sa.column("extravars", sa.JSON))


def _rename(names: dict[str, str]) -> None:
    bind = op.get_bind()
    for run_id, extravars in bind.execute(sa.select(runs.c.id, runs.c.extravars)).all():
        if not extravars or not names.keys() & extravars.keys():
            continue
        renamed = {names.get(key, key): value for key, value in extravars.items()}
        bind.execute(runs.update().where(runs.c.id == run_id).values(extravars=renamed))


def upgrade():
    _rename(RENAMED)


def downgrade():
    _rename({new: old for old, new in RENAMED.items()})
