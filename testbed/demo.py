"""`make demo` / `make down`: the whole stack on testbed instance 0, ready for a newcomer.

python -m testbed.demo up      testbed (DNS, ACME, Redis, apt proxy, Hostwinds, DigitalOcean
                               and Mailu doubles), database, web, workers, one rq cron, an admin;
                               servers are ordered at either provider
python -m testbed.demo down    stop all of it by recorded PID and remove its interfaces
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from testbed import Testbed, TestbedError
from testbed.stack import Stack

if TYPE_CHECKING:
    from mailfleet.secrets import SecretStore

DEMO_INSTANCE = int(os.environ.get("MAILFLEET_DEMO_INSTANCE", "0"))
DEMO_PORT = int(os.environ.get("MAILFLEET_DEMO_PORT", "8000"))
DATA_DIR = Path(os.environ.get("MAILFLEET_DEMO_DATA_DIR", "/var/lib/mailfleet/demo"))
ADMIN_EMAIL = "admin@mailfleet.test"
DOUBLES = ("hostwinds", "digitalocean", "mailu")
PROVIDERS = ("hostwinds", "digitalocean")


def admin_password(stack: Stack) -> str:
    """Create the demo admin once; its password is kept (0600) in the demo data folder."""
    path = DATA_DIR / "admin-password"
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(12)
    created = stack.flask(
        "create-admin", "--email", ADMIN_EMAIL, extra_env={"MAILFLEET_ADMIN_PASSWORD": password}
    )
    if created.returncode != 0:
        raise TestbedError(f"could not create the demo admin:\n{created.stdout}{created.stderr}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    return password


def seed_hostwinds_key(tb: Testbed, stack: Stack) -> None:
    """The Hostwinds API key lives in the secrets store; the double is told to accept it."""
    from mailfleet.secrets import HOSTWINDS_PATH, SecretNotFound, get_store

    store = get_store(stack.env())
    try:
        key = store.get_field(HOSTWINDS_PATH, "api_key")
    except SecretNotFound:
        key = secrets.token_hex(20)
        store.put(HOSTWINDS_PATH, {"api_key": key})
    allow_hostwinds_key(tb, key)


def allow_hostwinds_key(tb: Testbed, key: str) -> None:
    """Tell the Hostwinds double to accept `key` from loopback callers."""
    request = urllib.request.Request(  # noqa: S310 - the loopback double
        f"{tb.double_url('hostwinds')}/_double/keys",
        method="POST",
        data=json.dumps({"key": key, "allow": ["127.0.0.0/8"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


def seed_digitalocean_token(store: SecretStore) -> None:
    """The DigitalOcean token lives in the secrets store: the double's own token, unless one is
    there already (the double accepts only its own)."""
    from mailfleet.secrets import SecretNotFound
    from mailfleet.secrets.paths import DIGITALOCEAN_PATH
    from testbed.doubles.digitalocean import DEFAULT_TOKEN

    try:
        store.get_field(DIGITALOCEAN_PATH, "api_token")
    except SecretNotFound:
        store.put(DIGITALOCEAN_PATH, {"api_token": DEFAULT_TOKEN})


def up() -> None:
    tb = Testbed(DEMO_INSTANCE)
    tb.up()
    for name in DOUBLES:
        tb.start_double(name)
    stack = Stack(tb, DATA_DIR, DEMO_PORT, providers=PROVIDERS)
    DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    seed_hostwinds_key(tb, stack)
    from mailfleet.secrets import get_store

    seed_digitalocean_token(get_store(stack.env()))
    stack.up()
    password = admin_password(stack)
    print(f"""
mailfleet demo is up (testbed instance {DEMO_INSTANCE}).

  Open      {stack.url}
  Log in    {ADMIN_EMAIL}
  Password  {password}

  Try it    create a tenant; provision a server (Hostwinds, plan 101, location Dallas, mail host
            mail.acme.example.test, or DigitalOcean, s-1vcpu-1gb in ams3); add the domain
            acme.example.test; create mailboxes.
            Use names under example.test: the zone the testbed's DNS serves.
  Doubles (not the real APIs): Hostwinds {tb.double_url("hostwinds")},
            DigitalOcean {tb.double_url("digitalocean")}, Mailu {tb.double_url("mailu")}
  Logs      {DATA_DIR}/logs/   Testbed state: {tb.layout.state_dir}
  Site vars {stack.env()['MAILFLEET_SITE_VARS_FILE']} (settings of every run; no secrets)
  Stop      make down
""")


def down() -> None:
    tb = Testbed(DEMO_INSTANCE)
    Stack(tb, DATA_DIR, DEMO_PORT).down()
    tb.down()
    print("mailfleet demo is down: every process it started is stopped and its interfaces removed")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("up", "down"):
        print("usage: python -m testbed.demo up|down", file=sys.stderr)
        return 2
    try:
        up() if argv[0] == "up" else down()
    except TestbedError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
