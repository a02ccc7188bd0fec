"""The instance's state file: which processes and hosts it started. Guarded by a file lock so the
CLI, test sessions and the Hostwinds double can change it at the same time."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_suffix(".lock")

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        """Yield the state for reading and changing; it is written back when the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read()
            try:
                yield data
            finally:  # also on errors: what was started before the error must stay recorded
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
                os.replace(tmp, self.path)

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            data = {}
        data.setdefault("processes", {})
        data.setdefault("hosts", {})
        data.setdefault("zones", [])
        data.setdefault("signed_zones", [])
        return data
