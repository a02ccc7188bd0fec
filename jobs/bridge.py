"""The ansible-runner bridge: one run, one fresh private directory, nothing left behind.

Per run: a mkdtemp (0700) private_data_dir removed afterwards; the tenant's inventory only;
extravars written by us (one mapping tagged !unsafe, so Ansible never templates them); the
tenant's SSH key through ``ssh_key=`` (runner hands it to ssh-agent through a FIFO, so it is never a
file); secrets-store credentials that reach only the tenant's paths and the globals a run needs
(mailfleet.secrets.scope: never the store's own key or token), revoked or deleted afterwards; an
allow-listed environment; events to the database through the handler (returns False, so no
per-event files); no stdout file; a runner timeout below the RQ job timeout; cancellation through
``cancel_callback``; and every process of the run killed before we return.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ptyprocess  # type: ignore[import-untyped]
from ansible_runner import Runner, RunnerConfig

from jobs import processes
from jobs.constants import CHILD_ENV_NAMES, TICK_SECONDS
from jobs.events import EventRecorder
from mailfleet.procfs import children
from mailfleet.secrets import SecretStore
from mailfleet.secrets.scope import run_credentials

log = logging.getLogger(__name__)


def _close_reaped_children_at_once() -> None:
    """ptyprocess's close() sleeps 0.1 s before it checks whether the child still lives (and kills
    it if so), to give the kernel time to report its exit. Runner closes its child only after its
    loop saw it reaped, when there is nothing left to wait for: skip the sleep then. It was a tenth
    of a second of every run, about 3 % of a short play on a server (bench/control_plane_bench.py)."""
    close = ptyprocess.PtyProcess.close

    def close_reaped_at_once(self: Any, force: bool = True) -> None:
        if self.terminated:
            self.delayafterclose = 0
        close(self, force)

    ptyprocess.PtyProcess.close = close_reaped_at_once


_close_reaped_children_at_once()


@dataclass(frozen=True)
class RunSpec:
    run_id: int
    tenant: str
    store: SecretStore  # the worker's; the run gets credentials scoped to `tenant` from it
    playbook_path: Path
    project_dir: Path
    inventory: dict[str, Any]
    extravars: dict[str, Any]
    limit: str | None
    ssh_key: str | None
    timeout: int
    work_dir: Path  # private directories are made here (per instance: under the data directory)
    facts_dir: Path  # Ansible's fact cache of the tenant's runs: shared by them, never by another tenant's
    # group_vars/all files beside the inventory (jobs/sitevars.py): file name -> YAML text
    group_vars: Mapping[str, str] = field(default_factory=dict)
    # The pinned host keys of the tenant's servers (jobs/hostkeys.py), the only ones ssh trusts
    known_hosts: str = ""
    # Only these tags of the playbook (its catalogue entry's); empty: all of it
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunResult:
    status: str  # runner's: successful | failed | timeout | canceled
    rc: int | None
    known_hosts: str = ""  # the run's known_hosts as it left it (provision.yml adds a new server's)



def private_dir_prefix(run_id: int) -> str:
    return f"mailfleet-run-{run_id}-"


def run_marker(work_dir: Path, run_id: int) -> str:
    """What every process of the run has in its command line: its private directory's path."""
    return str(work_dir / private_dir_prefix(run_id))


def yaml_unsafe(extravars: Mapping[str, Any]) -> str:
    """The extravars as one ``!unsafe`` mapping: Ansible templates none of what it holds, however
    deep, so user-typed values can never become Jinja. The tag is on the mapping, not on each
    string: ansible-core 2.19 reads a tagged scalar as if unquoted, so ``!unsafe "123"`` would come
    out an int, ``"yes"`` a bool and a restore time a datetime; inside the tagged mapping a quoted
    string stays a string."""
    return "!unsafe " + json.dumps(dict(extravars)) + "\n"


