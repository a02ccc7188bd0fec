"""A run's admission: the locks of the servers it touches and a place within the tenant's and the
whole fleet's concurrency limits, held in Redis under a lease.

Two runs never touch the same server at the same time, whatever their tenant or playbook: a run
takes ``<queue>:server:<id>`` of every server in its inventory (its limit's, or all of its
tenant's) before it starts, all or none in one Lua script. Runs on different servers go in
parallel, up to MAILFLEET_MAX_RUNS_PER_TENANT of one tenant and MAILFLEET_MAX_RUNS in all (sorted
sets of run ids scored by lease expiry, so a dead holder's place frees itself), and no worker
machine takes runs costing more forks than it affords (jobs.capacity).

A run is admitted once: while its record lives, another attempt at it (its job enqueued again by a
run that ended while it was being claimed) is refused and takes nothing, so it cannot give up
the holds of the attempt that runs it.

Keys are named after the playbook queue (MAILFLEET_QUEUE), so control planes sharing a Redis keep
apart. Every key carries the run's lease (MAILFLEET_LEASE_SECONDS), renewed with the database lease while
the run lives; a worker that dies without releasing leaves locks that expire on their own. Times
are Redis's own clock (TIME), so workers on several machines need no agreement on the hour.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app
from redis import Redis
from sqlalchemy import select

from jobs import capacity
from jobs.inventory import TARGET_STATUSES
from webapp.extensions import db
from webapp.models import Run, Server
from webapp.queue import JobQueue, redis_connection

log = logging.getLogger(__name__)


# KEYS: the server locks, then the tenant's runs, the fleet's runs, the machine's runs and their
# costs, the run's own record. ARGV: run id, lease (ms), tenant limit, fleet limit, the record's
# value (machine|server ids), the run's cost, the machine's capacity (forks).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local run, lease = ARGV[1], tonumber(ARGV[2])
local n = #KEYS - 5
local tenant, fleet, machine, costs, record = KEYS[n + 1], KEYS[n + 2], KEYS[n + 3], KEYS[n + 4], KEYS[n + 5]
local claimed = redis.call('GET', record)
if claimed then return {'claimed', record, claimed} end
for i = 1, n do
  local holder = redis.call('GET', KEYS[i])
  if holder and holder ~= run then return {'server', KEYS[i], holder} end
end
redis.call('ZREMRANGEBYSCORE', tenant, '-inf', now)
redis.call('ZREMRANGEBYSCORE', fleet, '-inf', now)
if not redis.call('ZSCORE', tenant, run) and redis.call('ZCARD', tenant) >= tonumber(ARGV[3]) then
  return {'tenant', tenant, ARGV[3]}
end
if not redis.call('ZSCORE', fleet, run) and redis.call('ZCARD', fleet) >= tonumber(ARGV[4]) then
  return {'fleet', fleet, ARGV[4]}
end
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', machine, '-inf', now)) do
  redis.call('HDEL', costs, gone)
end
redis.call('ZREMRANGEBYSCORE', machine, '-inf', now)
local cost, capacity = tonumber(ARGV[6]), tonumber(ARGV[7])
if not redis.call('ZSCORE', machine, run) then
  local used = 0
  for _, c in ipairs(redis.call('HVALS', costs)) do used = used + tonumber(c) end
  if used > 0 and used + cost > capacity then return {'worker', machine, used .. ' of ' .. capacity} end
end
for i = 1, n do redis.call('SET', KEYS[i], run, 'PX', lease) end
for _, zset in ipairs({tenant, fleet, machine}) do
  redis.call('ZADD', zset, now + lease, run)
  redis.call('PEXPIRE', zset, 2 * lease)
end
redis.call('HSET', costs, run, cost)
redis.call('PEXPIRE', costs, 2 * lease)
redis.call('SET', record, ARGV[5], 'PX', lease)
return false
"""

# KEYS as _ACQUIRE; ARGV: run id, lease (ms). Returns how many of the run's holds were gone.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local run, lease = ARGV[1], tonumber(ARGV[2])
local n = #KEYS - 5
local lost = 0
for i = 1, n do
  if redis.call('GET', KEYS[i]) == run then redis.call('PEXPIRE', KEYS[i], lease) else lost = lost + 1 end
end
redis.call('PEXPIRE', KEYS[n + 4], 2 * lease)
for i = n + 1, n + 3 do
  local until_ms = redis.call('ZSCORE', KEYS[i], run)
  if until_ms and tonumber(until_ms) > now then
    redis.call('ZADD', KEYS[i], now + lease, run)
    redis.call('PEXPIRE', KEYS[i], 2 * lease)
  else
    lost = lost + 1
  end
