"""Settings for the rq command line (``rq worker-pool -c jobs.rqconfig``): the queue's Redis as the
control plane reaches it (REDIS_URL, or through MAILFLEET_REDIS_SENTINELS).

rq reads this module when it starts, so a worker that cannot work stops here with
mailfleet-preflight's one line (a malformed setting, a wrong Redis password, Redis or the database
out of reach) instead of a traceback or a worker that takes jobs it can only fail.
"""

from __future__ import annotations

from webapp.config import load_config
from webapp.errors import ConfigError
from webapp.preflight import PreflightError, reachable
from webapp.queue import sentinel_settings

try:
    _config = load_config(with_secret_key=False)
    reachable(_config)
except (ConfigError, PreflightError) as exc:
    raise SystemExit(f"mailfleet-preflight: {exc}") from None

_sentinel = sentinel_settings(_config)
if _sentinel is None:
    REDIS_URL = _config["REDIS_URL"]
else:
    SENTINEL = {
        "INSTANCES": _sentinel["instances"],
        "MASTER_NAME": _sentinel["master"],
        "USERNAME": _sentinel["login"].get("username"),
        "PASSWORD": _sentinel["login"].get("password"),
        "DB": _sentinel["login"].get("db", 0),
        "SOCKET_TIMEOUT": 30,
        "CONNECTION_KWARGS": {"socket_connect_timeout": 5},
        "SENTINEL_KWARGS": {"socket_timeout": 5, "socket_connect_timeout": 5},
    }
