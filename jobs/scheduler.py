"""``mailfleet-cron``: the one rq cron scheduler, with the periodic jobs of ``jobs.cron``.

rq cron has no lock of its own, and two schedulers enqueue every periodic job twice. This one takes
a lock in Redis before it starts (``SET NX`` with an expiry, holding the scheduler's name) and
renews it at every heartbeat (at least once a minute); a second scheduler finds the lock held and
refuses to start with one line naming the holder. A scheduler that died without letting go (power
cut, SIGKILL) blocks others only until the lock expires; one that finds its lock taken by another
stops.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from redis import RedisError, WatchError
from redis.client import Pipeline
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from webapp.config import load_config
from webapp.errors import ConfigError
from webapp.queue import connect

__all__ = ["LOCK_KEY", "LOCK_SECONDS", "LockedCronScheduler", "SchedulerLocked", "main"]

LOCK_KEY = "mailfleet:cron:lock"
#: Longer than rq cron's longest sleep between heartbeats (60 s) with room for a slow Redis.
LOCK_SECONDS = 180


class SchedulerLocked(RuntimeError):
    """Another scheduler holds the lock."""


class LockedCronScheduler(CronScheduler):
    def acquire(self) -> None:
        if not self.connection.set(LOCK_KEY, self.name, nx=True, ex=LOCK_SECONDS):
            holder = self.connection.get(LOCK_KEY)
            holder_name = holder.decode() if isinstance(holder, bytes) else holder
            raise SchedulerLocked(
                f"another rq cron scheduler holds {LOCK_KEY} ({holder_name}); exactly one may run"
            )

    def _while_ours(self, change: Callable[[Pipeline], object]) -> bool:
        """Apply ``change`` to the lock only if this scheduler still holds it (WATCH: atomic)."""
        with self.connection.pipeline() as pipe:
            try:
                pipe.watch(LOCK_KEY)
                if pipe.get(LOCK_KEY) != self.name.encode():
                    return False
                pipe.multi()
                change(pipe)
                pipe.execute()
            except WatchError:
                return False
        return True

    def heartbeat(self) -> None:
        if not self._while_ours(lambda pipe: pipe.expire(LOCK_KEY, LOCK_SECONDS)):
            self.log.error("CronScheduler %s: lost %s to another scheduler; stopping", self.name, LOCK_KEY)
            raise StopRequested()
        super().heartbeat()

    def register_death(self, pipeline: object = None) -> None:
        try:
            super().register_death(pipeline)  # type: ignore[arg-type]
        finally:
            self._while_ours(lambda pipe: pipe.delete(LOCK_KEY))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mailfleet-cron", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="jobs.cron", help="module registering the periodic jobs")
    parser.add_argument("--logging-level", default="INFO")
    args = parser.parse_args(argv)
    try:
        config = load_config(with_secret_key=False)
    except ConfigError as exc:
        print(f"mailfleet-cron: {exc}", file=sys.stderr)
        return 2
    scheduler = LockedCronScheduler(connect(config), logging_level=args.logging_level)
    try:
        scheduler.acquire()
    except SchedulerLocked as exc:
        print(f"mailfleet-cron: {exc}", file=sys.stderr)
        return 1
    except RedisError as exc:
        print(f"mailfleet-cron: Redis does not answer ({exc})", file=sys.stderr)
        return 2
    logging.getLogger(__name__).info("mailfleet-cron: holding %s as %s", LOCK_KEY, scheduler.name)
    scheduler.load_config_from_file(args.config)
    scheduler.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
