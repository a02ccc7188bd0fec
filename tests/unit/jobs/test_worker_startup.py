"""A worker that cannot work stops at once with one line saying why: rq reads jobs.rqconfig before
anything else, and it checks Redis and the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

RQ = Path(sys.executable).parent / "rq"


def start_worker(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "MAILFLEET_DATA_DIR": str(tmp_path),
        **env,
    }
    return subprocess.run(
        [str(RQ), "worker", "--burst", "-c", "jobs.rqconfig", "-S", "rq.serializers.JSONSerializer", "q"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,  # the bound only keeps a broken build from hanging
    )


@pytest.fixture
def redis_socket(tmp_path, start_redis):
    with start_redis(tmp_path, "--requirepass", "the-right-one") as sock:
        yield sock


def test_a_wrong_redis_password_stops_the_worker_with_one_line(tmp_path, redis_socket):
    done = start_worker(tmp_path, REDIS_URL=f"unix://:not-it@{redis_socket}?db=0")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "mailfleet-preflight: REDIS_URL: Redis does not answer "
        "(invalid username-password pair or user is disabled.)"
    ]


def test_an_unreachable_database_stops_the_worker_with_one_line(tmp_path, redis_socket):
    done = start_worker(
        tmp_path,
        REDIS_URL=f"unix://:the-right-one@{redis_socket}?db=0",
        DATABASE_URL="postgresql+psycopg://mailfleet:db-secret@127.0.0.1:1/mailfleet",
    )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("mailfleet-preflight: DATABASE_URL: the database does not answer (")
    assert "Connection refused" in line
    assert "db-secret" not in done.stderr


def test_a_worker_that_can_reach_both_starts(tmp_path, redis_socket):
    done = start_worker(tmp_path, REDIS_URL=f"unix://:the-right-one@{redis_socket}?db=0")
    assert done.returncode == 0, done.stderr
