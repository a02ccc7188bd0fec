"""Settings for the rq command line (``rq worker-pool -c jobs.rqconfig``, ``rq cron -c ...``): the
queue's Redis as the control plane reaches it (REDIS_URL, or through MAILFLEET_REDIS_SENTINELS).

rq reads this module when it starts, so a worker that cannot work stops here with one line saying
why (a wrong Redis password, Redis or the database out of reach) instead of a traceback or a
worker that takes jobs it can only fail.
"""

from __future__ import annotations

from redis.exceptions import AuthenticationError, RedisError
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from webapp.config import load_config
from webapp.errors import ConfigError
from webapp.queue import connect, sentinel_settings


def _where(config: dict) -> str:
    sentinel = sentinel_settings(config)
    if sentinel is None:
        return "REDIS_URL"
    return f"the primary of {sentinel['master']!r} (MAILFLEET_REDIS_SENTINELS)"


def preflight(config: dict) -> None:
    """Raise SystemExit with one line if Redis or the database cannot be used."""
    try:
        connect(config).ping()
    except AuthenticationError as exc:
        raise SystemExit(f"mailfleet: Redis at {_where(config)} refused the login: {exc}") from None
    except RedisError as exc:
        raise SystemExit(f"mailfleet: cannot reach Redis at {_where(config)}: {exc}") from None
    engine = create_engine(config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise SystemExit(f"mailfleet: cannot reach the database (DATABASE_URL): {reason}") from None
    finally:
        engine.dispose()


try:
    _config = load_config(with_secret_key=False)
except ConfigError as exc:
    raise SystemExit(f"mailfleet: {exc}") from None
preflight(_config)
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
