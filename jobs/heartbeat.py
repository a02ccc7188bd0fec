"""A running run's heartbeat: its database lease and its admission holds (jobs.admission), renewed
every quarter lease from a thread of the work-horse's own, from its claim to its end.

Both leases start when the run is claimed. Renewed from the runner's callback loop, as they were,
they lapsed under load with nothing wrong: the loop first calls back once ansible-playbook has
started (5 s after the claim was measured at a load of 17, a whole test lease), and it pauses
while a batch of events waits for the database. A thread keeps time whatever the run is doing. A
work-horse that dies (SIGKILL, OOM, its machine) takes the thread along, so its leases lapse and
the reaper acts as before; a hung one is ended by RQ's job timeout, which kills the process too.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from jobs import admission, locks
from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import Run, RunStatus

log = logging.getLogger(__name__)


class Heartbeat:
    """``with Heartbeat(app, run_id):`` renews the run's leases until the block ends."""

    def __init__(self, app: Flask, run_id: int) -> None:
        self.app = app
        self.run_id = run_id
        self.every = app.config["MAILFLEET_LEASE_SECONDS"] / 4
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"run-{run_id}-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()  # no renewal after this: the run's end releases what it holds

    def _beat(self) -> None:
        with self.app.app_context():  # a session of its own: the run's thread keeps its own
            try:
                run = db.session.get(Run, self.run_id)
                if run is None:
                    return
                db.session.expunge(run)  # read-only here: ids and its worker's name
                while not self._stop.wait(self.every):
                    self.renew(run)
            finally:
                db.session.remove()

    def renew(self, run: Run) -> None:
        """One beat: the lease in the database (while the run runs), then the holds in Redis."""
        try:
            db.session.execute(
                update(Run)
                .where(Run.id == run.id, Run.status == RunStatus.RUNNING)
                .values(heartbeat_at=utcnow(), lease_expires_at=locks.lease_until())
            )
            db.session.commit()
        except SQLAlchemyError as exc:  # the database busy or failing over: the next beat renews
            db.session.rollback()
            log.warning("run %s: could not renew its lease (%s)", run.id, exc)
        try:
            admission.renew(run)
        except RedisError as exc:  # a failover: the next beat renews, well within the lease
            log.warning("run %s: could not renew its holds (%s)", run.id, exc)
