#!/usr/bin/python3
"""Testbed only: what `docker compose up` does for Mailu, done with Debian's Postfix, Dovecot, nginx
and a milter (mailu_milter.py) on a testbed host (systemd-nspawn runs no container engine).

Runs (mailu-testbed.service, started by mailu-testbed.path) whenever the mailu role writes
/mailu/mailu.env, the letsencrypt role /mailu/certs/cert.pem, or anyone Mailu's Postfix overrides
(/mailu/overrides/postfix/: postfix.cf merged into main.cf with `postconf -e`, postfix.master
into master.cf with `postconf -Me`, line by line skipping comments, and *.map compiled with
postmap into /etc/postfix, as Mailu's postfix start script does). It renders the services'
settings from mailu.env, starts or reloads them, then registers the server with the Mailu API
double (the admin container coming up, with mailu.env's API token and INITIAL_ADMIN_* settings).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path("/mailu")
HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
SETTINGS = Path("/etc/mailfleet-testbed")
SERVICES = ("mailu-podop", "mailu-milter", "dovecot", "postfix", "nginx")
OUTPUTS = {
    "main.cf": "/etc/postfix/main.cf",
    "master.cf": "/etc/postfix/master.cf",
    "dovecot.conf": "/etc/dovecot/dovecot.conf",
    "mailu-userdb.conf": "/etc/dovecot/mailu-userdb.conf",
    "nginx.conf": "/etc/nginx/sites-enabled/default",
}


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


def render(name: str, values: dict[str, str]) -> str:
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m[1]], (TEMPLATES / name).read_text())


def postconf_lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def register(double: str, env: dict[str, str], hostname: str) -> None:
    """PUT the server's settings, as the admin container reads them from mailu.env at start."""
    settings = {
        "api_token": env["API_TOKEN"],
        "domain": env["DOMAIN"],
        "hostnames": env["HOSTNAMES"].split(","),
        "initial_admin_account": env.get("INITIAL_ADMIN_ACCOUNT", ""),
        "initial_admin_domain": env.get("INITIAL_ADMIN_DOMAIN", ""),
        "initial_admin_pw": env.get("INITIAL_ADMIN_PW", ""),
        "initial_admin_mode": env.get("INITIAL_ADMIN_MODE", "ifmissing"),
        "dkim_selector": env.get("DKIM_SELECTOR", "dkim"),
        "default_quota": int(env.get("DEFAULT_QUOTA", "1000000000")),
        "message_ratelimit": env.get("MESSAGE_RATELIMIT", "200/day"),
        "subnet": "127.0.0.1/32",  # the services /internal trusts run on this host's loopback
    }
    request = urllib.request.Request(  # noqa: S310 - the double's http URL
        f"{double}/_double/servers/{hostname}", data=json.dumps(settings).encode(), method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


def inputs() -> list[tuple[str, int]]:
    """The watched files and their change times: a change during a run must cause another run."""
    overrides = sorted((ROOT / "overrides" / "postfix").glob("*"))
    paths = [ROOT / "mailu.env", ROOT / "certs" / "cert.pem", *overrides]
    return [(str(p), p.stat().st_mtime_ns) for p in paths if p.is_file()]


def main() -> int:
    # systemd drops a path event that arrives while this service runs (the mailu role writes
    # mailu.env, then the overrides, seconds apart): run again until the inputs stay unchanged.
    while True:
        seen = inputs()
        result = start()
        if inputs() == seen:
            return result


def start() -> int:
    if not (ROOT / "mailu.env").is_file():
        print("no /mailu/mailu.env yet: nothing to start")
        return 0
    env = read_env(ROOT / "mailu.env")
    double = read_env(SETTINGS / "double.env")["MAILU_DOUBLE"]
    hostname = env["HOSTNAMES"].split(",")[0]
    values = {
        "DOMAIN": env["DOMAIN"], "HOSTNAME": hostname, "POSTMASTER": env.get("POSTMASTER", "admin"),
        "MESSAGE_SIZE_LIMIT": env.get("MESSAGE_SIZE_LIMIT", "50000000"),
        "RELAYHOST": env.get("RELAYHOST", ""), "MAILU_DOUBLE": double,
    }
    (SETTINGS / "podop.env").write_text(f"MAILU_DOUBLE={double}\nMAILU_HOST={hostname}\n")
    for name, target in OUTPUTS.items():
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(render(name, values))
    if not all((ROOT / "certs" / name).is_file() for name in ("cert.pem", "key.pem")):
        # Mailu's admin starts without a certificate; its front and mail services do not.
        register(double, env, hostname)
        print(f"admin of {hostname} up; no certificate in /mailu/certs yet, so no mail services")
        return 0
    overrides = ROOT / "overrides" / "postfix"
    for line in postconf_lines(overrides / "postfix.cf"):
        subprocess.run(["postconf", "-e", line], check=True)
    for line in postconf_lines(overrides / "postfix.master"):
        subprocess.run(["postconf", "-Me", line], check=True)
    for source in sorted(overrides.glob("*.map")):  # lookup tables the overrides name, compiled
        table = Path("/etc/postfix") / source.name
        shutil.copyfile(source, table)
        subprocess.run(["postmap", str(table)], check=True)
        table.unlink()
    # Mailu's dovecot start script hands the mail folder to the mail user.
    shutil.chown(ROOT / "mail", "mail", "mail")
    started = subprocess.run(["systemctl", "reload-or-restart", *SERVICES], check=False)
    register(double, env, hostname)  # the admin comes up even when a mail service does not
    if started.returncode != 0:
        print(f"admin of {hostname} up, but not every mail service started: see systemctl --failed")
        return 1
    print(f"mail stack for {hostname} up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
