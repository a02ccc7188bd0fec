"""Every environment variable the control plane, its jobs, its monitoring and the secrets store read,
declared once: name, type, default, whether it is a secret, and what it is for.

Values are read when asked for (never at import), from a snapshot of the environment taken by
``Settings(env)``. One rule for secrets everywhere: ``<NAME>`` wins when it is set and not empty;
otherwise ``<NAME>_FILE`` names a file whose content (stripped) is the value, so a secret can come
from a file mounted with mode 0600 instead of the process environment. Only settings declared
secret take ``_FILE``. An empty variable counts as unset.

The README's settings table is generated from ``SETTINGS`` (``python scripts/settings_table.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The repository root (playbooks/, ansible.cfg, migrations/) when running from a checkout.
REPO_DIR = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting is malformed or a secret's file cannot be read; the message names the variable."""


def _str(name: str, raw: str) -> str:
    return raw


def _path(name: str, raw: str) -> Path:
    return Path(raw)


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true or false)")


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None


def _list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "str": _str,
    "path": _path,
    "bool": _bool,
    "int": _int,
    "float": _float,
    "list": _list,
}


@dataclass(frozen=True)
class Setting:
    name: str
    type: str  # a key of _PARSERS
    default: Any
    help: str
    group: str
    secret: bool = False
    #: Secrets take <NAME>_FILE unless that name means something else (the master key's file).
    takes_file: bool = True
    minimum: float | None = None
    #: An empty value means "none" rather than "unset, take the default" (the Vault prefix).
    empty_is_value: bool = False
    #: How the README shows a default computed at run time (None: the default itself).
    default_text: str | None = None
    #: The values a "str" setting may take (None: any).
    choices: tuple[str, ...] | None = None

    def parse(self, raw: str) -> Any:
        value = _PARSERS[self.type](self.name, raw)
        if self.minimum is not None and value < self.minimum:
            raise SettingsError(f"{self.name}={value} must be at least {self.minimum:g}")
        if self.choices is not None and value not in self.choices:
            raise SettingsError(f"{self.name}={value!r} must be one of {', '.join(self.choices)}")
        return value


def _s(name: str, type_: str, default: Any, help_: str, group: str, **kwargs: Any) -> Setting:
    return Setting(name, type_, default, help_, group, **kwargs)


CONTROL_PLANE, JOBS, MONITORING, SECRETS_STORE = "control plane", "jobs", "monitoring", "secrets store"
_WEB, _JOBS, _MON, _STORE = CONTROL_PLANE, JOBS, MONITORING, SECRETS_STORE