def child_environment(
    worker_env: Mapping[str, str], repo_dir: Path, private_dir: Path, control_dir: Path,
    facts_dir: Path | None = None,
) -> dict[str, str]:
    """The allow-listed environment of ansible-playbook (everything else of the worker's stays out,
    the secrets store's settings included: the run gets its own, scoped ones). Facts are cached in
    `facts_dir`, else (no tenant's directory given) not kept beyond the run."""
    env = {k: v for k, v in worker_env.items() if k in CHILD_ENV_NAMES}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"])
    env.setdefault("LANG", "C.UTF-8")
    env["ANSIBLE_CONFIG"] = str(repo_dir / "ansible.cfg")
    # Per-run SSH control sockets (a short path: a socket path must stay under 108 bytes) and
    # local temp files; both removed after the run.
    env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control_dir)
    env["ANSIBLE_LOCAL_TEMP"] = str(private_dir / "tmp")
    # ansible-runner sets ANSIBLE_HOST_KEY_CHECKING=False unless it is set: Mitogen's connection
    # then passes ssh `StrictHostKeyChecking no` and `UserKnownHostsFile /dev/null` ahead of
    # ansible.cfg's ssh_args, and ssh takes an option's first value: no key would be checked.
    env["ANSIBLE_HOST_KEY_CHECKING"] = "True"
    # Never ansible.cfg's cache in the worker's home, which every tenant's runs would share.
    if facts_dir is None:
        env["ANSIBLE_CACHE_PLUGIN"] = "ansible.builtin.memory"
    else:
        env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(facts_dir)
    return env


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def run_playbook(
    spec: RunSpec,
    recorder: EventRecorder,
    *,
    should_cancel: Callable[[], bool],
    on_child: Callable[[int], None],
) -> RunResult:
    spec.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    spec.facts_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_dir = Path(tempfile.mkdtemp(prefix=private_dir_prefix(spec.run_id), dir=spec.work_dir))  # 0700
    control_dir = Path(tempfile.mkdtemp(prefix=f"mfcp{spec.run_id}-"))
    child: dict[str, int] = {}
    # Scoped store credentials for at most as long as the runner may run, plus its cleanup; revoked
    # (Vault) or merged back and deleted (local store) once every process of the run is gone.
    credentials = run_credentials(spec.store, spec.tenant, private_dir / "secrets", spec.timeout + 300)
    try:
        with credentials as secrets_env:
            try:
                return _run(spec, recorder, private_dir, control_dir, secrets_env, child,
                            should_cancel=should_cancel, on_child=on_child)
            finally:
                processes.kill_run_processes(child.get("pid"), str(private_dir))
                processes.kill_run_processes(None, str(control_dir))  # SSH masters (ControlPersist)
    finally:
        shutil.rmtree(private_dir, ignore_errors=True)
        shutil.rmtree(control_dir, ignore_errors=True)


def _run(
    spec: RunSpec,
    recorder: EventRecorder,
    private_dir: Path,
    control_dir: Path,
    secrets_env: Mapping[str, str],
    child: dict[str, int],
    *,
    should_cancel: Callable[[], bool],
    on_child: Callable[[int], None],
) -> RunResult:
    _write(private_dir / "inventory" / "hosts.json", json.dumps(spec.inventory))
    for name, text in spec.group_vars.items():
        _write(private_dir / "inventory" / "group_vars" / "all" / Path(name).name, text)
    _write(private_dir / "env" / "extravars", yaml_unsafe(spec.extravars))
    known_hosts = private_dir / "known_hosts"
    _write(known_hosts, spec.known_hosts)
    config = RunnerConfig(
        private_data_dir=str(private_dir),
        project_dir=str(spec.project_dir),
        playbook=str(spec.playbook_path),
        inventory=str(private_dir / "inventory" / "hosts.json"),
        limit=spec.limit,
        tags=",".join(spec.tags) or None,
        ident="run",
        ssh_key=spec.ssh_key,
        quiet=True,  # nothing echoed into the worker's log
        timeout=spec.timeout,
        settings={"suppress_output_file": True, "pexpect_timeout": TICK_SECONDS},
    )
    config.prepare()
    # Runner seeded the child's environment with a copy of ours: keep only what runner itself
    # set (its callback plugin settings) plus the allow-list and the run's store credentials.
    runner_settings = {k: v for k, v in config.env.items() if os.environ.get(k) != v}
    config.env = {
        **runner_settings,
        **child_environment(os.environ, spec.project_dir, private_dir, control_dir, spec.facts_dir),
        **secrets_env,
        # ansible.cfg checks host keys strictly; this run trusts its tenant's pinned keys only.
        "ANSIBLE_SSH_COMMON_ARGS": f"-o UserKnownHostsFile={known_hosts}",
        "MAILFLEET_KNOWN_HOSTS": str(known_hosts),  # where provision.yml pins a new server's keys
    }

    def cancel_callback() -> bool:
        if "pid" not in child:
            # pexpect starts the child in a new session: it is the child that leads its own.
            kids = [k for k in children(os.getpid()) if processes.session_of(k, zombies=True) == k]
            if kids:
                child["pid"] = max(kids)
                on_child(child["pid"])
        recorder.tick()
        return should_cancel()

    runner = Runner(config=config, event_handler=recorder.handle, cancel_callback=cancel_callback)
    runner.run()
    recorder.flush()
    killed = processes.kill_run_processes(child.get("pid"), str(private_dir))
    if killed:
        log.warning("run %s: killed %d leftover processes", spec.run_id, killed)
    return RunResult(status=runner.status, rc=runner.rc, known_hosts=known_hosts.read_text())
