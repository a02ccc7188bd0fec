"""The control plane's processes on the testbed, for `make demo` and the browser tests: the web
app, the RQ worker pools (one for playbook runs, one for system jobs) and exactly one `rq cron`,
each started from its Procfile line and recorded by PID in the testbed instance's state."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from mailfleet.secrets import get_store
from testbed import Testbed
from testbed.daemons import Recorded, TestbedError, start, stop, tail
from testbed.dns import DEFAULT_ZONES
from testbed.site_file import write_site_vars

REPO = Path(__file__).resolve().parent.parent
PROCESSES = ("web", "worker", "system", "reaper", "cron")
_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def procfile(path: Path = REPO / "Procfile") -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def expand(command: str, env: Mapping[str, str]) -> list[str]:
    """Procfile variables (`$VAR`, `${VAR:-default}`) filled from env, then split like a shell."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        return env.get(name) or (match.group(2) or "")

    return shlex.split(_VAR.sub(value, command))


def write_monitoring_config(tb: Testbed, path: Path) -> None:
    """The health sweep's settings on the testbed: its resolver, and Pebble's issuing root as a CA
    to trust (the hosts' certificates come from Pebble), so TLS, STARTTLS and MTA-STS verify."""
    config = {"resolver": tb.layout.resolver, "ca_file": str(tb.acme.issuing_root_path)}
    path.write_text(json.dumps(config, indent=2) + "\n")


def provider_env(tb: Testbed, providers: tuple[str, ...]) -> dict[str, str]:
    """The providers the control plane orders at, and every provider's API at its testbed double
    (also for the runs' ansible-playbook, which the worker passes them on to)."""
    return {
        "MAILFLEET_PROVIDERS": ",".join(providers),
        "HOSTWINDS_API_URL": f"{tb.double_url('hostwinds')}/cloud/api.php",
        "DIGITALOCEAN_API_URL": tb.double_url("digitalocean"),
    }


class Stack:
    """`providers`: those the control plane offers (MAILFLEET_PROVIDERS), each of whose doubles must
    be running; the tests' stacks order at Hostwinds alone, the demo at both."""

    def __init__(
        self, tb: Testbed, data_dir: Path, web_port: int = 8000, providers: tuple[str, ...] = ("hostwinds",)
    ) -> None:
        self.tb = tb
        self.data_dir = data_dir
        self.web_port = web_port
        self.providers = providers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def env(self) -> dict[str, str]:
        venv_bin = str(Path(sys.executable).parent)
        return {
            "PATH": f"{venv_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "PORT": str(self.web_port),
            "REDIS_URL": self.tb.redis_url,
            "MAILFLEET_DATA_DIR": str(self.data_dir),
            "MAILFLEET_SECRETS_FILE": str(self.data_dir / "secrets.enc"),
            "MAILFLEET_MASTER_KEY_FILE": str(self.data_dir / "master.key"),
            "MAILFLEET_TESTBED_INSTANCE": str(self.tb.instance),
            **provider_env(self.tb, self.providers),
            "MAILFLEET_MAILU_URL": f"{self.tb.double_url('mailu')}/{{host}}/api/v1",
            # Health sweeps ask the testbed's own resolver and trust its ACME CA (up() writes the
            # file); the facts runs write here.
            "MAILFLEET_MONITORING_RESOLVER": self.tb.layout.resolver,
            # The DNS doctor's propagation view: both resolvers side by side (the second asks the
            # secondary, so a lagging secondary shows there).
            "MAILFLEET_DNS_PANEL": f"{self.tb.layout.resolver},{self.tb.layout.resolver2}",
            "MAILFLEET_MONITORING_CONFIG_FILE": str(self.data_dir / "monitoring.json"),
            "MAILFLEET_HEALTH_FACTS_DIR": str(self.data_dir / "health-facts"),
            # A new server's first results within a minute, not five.
            "MAILFLEET_HEALTH_SWEEP_SECONDS": "60",
            # Non-secret settings of every run (testbed/site_file.py writes it in up()).
            "MAILFLEET_SITE_VARS_FILE": str(self.data_dir / "site-vars.yml"),
            # Forms suggest names under the zone the testbed's DNS serves.
            "MAILFLEET_MAIL_ZONE": DEFAULT_ZONES[0],
            # The demo serves plain HTTP on loopback; production keeps secure cookies on.
            "MAILFLEET_INSECURE_COOKIES": "1",
            # The strategy switch (ansible.cfg's unless set), as for the tests' own runs.
            **{k: v for k, v in os.environ.items() if k == "ANSIBLE_STRATEGY"},
        }

    def flask(
        self, *args: str, extra_env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "webapp", *args],
            env={**self.env(), **(extra_env or {})},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def up(self) -> None:
        """Migrate the database, then start whatever of web/worker/cron is not running."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_site_vars(self.tb, Path(self.env()["MAILFLEET_SITE_VARS_FILE"]), get_store(self.env()))
        write_monitoring_config(self.tb, Path(self.env()["MAILFLEET_MONITORING_CONFIG_FILE"]))
        migrated = self.flask("upgrade")
        if migrated.returncode != 0:
            raise TestbedError(f"database upgrade failed:\n{migrated.stdout}{migrated.stderr}")
        commands = procfile()
        with self.tb.state.locked() as state:
            procs = state["processes"]
            for name in PROCESSES:
                key = f"stack-{name}"
                if key in procs and Recorded.from_json(procs[key]).alive():
                    continue
                procs[key] = start(
                    expand(commands[name], self.env()), log=self.log(name), env=self.env(), cwd=REPO
                ).to_json()
        self.wait_ready()

    def log(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Wait for the login page. A loaded machine may take a minute to import the app; a web
        process that died is reported at once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._alive("web"):
                raise TestbedError(f"the web app exited:\n{tail(self.log('web'))}")
            try:
                with urllib.request.urlopen(f"{self.url}/login", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise TestbedError(
            f"the web app did not answer on {self.url} within {timeout:.0f}s:\n{tail(self.log('web'))}"
        )

    def _alive(self, name: str) -> bool:
        record = self.tb.state.read()["processes"].get(f"stack-{name}")
        return record is not None and Recorded.from_json(record).alive()

    def down(self) -> None:
        with self.tb.state.locked() as state:
            for name in PROCESSES:
                record = state["processes"].pop(f"stack-{name}", None)
                if record:
                    stop(Recorded.from_json(record), timeout=20)