SETTINGS: tuple[Setting, ...] = (
    # The control plane (web app and workers).
    _s(
        "MAILFLEET_DATA_DIR",
        "path",
        Path("/var/lib/mailfleet"),
        "Database file, session key, run folders.",
        _WEB,
    ),
    _s(
        "DATABASE_URL",
        "str",
        None,
        "SQLAlchemy URL (PostgreSQL in production).",
        _WEB,
        secret=True,
        default_text="a SQLite file in the data dir",
    ),
    _s("REDIS_URL", "str", "redis://127.0.0.1:6379/0", "The queue's Redis.", _WEB, secret=True),
    _s(
        "MAILFLEET_REDIS_SENTINELS",
        "list",
        (),
        "Redis Sentinels as host:port, comma-separated: the web app and the workers follow the "
        "primary they name (REDIS_URL then gives only the password and database).",
        _WEB,
    ),
    _s(
        "MAILFLEET_REDIS_SENTINEL_MASTER",
        "str",
        "mailfleet",
        "The master's name the sentinels monitor.",
        _WEB,
    ),
    _s(
        "MAILFLEET_SECRET_KEY",
        "str",
        None,
        "Signs sessions.",
        _WEB,
        secret=True,
        default_text="generated once into the data dir",
    ),
    _s("MAILFLEET_QUEUE", "str", "mailfleet", "RQ queue of playbook runs.", _WEB),
    _s(
        "MAILFLEET_SYSTEM_QUEUE",
        "str",
        "mailfleet-system",
        "RQ queue of system jobs (refreshes, sweeps, periodic submissions): never behind playbooks.",
        _WEB,
    ),
    _s(
        "MAILFLEET_REAPER_QUEUE",
        "str",
        "mailfleet-reaper",
        "RQ queue of the reaper alone (its own worker).",
        _WEB,
    ),
    _s("MAILFLEET_INSECURE_COOKIES", "bool", False, "Plain-http cookies, for a localhost demo only.", _WEB),
    _s("MAILFLEET_SESSION_SECONDS", "int", 8 * 3600, "Session lifetime.", _WEB, minimum=0),
    _s(
        "MAILFLEET_RUN_TIMEOUT",
        "int",
        3600,
        "Seconds a playbook run may take (RQ gets 120 more).",
        _WEB,
        minimum=10,
    ),
    _s(
        "MAILFLEET_LEASE_SECONDS",
        "int",
        60,
        "A run's lease: the reaper fails a run whose lease lapsed.",
        _WEB,
        minimum=5,
    ),
    _s(
        "MAILFLEET_MAX_RUNS",
        "int",
        50,
        "Playbook runs in flight at once across all workers (more wait their turn).",
        _WEB,
        minimum=1,
    ),
    _s(
        "MAILFLEET_MAX_RUNS_PER_TENANT",
        "int",
        10,
        "Playbook runs of one tenant in flight at once.",
        _WEB,
        minimum=1,
    ),
    _s(
        "MAILFLEET_WORKER_FORKS",
        "int",
        0,
        "Ansible forks this worker machine affords to its runs (0: 4 per CPU, at most 100 MB each "
        "beyond 2 GB of memory).",
        _WEB,
        minimum=0,
    ),
    _s("MAILFLEET_LOGIN_MAX_FAILURES", "int", 5, "Failed logins before the back-off.", _WEB, minimum=0),
    _s("MAILFLEET_LOGIN_WINDOW_SECONDS", "int", 900, "Window of the failed-login count.", _WEB, minimum=0),
    _s(
        "MAILFLEET_TRUSTED_PROXIES",
        "int",
        0,
        "Reverse proxies that append to X-Forwarded-For/-Proto (0: the headers are ignored).",
        _WEB,
        minimum=0,
    ),
    _s(
        "MAILFLEET_LOG_FORMAT",
        "str",
        None,
        "Log lines as text or json, with the run id and tenant on every line of a run (unset: each "
        "server's own logging).",
        _WEB,
    ),
    _s("MAILFLEET_EVENT_RETENTION_DAYS", "int", 90, "Days a run's events are kept.", _WEB, minimum=0),
    _s(
        "MAILFLEET_MAILU_URL",
        "str",
        "https://{host}/api/v1",
        "A server's Mailu admin API ({host}: its name).",
        _WEB,
    ),
    _s("MAILFLEET_MAILU_VERIFY", "bool", True, "Verify the Mailu API's TLS certificate.", _WEB),
    _s(
        "HOSTWINDS_API_URL",
        "str",
        None,
        "Hostwinds API address.",
        _WEB,
        default_text="https://clients.hostwinds.com/cloud/api.php",
    ),
    _s(
        "HOSTWINDS_API_KEY",
        "str",
        None,
        "Hostwinds API key.",
        _WEB,
        secret=True,
        default_text="the secrets store, global/hostwinds api_key",
    ),
    _s(
        "DIGITALOCEAN_API_URL",
        "str",
        None,
        "DigitalOcean API address.",
        _WEB,
        default_text="https://api.digitalocean.com",
    ),
    _s(
        "DIGITALOCEAN_TOKEN",
        "str",
        None,
        "DigitalOcean API token (read and write).",
        _WEB,
        secret=True,
        default_text="the secrets store, global/digitalocean api_token",
    ),
    _s(
        "MAILFLEET_PROVIDERS",
        "list",
        ("hostwinds",),
        "The VPS providers servers are ordered at and refreshed from (comma-separated; the first is "
        "the default for a new server).",
        _WEB,
    ),
    _s(
        "MAILFLEET_PROVIDER_CACHE_SECONDS",
        "int",
        300,
        "How long the provider's locations and plans are cached.",
        _WEB,
        minimum=0,
    ),
    _s("MAILFLEET_MAIL_ZONE", "str", "example.com", "The zone forms suggest mail host names under.", _WEB),
    _s(
        "MAILFLEET_SITE_VARS_FILE",
        "path",
        None,
        "Site variables every run gets (DNS provider, ACME directory, ...); no secrets in it.",
        _WEB,
    ),
    _s(
        "MAILFLEET_REPO_DIR",
        "path",
        REPO_DIR,
        "Where playbooks/, inventory/ and ansible.cfg are.",
        _WEB,
        default_text="this checkout",
    ),
    _s(
        "MAILFLEET_PLAYBOOK_DIR",
        "path",
        None,
        "The playbooks runs may start.",
        _WEB,
        default_text="playbooks/ of the repo dir",
    ),
    _s(
        "MAILFLEET_ADMIN_PASSWORD",
        "str",
        None,
        "`flask create-admin`'s password (else a prompt).",
        _WEB,
        secret=True,
    ),
    _s(
        "MAILFLEET_MEMBER_PASSWORD",
        "str",
        None,
        "`flask add-member`'s password (else a prompt).",
        _WEB,
        secret=True,
    ),
    _s(
        "MAILFLEET_CONTROL_BACKUP_DIR",
        "path",
        None,
        "Where the daily job writes the control plane's own backup (unset: none is written).",
        _WEB,
    ),
    _s("MAILFLEET_CONTROL_BACKUP_KEEP", "int", 14, "Control plane backups kept there.", _WEB, minimum=1),
    _s(
        "MAILFLEET_CONTROL_BACKUP_KEY",
        "str",
        None,
        "Key of the control plane's backups (URL-safe base64 of 32 bytes).",
        _WEB,
        secret=True,
        default_text="<data dir>/control-backup.key, made on first use",
    ),
    _s(
        "MAILFLEET_BACKUP_DRILL_DAYS",
        "int",
        30,
        "A tenant's restore drill runs once its last one is this many days old.",
        _WEB,
        minimum=1,
    ),
    _s(
        "MAILFLEET_BACKUP_DRILL_TARGET",
        "str",
        "scratch",
        "Where a scheduled restore drill restores: scratch (a scratch directory on each server) or "
        "host (a throwaway server per server, ordered, checked and deleted again).",
        _WEB,
        choices=("scratch", "host"),
    ),
    _s(
        "MAILFLEET_FAILOVER_AFTER_MINUTES",
        "int",
        30,
        "A server whose every port check has alerted this long is down: recovery is offered, or "
        "started for a tenant that opted in.",
        _WEB,
        minimum=5,
    ),
    _s(
        "MAILFLEET_IP_SWITCH_COOLDOWN_HOURS",
        "float",
        24.0,
        "A server's main IP is switched again only this long after its last change (admins may "
        "override, recorded with the run); 0: no cooldown.",
        _WEB,
        minimum=0,
    ),
    # Jobs.
    _s(
        "MAILFLEET_HEALTH_SWEEP_SECONDS",
        "int",
        300,
        "Seconds between the scheduler's health sweeps (each may take nine tenths of it).",
        _JOBS,
        minimum=30,
    ),
    _s(
        "MAILFLEET_HEALTH_FACTS_DIR",
        "path",
        None,
        "Where the facts play writes each server's inside facts (unset: none are collected).",
        _JOBS,
    ),
    _s(
        "MAILFLEET_USAGE_KEEP_5MIN_DAYS",
        "int",
        30,
        "Days 5-minute usage samples are kept (the 24-hour charts and the 6-hour disk trend read them).",
        _JOBS,
        minimum=1,
    ),
    _s(
        "MAILFLEET_USAGE_KEEP_HOURLY_DAYS",
        "int",
        365,
        "Days hourly usage rollups are kept (the 7- and 30-day charts and the 7-day disk trend read them).",
        _JOBS,
        minimum=30,
    ),
    _s(
        "MAILFLEET_USAGE_KEEP_DAILY_DAYS",
        "int",
        730,
        "Days daily usage rollups are kept (the 90-day charts read them).",
        _JOBS,
        minimum=90,
    ),
    # Monitoring and alerts.
    _s(
        "MAILFLEET_MONITORING_RESOLVER",
        "str",
        None,
        "The project's own recursive resolver (required for sweeps; public ones are refused).",
        _MON,
    ),
    _s("MAILFLEET_MONITORING_CONFIG_FILE", "path", None, "JSON with any other monitoring setting.", _MON),
    _s(
        "MAILFLEET_DNS_READINESS",
        "str",
        "enforce",
        "enforce: mailboxes only on a domain whose DNS the DNS doctor found ready (admins may override, "
        "recorded); off: readiness is shown, never enforced.",
        _MON,
    ),
    _s(
        "MAILFLEET_DNS_PANEL",
        "list",
        (),
        "Resolvers whose caches the DNS doctor compares for propagation (comma-separated; "
        "public ones are refused).",
        _MON,
        default_text="the monitoring resolver",
    ),
    _s(
        "MAILFLEET_DISK_FORECAST_WARNING_DAYS",
        "float",
        7.0,
        "A server whose disk is forecast full within this many days is a warning (check disk_forecast).",
        _MON,
        minimum=0,
    ),
    _s(
        "MAILFLEET_DISK_FORECAST_CRITICAL_DAYS",
        "float",
        2.0,
        "Within this many days it is critical (at most the warning horizon).",
        _MON,
        minimum=0,
    ),
    _s(
        "MAILFLEET_FLEET_BUDGET",
        "float",
        None,
        "Dollars a month for every server together; alerts at 50, 80, 100 % spent and 100 % projected.",
        _MON,
        minimum=0.01,
    ),
    _s(
        "MAILFLEET_COST_ALLOCATION_DRIVER",
        "str",
        "disk",
        "How the servers no tenant owns (the control plane's own, spares) are shared out over the tenants: "
        "disk (disk in use on their servers), mailboxes, or messages (sent this month).",
        _MON,
        choices=("disk", "mailboxes", "messages"),
    ),
    _s(
        "MAILFLEET_COST_IDLE",
        "str",
        "line",
        "The part of the shared servers' cost no tenant's use accounts for (free disk, or all of it when "
        "nothing is used): line (shown as its own idle line) or shared (over the tenants by the driver).",
        _MON,
        choices=("line", "shared"),
    ),
    _s(
        "MAILFLEET_PRICE_BACKUP_GB",
        "float",
        None,
        "Dollars a month per GB of a tenant's backup repository (not in the provider's price list);"
        " unset: backup storage is not priced.",
        _MON,
        minimum=0,
    ),
    _s(
        "MAILFLEET_PRICE_BANDWIDTH_OVERAGE_GB",
        "float",
        None,
        "Dollars per GB a server uses over its plan's monthly bandwidth allowance; unset: not priced.",
        _MON,
        minimum=0,
    ),
    _s(
        "MAILFLEET_PRICE_EXTRA_IP",
        "float",
        None,
        "Dollars a month for each public IPv4 address a server holds beside its main one (the"
        " provider's count; an IP switch keeps the old address beside the new; not in the provider's"
        " price list); unset: extra addresses are not priced.",
        _MON,
        minimum=0,
    ),
    _s(
        "MAILFLEET_PRICE_NEW_IP",
        "float",
        None,
        "Dollars charged once for each new main IP address a server moves to (an IP switch; not in"
        " the provider's price list); unset: new addresses are not priced.",
        _MON,
        minimum=0,
    ),
    _s(
        "MAILFLEET_CAPACITY_MIN_HISTORY_DAYS",
        "float",
        14.0,
        "Days of samples on a server's current plan before it gets a resize recommendation.",
        _MON,
        minimum=1,
    ),
    _s(
        "MAILFLEET_AUTOSCALE_COOLDOWN_HOURS",
        "float",
        24.0,
        "Auto-scaling in mode act orders a server's resize only this long after its last resize (by "
        "hand or not); recommendations still alert meanwhile.",
        _MON,
        minimum=1,
    ),
    _s("MAILFLEET_ALERT_SMTP_HOST", "str", None, "SMTP relay of alert e-mail.", _MON),
    _s("MAILFLEET_ALERT_SMTP_PORT", "int", 25, "Its port.", _MON, minimum=1),
    _s("MAILFLEET_ALERT_FROM", "str", None, "Sender of alert e-mail.", _MON),
    _s("MAILFLEET_ALERT_TO", "list", (), "Recipients of alerts (comma-separated).", _MON),
    _s("MAILFLEET_ALERT_ESCALATION_TO", "list", (), "Recipients of escalations (comma-separated).", _MON),
    _s("MAILFLEET_ALERT_WEBHOOK_URL", "str", None, "Webhook of alerts (signed).", _MON),
    _s("MAILFLEET_ALERT_ESCALATION_WEBHOOK_URL", "str", None, "Webhook of escalations (signed).", _MON),
    _s(
        "MAILFLEET_ALERT_WEBHOOK_SECRET",
        "str",
        None,
        "Signs webhook bodies.",
        _MON,
        secret=True,
        default_text="the secrets store, global/monitoring webhook_secret",
    ),
    # The secrets store (the app, the jobs and the mailfleet.fleet.secret lookup).
    _s("MAILFLEET_SECRETS_BACKEND", "str", "local", "Where secrets live: local or vault.", _STORE),
    _s(
        "MAILFLEET_SECRETS_FILE",
        "path",
        Path("/var/lib/mailfleet/secrets/store.enc"),
        "The local store.",
        _STORE,
    ),
    _s(
        "MAILFLEET_MASTER_KEY_FILE",
        "path",
        Path("/var/lib/mailfleet/secrets/master.key"),
        "The local store's key file (created on first use, mode 0600).",
        _STORE,
    ),
    _s(
        "MAILFLEET_MASTER_KEY",
        "str",
        None,
        "The local store's key, URL-safe base64 of 32 bytes (wins over MAILFLEET_MASTER_KEY_FILE).",
        _STORE,
        secret=True,
        takes_file=False,
    ),
    _s("VAULT_ADDR", "str", None, "Vault's address (https; http for loopback only).", _STORE),
    _s("VAULT_NAMESPACE", "str", None, "Vault Enterprise / HCP namespace.", _STORE),
    _s(
        "VAULT_CACERT",
        "str",
        None,
        "CA bundle that signed Vault's certificate (default: system CAs).",
        _STORE,
    ),
    _s("VAULT_TOKEN", "str", None, "Token auth.", _STORE, secret=True),
    _s("VAULT_ROLE_ID", "str", None, "AppRole auth: role id.", _STORE, secret=True),
    _s("VAULT_SECRET_ID", "str", None, "AppRole auth: secret id.", _STORE, secret=True),
    _s(
        "MAILFLEET_VAULT_AUTH",
        "str",
        None,
        "Vault auth: token or approle.",
        _STORE,
        default_text="approle when a role id is set, else token",
    ),
    _s("MAILFLEET_VAULT_APPROLE_MOUNT", "str", "approle", "AppRole auth mount.", _STORE),
    _s("MAILFLEET_VAULT_MOUNT", "str", "secret", "KV v2 mount.", _STORE),
    _s(
        "MAILFLEET_VAULT_PREFIX",
        "str",
        "mailfleet",
        "Folder for mailfleet inside the mount (empty: the mount's root).",
        _STORE,
        empty_is_value=True,
    ),
    _s("MAILFLEET_VAULT_TIMEOUT", "float", 10.0, "Seconds per Vault request.", _STORE, minimum=0.1),
)

