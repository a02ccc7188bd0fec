"""The periodic jobs, for exactly one ``rq cron jobs.cron`` process (it has no lock).

rq 2.12's CronJob enqueues with the default (pickle) serializer whatever ``--serializer`` says,
and our workers read JSON only; so the queue class rq.cron uses is swapped for one whose default
serializer is JSON. tests/unit/jobs/test_cron.py checks that a cron-enqueued job is JSON, so an
rq upgrade that changes this fails a test instead of production.
"""

from __future__ import annotations

import os

import rq.cron
from rq import Queue, cron
from rq.serializers import JSONSerializer

from jobs.health import SWEEP_EVERY, sweep_health
from jobs.health_facts import enqueue_health_facts
from jobs.reaper import reap
from jobs.servers import refresh_servers

QUEUE_NAME = os.environ.get("MAILFLEET_QUEUE") or "mailfleet"
REFRESH_SERVERS_EVERY = 600
REAP_EVERY = 60


class JSONQueue(Queue):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("serializer", JSONSerializer)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


rq.cron.Queue = JSONQueue  # type: ignore[misc]

cron.register(refresh_servers, QUEUE_NAME, interval=REFRESH_SERVERS_EVERY, job_timeout=300)
cron.register(reap, QUEUE_NAME, interval=REAP_EVERY, job_timeout=120)
cron.register(sweep_health, QUEUE_NAME, interval=SWEEP_EVERY, job_timeout=SWEEP_EVERY - 30)
cron.register(enqueue_health_facts, QUEUE_NAME, interval=SWEEP_EVERY, job_timeout=120)
