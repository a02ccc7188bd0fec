"""The shipped alert rules pass promtool's checks and unit tests, and they and the Grafana dashboard
ask only for metrics /metrics really exposes; Debian's Prometheus scrapes /metrics with a token."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.serving import make_server

from webapp import metrics
from webapp.models import Role
from webapp.services import accounts
from webapp.testing import TEST_PASSWORD

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
RULES = DEPLOY / "prometheus" / "mailfleet.rules.yml"
DASHBOARD = DEPLOY / "grafana" / "mailfleet.json"
_NAME = re.compile(r"\bmailfleet_[a-z_]+\b")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing (Debian's prometheus package; scripts/setup.sh installs it)"
    return subprocess.run([promtool, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    checked = _promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", "mailfleet.rules.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def _exposed(app) -> set[str]:
    with app.app_context():
        text = metrics.render(app).decode()
    return {family.name for family in text_string_to_metric_families(text)}


def _asked(text: str) -> set[str]:
    names = set()
    for name in _NAME.findall(text):
        for suffix in _SUFFIXES:
            name = name.removesuffix(suffix)
        names.add(name)
    return names


def test_rules_and_dashboard_ask_for_exposed_metrics_only(app):
    exposed = _exposed(app)
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = " ".join(target["expr"] for panel in dashboard["panels"] for target in panel["targets"])
    assert _asked(RULES.read_text()) - exposed == set()
    assert _asked(exprs) - exposed == set()
    assert {"mailfleet_workers", "mailfleet_cron_schedulers", "mailfleet_run_queue_wait_seconds"} <= _asked(
        exprs
    )


@pytest.fixture
def served(app):
    """The app on a loopback port, as gunicorn would serve it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _api(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{path}", timeout=10) as answer:
        return json.load(answer)["data"]


def test_a_real_prometheus_scrapes_metrics_with_the_token(app, served, tmp_path):
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus is missing (Debian's prometheus package; scripts/setup.sh installs it)"
    with app.app_context():
        admin = accounts.create_user("prom@example.com", TEST_PASSWORD, Role.ADMIN, None)
        token = tmp_path / "token"
        token.write_text(accounts.issue_api_token(admin))
    token.chmod(0o600)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "mailfleet",
                "authorization": {"type": "Bearer", "credentials_file": str(token)},
                "static_configs": [{"targets": [served]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    port = _free_port()
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                targets = _api(port, "targets")["activeTargets"]
                series = _api(port, "query?query=mailfleet_runs")["result"]
            except OSError:
                targets, series = [], []
            if (targets and targets[0]["health"] == "up" and series) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert targets and targets[0]["health"] == "up", targets
        assert {sample["metric"]["state"] for sample in series} == {"queued", "waiting", "running"}
    finally:
        process.terminate()
        process.wait(timeout=30)
