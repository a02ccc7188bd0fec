"""The Flask config, from the declared settings (mailfleet.settings), read when the app is created
(never at import)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mailfleet import logs
from mailfleet.files import private_dir
from mailfleet.settings import REPO_DIR, Settings
from webapp.errors import ConfigError

__all__ = ["REPO_DIR", "load_config"]


def _secret_key(settings: Settings, data_dir: Path) -> str:
    """MAILFLEET_SECRET_KEY(_FILE), else a key generated once into the data directory (0600)."""
    key = settings["MAILFLEET_SECRET_KEY"]
    if key:
        return key
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        private_dir(data_dir)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return key_file.read_text(encoding="utf-8").strip()


def _sentinels(entries: tuple[str, ...]) -> list[tuple[str, int]]:
    addresses = []
    for entry in entries:
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"MAILFLEET_REDIS_SENTINELS: {entry!r} is not host:port")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def load_config(env: Mapping[str, str] | None = None, *, with_secret_key: bool = True) -> dict[str, Any]:
    """The Flask config mapping for ``env`` (default: os.environ, read now).

    ``with_secret_key=False`` skips reading (or generating) the session key: the caller brings one.
    """
    settings = Settings(env, error=ConfigError)
    data_dir = settings["MAILFLEET_DATA_DIR"]
    insecure_cookies = settings["MAILFLEET_INSECURE_COOKIES"]
    run_timeout = settings["MAILFLEET_RUN_TIMEOUT"]
    repo_dir = settings["MAILFLEET_REPO_DIR"]
    config = {
        "MAILFLEET_DATA_DIR": data_dir,
        "SQLALCHEMY_DATABASE_URI": settings["DATABASE_URL"] or f"sqlite:///{data_dir / 'mailfleet.db'}",
        "REDIS_URL": settings["REDIS_URL"],
        "MAILFLEET_REDIS_SENTINELS": _sentinels(settings["MAILFLEET_REDIS_SENTINELS"]),
        "MAILFLEET_REDIS_SENTINEL_MASTER": settings["MAILFLEET_REDIS_SENTINEL_MASTER"],
        "MAILFLEET_QUEUE": settings["MAILFLEET_QUEUE"],
        "MAILFLEET_SYSTEM_QUEUE": settings["MAILFLEET_SYSTEM_QUEUE"],
        "MAILFLEET_REAPER_QUEUE": settings["MAILFLEET_REAPER_QUEUE"],
        # Cookies are Secure unless a person explicitly runs a plain-http demo on localhost.
        "SESSION_COOKIE_SECURE": not insecure_cookies,
        "REMEMBER_COOKIE_SECURE": not insecure_cookies,
        "SESSION_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": settings["MAILFLEET_SESSION_SECONDS"],
        "MAILFLEET_RUN_TIMEOUT": run_timeout,
        # RQ kills the work-horse only after runner's own timeout had its chance.
        "MAILFLEET_JOB_TIMEOUT": run_timeout + 120,
        "MAILFLEET_REPO_DIR": repo_dir,
        "MAILFLEET_PLAYBOOK_DIR": settings["MAILFLEET_PLAYBOOK_DIR"] or repo_dir / "playbooks",
    }
    for name in (
        "MAILFLEET_LEASE_SECONDS", "MAILFLEET_MAX_RUNS", "MAILFLEET_MAX_RUNS_PER_TENANT",
        "MAILFLEET_WORKER_FORKS", "MAILFLEET_LOGIN_MAX_FAILURES", "MAILFLEET_LOGIN_WINDOW_SECONDS",
        "MAILFLEET_TRUSTED_PROXIES", "MAILFLEET_EVENT_RETENTION_DAYS", "MAILFLEET_MAILU_URL",
        "MAILFLEET_MAILU_VERIFY", "HOSTWINDS_API_URL", "DIGITALOCEAN_API_URL", "MAILFLEET_PROVIDERS",
        "MAILFLEET_PROVIDER_CACHE_SECONDS",
        "MAILFLEET_MAIL_ZONE", "MAILFLEET_SITE_VARS_FILE", "MAILFLEET_DNS_READINESS", "MAILFLEET_DNS_PANEL",
        "MAILFLEET_CONTROL_BACKUP_DIR", "MAILFLEET_CONTROL_BACKUP_KEEP", "MAILFLEET_CONTROL_BACKUP_KEY",
        "MAILFLEET_BACKUP_DRILL_DAYS", "MAILFLEET_BACKUP_DRILL_TARGET",
        "MAILFLEET_USAGE_KEEP_5MIN_DAYS", "MAILFLEET_USAGE_KEEP_HOURLY_DAYS",
        "MAILFLEET_USAGE_KEEP_DAILY_DAYS", "MAILFLEET_DISK_FORECAST_WARNING_DAYS",
        "MAILFLEET_DISK_FORECAST_CRITICAL_DAYS", "MAILFLEET_LOG_FORMAT", "MAILFLEET_HEALTH_SWEEP_SECONDS",
        "MAILFLEET_FLEET_BUDGET", "MAILFLEET_PRICE_BACKUP_GB", "MAILFLEET_PRICE_BANDWIDTH_OVERAGE_GB",
        "MAILFLEET_PRICE_NEW_IP", "MAILFLEET_PRICE_EXTRA_IP", "MAILFLEET_IP_SWITCH_COOLDOWN_HOURS",
        "MAILFLEET_AUTOSCALE_COOLDOWN_HOURS",
        "MAILFLEET_CAPACITY_MIN_HISTORY_DAYS", "MAILFLEET_FAILOVER_AFTER_MINUTES",
        "MAILFLEET_COST_ALLOCATION_DRIVER", "MAILFLEET_COST_IDLE",
    ):
        config[name] = settings[name]
    readiness = config["MAILFLEET_DNS_READINESS"]
    if readiness not in ("enforce", "off"):
        raise ConfigError(f"MAILFLEET_DNS_READINESS={readiness!r} must be enforce or off")
    if config["MAILFLEET_DISK_FORECAST_CRITICAL_DAYS"] > config["MAILFLEET_DISK_FORECAST_WARNING_DAYS"]:
        raise ConfigError(
            "MAILFLEET_DISK_FORECAST_CRITICAL_DAYS must be at most MAILFLEET_DISK_FORECAST_WARNING_DAYS"
        )
    if config["MAILFLEET_LOG_FORMAT"] not in (None, *logs.FORMATS):
        raise ConfigError(f"MAILFLEET_LOG_FORMAT={config['MAILFLEET_LOG_FORMAT']!r} must be text or json")
    if with_secret_key:
        config["SECRET_KEY"] = _secret_key(settings, data_dir)
    return config
