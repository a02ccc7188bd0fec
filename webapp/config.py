"""Settings from the environment, read when the app is created (never at import).

Every setting has one name, one type and one default here. Secrets also accept ``<NAME>_FILE``
(a path whose content is the value), so they can come from files mounted with mode 0600 instead
of the process environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mailfleet.files import private_dir
from webapp.errors import ConfigError

#: The repository root: playbooks/, ansible.cfg and migrations/ live here.
REPO_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = "/var/lib/mailfleet"


def _read(env: Mapping[str, str], name: str, *, secret: bool = False) -> str | None:
    value = env.get(name)
    if secret and value is None and env.get(f"{name}_FILE"):
        path = Path(env[f"{name}_FILE"])
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={path}: cannot read it ({exc.strerror})") from None
    return value if value not in (None, "") else None


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _setting(env: Mapping[str, str], name: str, default: Any, convert: Callable[[str, str], Any]) -> Any:
    raw = _read(env, name)
    return default if raw is None else convert(name, raw)


def _secret_key(env: Mapping[str, str], data_dir: Path) -> str:
    """MAILFLEET_SECRET_KEY(_FILE), else a key generated once into the data directory (0600)."""
    key = _read(env, "MAILFLEET_SECRET_KEY", secret=True)
    if key:
        return key
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        private_dir(data_dir)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return key_file.read_text(encoding="utf-8").strip()


def load_config(env: Mapping[str, str] | None = None, *, with_secret_key: bool = True) -> dict[str, Any]:
    """The Flask config mapping for ``env`` (default: os.environ, read now).

    ``with_secret_key=False`` skips reading (or generating) the session key: the caller brings one.
    """
    env = os.environ if env is None else env
    data_dir = Path(_read(env, "MAILFLEET_DATA_DIR") or DEFAULT_DATA_DIR)
    database_url = _read(env, "DATABASE_URL", secret=True) or f"sqlite:///{data_dir / 'mailfleet.db'}"
    insecure_cookies = _setting(env, "MAILFLEET_INSECURE_COOKIES", False, _bool)
    run_timeout = _setting(env, "MAILFLEET_RUN_TIMEOUT", 3600, lambda n, v: _int(n, v, 10))
    config = {
        "MAILFLEET_DATA_DIR": data_dir,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": _read(env, "REDIS_URL", secret=True) or "redis://127.0.0.1:6379/0",
        # Playbook runs; system jobs (reaper, refreshes, sweeps, periodic submissions) have their
        # own queue and worker so they never wait behind a full playbook queue.
        "MAILFLEET_QUEUE": _read(env, "MAILFLEET_QUEUE") or "mailfleet",
        "MAILFLEET_SYSTEM_QUEUE": _read(env, "MAILFLEET_SYSTEM_QUEUE") or "mailfleet-system",
        # The reaper alone, on a worker of its own: a long sweep or refresh never delays it.
        "MAILFLEET_REAPER_QUEUE": _read(env, "MAILFLEET_REAPER_QUEUE") or "mailfleet-reaper",
        # Cookies are Secure unless a person explicitly runs a plain-http demo on localhost.
        "SESSION_COOKIE_SECURE": not insecure_cookies,
        "REMEMBER_COOKIE_SECURE": not insecure_cookies,
        "SESSION_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": _setting(env, "MAILFLEET_SESSION_SECONDS", 8 * 3600, _int),
        "MAILFLEET_RUN_TIMEOUT": run_timeout,
        # RQ kills the work-horse only after runner's own timeout had its chance.
        "MAILFLEET_JOB_TIMEOUT": run_timeout + 120,
        "MAILFLEET_LEASE_SECONDS": _setting(env, "MAILFLEET_LEASE_SECONDS", 60, lambda n, v: _int(n, v, 5)),
        "MAILFLEET_LOGIN_MAX_FAILURES": _setting(env, "MAILFLEET_LOGIN_MAX_FAILURES", 5, _int),
        "MAILFLEET_LOGIN_WINDOW_SECONDS": _setting(env, "MAILFLEET_LOGIN_WINDOW_SECONDS", 900, _int),
        # How many reverse proxies in front of the app append to X-Forwarded-For/-Proto. Only
        # then is the client address (login rate limits) taken from that header, from the
        # rightmost entry those proxies added; 0 ignores the headers (anyone can send them).
        "MAILFLEET_TRUSTED_PROXIES": _setting(env, "MAILFLEET_TRUSTED_PROXIES", 0, _int),
        "MAILFLEET_EVENT_RETENTION_DAYS": _setting(env, "MAILFLEET_EVENT_RETENTION_DAYS", 90, _int),
        # Where the Mailu admin API of a server lives; {host} is the server's name.
        "MAILFLEET_MAILU_URL": _read(env, "MAILFLEET_MAILU_URL") or "https://{host}/api/v1",
        "MAILFLEET_MAILU_VERIFY": _setting(env, "MAILFLEET_MAILU_VERIFY", True, _bool),
        "HOSTWINDS_API_URL": _read(env, "HOSTWINDS_API_URL") or None,
        # The provider's locations and plans are read at most this often (forms offer them).
        "MAILFLEET_PROVIDER_CACHE_SECONDS": _setting(env, "MAILFLEET_PROVIDER_CACHE_SECONDS", 300, _int),
        # The zone this deployment's DNS serves: forms suggest names under it.
        "MAILFLEET_MAIL_ZONE": _read(env, "MAILFLEET_MAIL_ZONE") or "example.com",
        # The site variables every run gets; the web app reads its DNS provider settings from it
        # to check that a new domain's zone can be updated.
        "MAILFLEET_SITE_VARS_FILE": _read(env, "MAILFLEET_SITE_VARS_FILE"),
        "MAILFLEET_REPO_DIR": Path(_read(env, "MAILFLEET_REPO_DIR") or REPO_DIR),
        "MAILFLEET_PLAYBOOK_DIR": Path(_read(env, "MAILFLEET_PLAYBOOK_DIR") or REPO_DIR / "playbooks"),
    }
    if with_secret_key:
        config["SECRET_KEY"] = _secret_key(env, data_dir)
    return config
