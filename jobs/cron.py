"""The periodic jobs, for the one scheduler ``mailfleet-cron`` (jobs/scheduler.py: a second one refuses
to start).

Every job here is a system job: it goes to the system queue (``JobQueue.SYSTEM``), which its
own worker serves (the Procfile's ``system``), so the reaper, refreshes and sweeps never wait
behind a queue full of playbook runs. The reaper has a queue and a worker of its own (the
Procfile's ``reaper``), so not even a long sweep or refresh on the system worker delays it. The
playbook runs these jobs submit go to the playbook queue.

rq 2.12's CronJob enqueues with the default (pickle) serializer whatever ``--serializer`` says,
and our workers read JSON only; so the queue class rq.cron uses is swapped for one whose default
serializer is JSON. tests/unit/jobs/test_periodic.py checks that a cron-enqueued job is JSON, so an
rq upgrade that changes this fails a test instead of production.
"""

from __future__ import annotations

import rq.cron
from rq import Queue, cron
from rq.serializers import JSONSerializer

from jobs.control_backup import BACKUP_EVERY, backup_control_plane
from jobs.dnsdoctor import check_due_domains
from jobs.drills import DRILL_CHECK_EVERY, enqueue_drills
from jobs.failover import FAILOVER_CHECK_EVERY, check_failover
from jobs.health import sweep_health
from jobs.health_facts import enqueue_health_facts
from jobs.reaper import reap
from jobs.renewals import RENEW_EVERY, enqueue_renewals
from jobs.sendcaps import SENDCAPS_EVERY, enqueue_sendcaps
from jobs.servers import refresh_servers
from jobs.usage import ROLLUP_EVERY, SAMPLE_EVERY, rollup_usage, sample_usage
from webapp.config import load_config
from webapp.queue import JobQueue
from webapp.services.dnsdoctor import CHECK_EVERY as DNS_CHECK_EVERY

_CONFIG = load_config(with_secret_key=False)
SYSTEM_QUEUE = JobQueue.SYSTEM.name_in(_CONFIG)
REAPER_QUEUE = JobQueue.REAPER.name_in(_CONFIG)
REFRESH_SERVERS_EVERY = 600
SWEEP_EVERY = _CONFIG["MAILFLEET_HEALTH_SWEEP_SECONDS"]
# A lost run's lease expires within MAILFLEET_LEASE_SECONDS (60) of its worker's death; reaping
# every 30 s fails it and kills its processes well inside 2 minutes.
REAP_EVERY = 30


class JSONQueue(Queue):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("serializer", JSONSerializer)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


rq.cron.Queue = JSONQueue  # type: ignore[misc]

cron.register(refresh_servers, SYSTEM_QUEUE, interval=REFRESH_SERVERS_EVERY, job_timeout=300)
cron.register(reap, REAPER_QUEUE, interval=REAP_EVERY, job_timeout=120)
# A sweep ends before the next one is due, so sweeps never pile up on the system worker.
cron.register(sweep_health, SYSTEM_QUEUE, interval=SWEEP_EVERY, job_timeout=SWEEP_EVERY * 9 // 10)
cron.register(enqueue_health_facts, SYSTEM_QUEUE, interval=SWEEP_EVERY, job_timeout=120)
cron.register(enqueue_renewals, SYSTEM_QUEUE, interval=RENEW_EVERY, job_timeout=120)
cron.register(sample_usage, SYSTEM_QUEUE, interval=SAMPLE_EVERY, job_timeout=240)
cron.register(rollup_usage, SYSTEM_QUEUE, interval=ROLLUP_EVERY, job_timeout=600)
cron.register(check_due_domains, SYSTEM_QUEUE, interval=DNS_CHECK_EVERY, job_timeout=DNS_CHECK_EVERY - 30)
cron.register(enqueue_drills, SYSTEM_QUEUE, interval=DRILL_CHECK_EVERY, job_timeout=120)
cron.register(check_failover, SYSTEM_QUEUE, interval=FAILOVER_CHECK_EVERY, job_timeout=120)
cron.register(backup_control_plane, SYSTEM_QUEUE, interval=BACKUP_EVERY, job_timeout=600)
cron.register(enqueue_sendcaps, SYSTEM_QUEUE, interval=SENDCAPS_EVERY, job_timeout=120)
