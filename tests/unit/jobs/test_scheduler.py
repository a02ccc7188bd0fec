"""Exactly one scheduler: the lock mailfleet-cron takes in Redis before it starts."""

from __future__ import annotations

import fakeredis
import pytest
from rq.exceptions import StopRequested

from jobs.scheduler import LOCK_KEY, LOCK_SECONDS, LockedCronScheduler, SchedulerLocked

pytestmark = pytest.mark.unit


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def _scheduler(server: fakeredis.FakeServer, name: str) -> LockedCronScheduler:
    return LockedCronScheduler(fakeredis.FakeRedis(server=server), name=name)


def test_a_second_scheduler_refuses_to_start_and_names_the_first(server):
    first = _scheduler(server, "host-a:101")
    first.acquire()
    with pytest.raises(SchedulerLocked) as refused:
        _scheduler(server, "host-b:202").acquire()
    assert (
        str(refused.value) == f"another rq cron scheduler holds {LOCK_KEY} (host-a:101); exactly one may run"
    )


def test_the_lock_is_renewed_at_each_heartbeat_and_freed_at_exit(server):
    first = _scheduler(server, "host-a:101")
    first.acquire()
    first.register_birth()
    first.connection.expire(LOCK_KEY, 5)
    first.heartbeat()
    assert first.connection.ttl(LOCK_KEY) > LOCK_SECONDS - 5
    first.register_death()
    assert first.connection.get(LOCK_KEY) is None
    _scheduler(server, "host-b:202").acquire()  # the next one starts at once


def test_a_scheduler_whose_lock_was_taken_stops_and_leaves_it_alone(server):
    first = _scheduler(server, "host-a:101")
    first.acquire()
    first.register_birth()
    first.connection.delete(LOCK_KEY)  # expired while the host was frozen ...
    _scheduler(server, "host-b:202").acquire()  # ... and another took over
    with pytest.raises(StopRequested):
        first.heartbeat()
    first.register_death()
    assert first.connection.get(LOCK_KEY) == b"host-b:202"


def test_a_dead_schedulers_lock_expires(server):
    first = _scheduler(server, "host-a:101")
    first.acquire()
    assert 0 < first.connection.ttl(LOCK_KEY) <= LOCK_SECONDS