_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
assert len(_BY_NAME) == len(SETTINGS), "a setting is declared twice"


def setting(name: str) -> Setting:
    """The declaration of ``name`` (KeyError for a variable nobody declared)."""
    return _BY_NAME[name]


class Settings:
    """The declared settings of one environment (default: the process's, copied now).

    ``error`` is the exception a malformed value raises, so each layer reports in its own terms.
    """

    def __init__(
        self, env: Mapping[str, str] | None = None, *, error: Callable[[str], Exception] = SettingsError
    ) -> None:
        self._env = dict(os.environ if env is None else env)
        self._error = error

    def raw(self, name: str) -> str | None:
        """The text of ``name`` (from ``<NAME>_FILE`` for a secret), None when unset or empty."""
        declared = setting(name)
        value = self._env.get(name)
        if value == "" and declared.empty_is_value:
            return value
        if not value and declared.secret and declared.takes_file and self._env.get(f"{name}_FILE"):
            path = Path(self._env[f"{name}_FILE"])
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise self._error(f"{name}_FILE={path}: cannot read it ({exc.strerror})") from None
        return value or None

    def get(self, name: str) -> Any:
        """The typed value of ``name``, or its default."""
        raw = self.raw(name)
        if raw is None:
            return setting(name).default
        if raw == "":  # an empty_is_value setting, set empty
            return raw
        try:
            return setting(name).parse(raw)
        except SettingsError as exc:
            raise self._error(str(exc)) from None

    __getitem__ = get

    def fingerprint(self, group: str) -> tuple[tuple[str, str], ...]:
        """The raw values of a group's settings (and their ``_FILE``), for caching per configuration."""
        names = [s.name for s in SETTINGS if s.group == group]
        names += [f"{name}_FILE" for name in names if setting(name).secret and setting(name).takes_file]
        return tuple((name, self._env[name]) for name in sorted(names) if self._env.get(name))


def groups() -> Iterator[tuple[str, list[Setting]]]:
    """The settings by group, in declaration order (the README's table)."""
    seen: dict[str, list[Setting]] = {}
    for s in SETTINGS:
        seen.setdefault(s.group, []).append(s)
    yield from seen.items()
