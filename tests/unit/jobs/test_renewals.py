"""Certificates are renewed with nobody clicking: rq cron submits playbooks/renew_certificates.yml
daily, one system run per tenant with active servers, through the same catalogue as users."""

from __future__ import annotations

import pytest
from rq.cron import CronScheduler
from sqlalchemy import select

from jobs.renewals import enqueue_renewals
from webapp.config import REPO_DIR
from webapp.extensions import db
from webapp.models import Run, RunStatus, RunTrigger, Server, ServerStatus
from webapp.queue import get_queue, get_system_queue

pytestmark = pytest.mark.unit


def test_cron_submits_renewals_daily_from_the_system_queue(app):
    cron = CronScheduler(connection=get_system_queue(app).connection)
    cron.load_config_from_file("jobs.cron")
    renewals = {job.func_name: job for job in cron.get_jobs()}["jobs.renewals.enqueue_renewals"]
    assert renewals.interval == 24 * 3600 and renewals.queue_name == "mailfleet-system"


def test_one_system_run_per_tenant_with_active_servers_and_none_while_one_is_unfinished(
    app, scope, acme, globex
):
    db.session.add_all(
        [
            Server(
                tenant_id=acme.id, name="mf-acme-1", public_ipv4="198.18.21.10", status=ServerStatus.ACTIVE
            ),
            Server(
                tenant_id=acme.id, name="mf-acme-2", public_ipv4="198.18.21.11", status=ServerStatus.STOPPED
            ),
            Server(tenant_id=globex.id, name="mf-globex-1", status=ServerStatus.BUILDING),
        ]
    )
    db.session.commit()
    assert enqueue_renewals() == {"tenants": 1, "runs": 1, "skipped_busy": 0}
    [run] = db.session.scalars(select(Run)).all()
    assert (run.tenant_id, run.limit, run.status) == (acme.id, "mf-acme-1", RunStatus.QUEUED)
    assert (run.playbook, run.catalogue_key) == ("renew_certificates.yml", "renew_certificates")
    assert run.trigger == RunTrigger.SCHEDULE and run.created_by_id is None
    assert (REPO_DIR / "playbooks" / run.playbook).is_file()
    assert get_queue(app).job_ids == [run.job_id]  # the run itself waits with the playbook runs
    assert enqueue_renewals() == {"tenants": 0, "runs": 0, "skipped_busy": 1}
