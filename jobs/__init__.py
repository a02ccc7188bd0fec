"""RQ job functions: the ansible-runner bridge, the reaper, periodic refreshes and the cron table.

Workers run ``jobs.execute.execute_run`` (enqueued by the web app by dotted name); ``rq cron``
loads ``jobs.cron``. This package may import ``webapp`` models; the reverse never happens.
"""

from __future__ import annotations

from jobs.execute import execute_run
from jobs.reaper import reap
from jobs.servers import refresh_servers

__all__ = ["execute_run", "reap", "refresh_servers"]
