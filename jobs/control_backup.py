"""The control plane's own backup, daily from rq cron (webapp.services.control_backup): into
MAILFLEET_CONTROL_BACKUP_DIR, keeping the newest MAILFLEET_CONTROL_BACKUP_KEEP files. Without that
setting nothing is written (and the job says so in its result and the worker's log)."""

from __future__ import annotations

import logging

from jobs.app import worker_app
from webapp.services import control_backup

log = logging.getLogger(__name__)

BACKUP_EVERY = 24 * 3600  # seconds


def backup_control_plane() -> dict[str, str | None]:
    app = worker_app()
    with app.app_context():
        dest = app.config["MAILFLEET_CONTROL_BACKUP_DIR"]
        if not dest:
            log.warning("MAILFLEET_CONTROL_BACKUP_DIR is not set: the control plane is not backed up")
            return {"file": None}
        path = control_backup.create(app, dest, app.config["MAILFLEET_CONTROL_BACKUP_KEEP"])
        log.info("control plane backed up to %s", path)
        return {"file": str(path)}
