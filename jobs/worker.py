"""The worker class for ``rq worker-pool -w jobs.worker.Worker``: it reaps once when it starts."""

from __future__ import annotations

import logging
from typing import Any

from rq.worker import Worker as RQWorker

from jobs.reaper import reap

log = logging.getLogger(__name__)


class Worker(RQWorker):
    def work(self, *args: Any, **kwargs: Any) -> bool:
        try:
            log.info("reaper at worker start: %s", reap())
        except Exception:  # a reaper failure must not keep the worker from serving jobs
            log.exception("reaper at worker start failed")
        return super().work(*args, **kwargs)
