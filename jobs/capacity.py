"""What a worker machine can hold and what a run costs, in Ansible forks.

A machine affords the smaller of two budgets (the rule AWX sizes its instances by): 4 forks per
CPU, and 100 MB of memory per fork once 2 GB are kept for the system; MAILFLEET_WORKER_FORKS
sets it by hand. A run costs the forks it can use at once: one per host of its inventory (its
servers and the controller), at most ansible.cfg's ``forks``. jobs.admission keeps the runs of
one machine within its budget; a run bigger than a whole machine runs there alone.
"""

from __future__ import annotations

import configparser
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from flask import current_app

from mailfleet.clock import utcnow
from webapp.queue import JobQueue, redis_connection

FORKS_PER_CPU = 4
MB_PER_FORK = 100
RESERVED_MB = 2048
#: ansible-playbook's own default when ansible.cfg sets none.
DEFAULT_FORKS = 5


@dataclass(frozen=True)
class Capacity:
    forks: int
    cpus: int
    memory_mb: int


def worker_name() -> str:
    """The machine a worker runs on, as runs record it (Run.worker_host)."""
    return socket.gethostname()


def _memory_mb(meminfo: Path = Path("/proc/meminfo")) -> int:
    for line in meminfo.read_text(encoding="ascii").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"{meminfo} has no MemTotal")


def measure(cpus: int | None = None, memory_mb: int | None = None) -> Capacity:
    """This machine's budget (``cpus``/``memory_mb`` given: that machine's)."""
    cpus = cpus if cpus is not None else len(os.sched_getaffinity(0))
    memory_mb = memory_mb if memory_mb is not None else _memory_mb()
    by_cpu = cpus * FORKS_PER_CPU
    by_memory = (memory_mb - RESERVED_MB) // MB_PER_FORK
    return Capacity(max(1, min(by_cpu, by_memory)), cpus, memory_mb)


def capacity() -> Capacity:
    """The worker's budget: MAILFLEET_WORKER_FORKS when set, else measured."""
    measured = measure()
    forks = current_app.config["MAILFLEET_WORKER_FORKS"]
    return Capacity(forks, measured.cpus, measured.memory_mb) if forks else measured


def ansible_forks(repo_dir: Path) -> int:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(repo_dir / "ansible.cfg")
    return parser.getint("defaults", "forks", fallback=DEFAULT_FORKS)


def run_cost(servers: int) -> int:
    """Forks a run with ``servers`` servers uses at once (its hosts plus the controller)."""
    return min(servers + 1, ansible_forks(current_app.config["MAILFLEET_REPO_DIR"]))


def workers_key() -> str:
    return f"{JobQueue.RUNS.name_in(current_app.config)}:workers"


def report() -> Capacity:
    """Publish this machine's budget (``<queue>:workers``, by machine name) and return it."""
    held = capacity()
    redis_connection().hset(
        workers_key(), worker_name(), json.dumps({**asdict(held), "reported_at": utcnow().isoformat()})
    )
    return held


def reported() -> dict[str, dict[str, object]]:
    """Every machine's last report, by machine name."""
    return {
        (name.decode() if isinstance(name, bytes) else name): json.loads(value)
        for name, value in redis_connection().hgetall(workers_key()).items()
    }
