"""Log lines of every mailfleet process, as text or as JSON (MAILFLEET_LOG_FORMAT), with the run id
and tenant on every line logged while a run is being worked on.

``run_context(run_id, tenant)`` marks the lines; a filter on the handler copies the marks onto
each record, so loggers anywhere below (the bridge, the secrets store, a client) need nothing.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

__all__ = ["FORMATS", "JsonFormatter", "configure", "run_context"]

FORMATS = ("text", "json")
_RUN: ContextVar[tuple[int, str] | None] = ContextVar("mailfleet_run", default=None)
_TEXT = "%(asctime)s %(levelname)s %(name)s%(run_marks)s: %(message)s"
_HANDLER_NAME = "mailfleet"


@contextmanager
def run_context(run_id: int, tenant: str) -> Iterator[None]:
    token = _RUN.set((run_id, tenant))
    try:
        yield
    finally:
        _RUN.reset(token)


class _RunMarks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        run = _RUN.get()
        record.run_id, record.tenant = run if run is not None else (None, None)
        record.run_marks = f" [run {run[0]} tenant {run[1]}]" if run is not None else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, run_id, tenant, and
    the traceback as ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "run_id": getattr(record, "run_id", None),
            "tenant": getattr(record, "tenant", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Put the one mailfleet handler (stderr) on the root logger; called again, it is replaced."""
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r}: use {' or '.join(FORMATS)}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_RunMarks())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT))
    root.addHandler(handler)
    root.setLevel(level)
