"""The shipped alert rules pass promtool's checks and unit tests, and they and the Grafana dashboard
ask only for metrics /metrics really exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from webapp import metrics

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
