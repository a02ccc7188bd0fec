"""playbooks/health_facts.yml produces a schema-1 document that evaluate_facts accepts. Run
read-only against the local machine (every task is a query; changed only for the controller copy)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from mailfleet.monitoring import FactsThresholds, evaluate_facts

pytestmark = pytest.mark.testbed


def test_health_facts_play_output_parses(repo_root, ansible_env, tmp_path):
    proc = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            str(repo_root / "playbooks" / "health_facts.yml"),
            "-e",
            f"health_facts_dir={tmp_path}",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
        ],
        env=ansible_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "changed=1" in proc.stdout  # only the document written on the controller
    results = {
        r.check: r
        for r in evaluate_facts(
            "localhost", (tmp_path / "localhost.json").read_text(), FactsThresholds(), datetime.now(UTC)
        )
    }
    assert {
        "disk:/",
        "memory",
        "load",
        "updates",
        "reboot_required",
        "fail2ban",
        "backup",
        "firewall",
    } <= set(results)
    assert isinstance(results["memory"].value, float) and 0 < results["memory"].value <= 100
