"""The worker class for ``rq worker-pool -w jobs.worker.Worker``: when it starts it reports its
machine's capacity (jobs.capacity) and reaps once; each work-horse it forks for a job opens its
database connections anew."""

from __future__ import annotations

import logging
from typing import Any

from rq.job import Job
from rq.queue import Queue
from rq.worker import Worker as RQWorker

from jobs import capacity
from jobs.app import forget_inherited_connections, worker_app
from jobs.reaper import reap

log = logging.getLogger(__name__)


class Worker(RQWorker):
    def work(self, *args: Any, **kwargs: Any) -> bool:
        try:
            with worker_app().app_context():
                log.info("worker capacity: %s", capacity.report())
            log.info("reaper at worker start: %s", reap())
        except Exception:  # neither must keep the worker from serving jobs
            log.exception("worker start-up report or reaper failed")
        return super().work(*args, **kwargs)

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        forget_inherited_connections()  # the worker's own, from its start-up reaping
        super().main_work_horse(job, queue)