end
redis.call('PEXPIRE', KEYS[n + 5], lease)
return lost
"""

# KEYS as _ACQUIRE; ARGV: run id. Drops only what the run itself holds.
_RELEASE = """
local run = ARGV[1]
local n = #KEYS - 5
for i = 1, n do
  if redis.call('GET', KEYS[i]) == run then redis.call('DEL', KEYS[i]) end
end
for i = n + 1, n + 3 do redis.call('ZREM', KEYS[i], run) end
redis.call('HDEL', KEYS[n + 4], run)
redis.call('DEL', KEYS[n + 5])
return 0
"""


@dataclass(frozen=True)
class Refusal:
    """Why a run must wait: the kind of hold it ran into and what holds it."""

    kind: str  # claimed | server | tenant | fleet | worker
    key: str
    holder: str  # the run's record; the run holding the server; the limit; the machine's forks in use

    def __str__(self) -> str:
        if self.kind == "claimed":
            return f"it is being started on worker {self.holder.split('|')[0]}"
        if self.kind == "server":
            return f"server {self.key.rsplit(':', 1)[1]} is busy with run {self.holder}"
        if self.kind == "worker":
            return f"worker {self.key.split(':')[-2]} has {self.holder} forks in use"
        return f"the {self.kind}'s limit of {self.holder} concurrent runs is reached"


def _prefix() -> str:
    return f"{JobQueue.RUNS.name_in(current_app.config)}:"


def server_key(server_id: int) -> str:
    return f"{_prefix()}server:{server_id}"


def tenant_key(tenant_id: int) -> str:
    return f"{_prefix()}tenant:{tenant_id}:runs"


def fleet_key() -> str:
    return f"{_prefix()}runs"


def machine_key(machine: str) -> str:
    return f"{_prefix()}worker:{machine}:runs"


def record_key(run_id: int) -> str:
    return f"{_prefix()}run:{run_id}:holds"


def run_servers(run: Run) -> list[int]:
    """The ids of the servers the run's inventory holds: those of its limit, else all its tenant's."""
    stmt = select(Server.id, Server.name).where(
        Server.tenant_id == run.tenant_id, Server.status.in_(TARGET_STATUSES)
    )
    wanted = set(run.limit.split(",")) if run.limit else None
    return sorted(sid for sid, name in db.session.execute(stmt) if wanted is None or name in wanted)


def _keys(run: Run, machine: str, servers: list[int]) -> list[str]:
    return [
        *(server_key(s) for s in servers),
        tenant_key(run.tenant_id),
        fleet_key(),
        machine_key(machine),
        f"{machine_key(machine)}:cost",
        record_key(run.id),
    ]


def _lease_ms() -> int:
    return int(current_app.config["MAILFLEET_LEASE_SECONDS"] * 1000)


def _redis() -> Redis:
    return redis_connection()


def admit(run: Run) -> Refusal | None:
    """Take the run's holds on this machine (all or none); the Refusal when it must wait."""
    servers = run_servers(run)
    machine = capacity.worker_name()
    keys = _keys(run, machine, servers)
    config = current_app.config
    refused = _redis().eval(
        _ACQUIRE,
        len(keys),
        *keys,
        run.id,
        _lease_ms(),
        config["MAILFLEET_MAX_RUNS_PER_TENANT"],
        config["MAILFLEET_MAX_RUNS"],
        f"{machine}|{','.join(map(str, servers))}",
        capacity.run_cost(len(servers)),
        capacity.capacity().forks,
    )
    if not refused:
        return None
    kind, key, holder = (part.decode() if isinstance(part, bytes) else str(part) for part in refused)
    return Refusal(kind, key, holder)


def _held_keys(run: Run) -> list[str]:
    """The keys the run took (from its record; once that expired, those it may still be in)."""
    recorded = _redis().get(record_key(run.id))
    if not recorded:
        return _keys(run, run.worker_host or capacity.worker_name(), [])
    machine, servers = (recorded.decode() if isinstance(recorded, bytes) else recorded).split("|")
    return _keys(run, machine, [int(s) for s in servers.split(",") if s])


def renew(run: Run) -> int:
    """Extend the run's holds by a lease; the number it had lost (0 while all is well)."""
    keys = _held_keys(run)
    lost = int(_redis().eval(_RENEW, len(keys), *keys, run.id, _lease_ms()))
    if lost:
        log.warning("run %s: %d of its holds had expired (its worker stalled past the lease)", run.id, lost)
    return lost


def release(run: Run) -> None:
    """Drop what the run holds (nothing another run took after its lease expired)."""
    keys = _held_keys(run)
    _redis().eval(_RELEASE, len(keys), *keys, run.id)
