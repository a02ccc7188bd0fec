"""``mailfleet-preflight``: what every service checks before it starts (systemd's ExecStartPre).

It refuses with one line on stderr and exit status 1 when a setting is malformed, a secret's file
cannot be read, the database URL is not set (production never falls back to a SQLite file) or
the database or Redis does not answer. It never prints a URL (they may hold a password).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from sqlalchemy import create_engine, text

from mailfleet.settings import Settings
from webapp.config import load_config
from webapp.errors import ConfigError
from webapp.queue import connect

__all__ = ["PreflightError", "check", "main", "reachable"]

CONNECT_SECONDS = 5


class PreflightError(Exception):
    """A reason not to start; the message is the one line printed."""


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def reachable(config: Mapping[str, Any]) -> None:
    """The database and Redis (through the sentinels when set) answer; PreflightError if not.
    rq workers check this when they start too (jobs.rqconfig)."""
    url = config["SQLALCHEMY_DATABASE_URI"]
    connect_args = {"connect_timeout": CONNECT_SECONDS} if url.startswith("postgresql") else {}
    engine = create_engine(url, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver's failure to connect
        raise PreflightError(f"DATABASE_URL: the database does not answer ({_first_line(exc)})") from None
    finally:
        engine.dispose()
    redis = connect(config)
    try:
        redis.ping()
    except Exception as exc:  # connection refused, timeout, authentication, no primary known
        raise PreflightError(f"REDIS_URL: Redis does not answer ({_first_line(exc)})") from None
    finally:
        redis.close()


def check(env: dict[str, str] | None = None) -> str:
    try:
        config = load_config(env, with_secret_key=False)
    except ConfigError as exc:
        raise PreflightError(str(exc)) from None
    if not Settings(env).raw("DATABASE_URL"):
        raise PreflightError(
            "DATABASE_URL (or DATABASE_URL_FILE) is not set: the services need the production database"
        )
    reachable(config)
    return "settings, secret files, the database and Redis are fine"


def main() -> int:
    try:
        print(f"mailfleet-preflight: {check()}")
    except PreflightError as exc:
        print(f"mailfleet-preflight: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
