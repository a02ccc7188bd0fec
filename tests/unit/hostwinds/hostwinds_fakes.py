"""The patched HTTP layer for Hostwinds unit tests: a scripted requests adapter and fixture loading.

`fake_api.on("get_instances", "get_instances.json")` queues answers per action (a fixture file
name, a dict/list body, an (status, text, content_type) tuple, or an exception instance); the last
answer repeats. Every request is recorded (action + form) for assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import requests
from requests.adapters import BaseAdapter

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[3]
URL = "https://api.hostwinds.invalid/cloud/api.php"
KEY = "test-key-0123456789abcdef"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class FakeHostwinds(BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.script: dict[str, list[Any]] = {}
        self.requests: list[dict[str, list[str]]] = []

    def on(self, action: str, *answers: Any) -> FakeHostwinds:
        self.script[action] = list(answers)
        return self

    def actions(self) -> list[str]:
        return [r["action"][0] for r in self.requests]

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        assert request.method == "POST"
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        form = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
        self.requests.append(form)
        action = form["action"][0]
        queue = self.script.get(action)
        if not queue:
            answer: Any = "error_invalid_action.json"
        else:
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        status, text, ctype = 200, "", "application/json"
        if isinstance(answer, str) and answer.endswith(".json"):
            text = (FIXTURES / answer).read_text()
        elif isinstance(answer, tuple):
            status, text, ctype = answer
        else:
            text = json.dumps(answer)
        response = requests.Response()
        response.status_code = status
        response._content = text.encode()
        response.headers["Content-Type"] = ctype
        response.url = request.url or URL
        response.request = request
        return response

    def close(self) -> None:
        pass


class ServedDouble:
    """The Hostwinds double on a loopback port (werkzeug, threaded) for one test."""

    def __init__(self, state: Any) -> None:
        from werkzeug.serving import make_server

        from testbed.doubles.hostwinds import create_app

        self.state = state
        self.server = make_server("127.0.0.1", 0, create_app(state), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cloud/api.php"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_playbook(playbook: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`ansible-playbook playbooks/<playbook> *args` with the repository's ansible.cfg; the API key
    reaches it only through the secrets store named in `env`, never through HOSTWINDS_API_KEY."""
    full = {**os.environ, **env, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    full.pop("HOSTWINDS_API_KEY", None)
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), str(REPO / "playbooks" / playbook), *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=REPO,
        timeout=240,
    )


def cached_facts(env: dict[str, str], host: str) -> Path:
    """`host`'s facts in the fact cache of the playbooks run with `env` (as an earlier run left them)."""
    path = Path(env["ANSIBLE_CACHE_PLUGIN_CONNECTION"]) / host
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"memtotal_mb": 1024, "default_ipv4": {"address": "198.18.0.10"}}')
    return path
