"""What lets many testbed hosts boot at once: the machine's inotify limits are raised (never
lowered) before a boot, and the instance key, asked for by every booting host at the same moment,
is generated once and its two halves match."""

from __future__ import annotations

import concurrent.futures
import subprocess

import pytest

from testbed import Testbed, kernel_limits

pytestmark = pytest.mark.unit


def _proc_sys(tmp_path, instances: int, watches: int):
    root = tmp_path / "sys"
    (root / "fs/inotify").mkdir(parents=True)
    (root / "fs/inotify/max_user_instances").write_text(f"{instances}\n")
    (root / "fs/inotify/max_user_watches").write_text(f"{watches}\n")
    return root


def test_limits_below_the_minimum_are_raised(tmp_path):
    root = _proc_sys(tmp_path, instances=128, watches=8192)
    now = kernel_limits.ensure(root)
    assert now == kernel_limits.MINIMUMS
    assert int((root / "fs/inotify/max_user_instances").read_text()) == kernel_limits.MINIMUMS[
        "fs/inotify/max_user_instances"
    ]


def test_higher_limits_are_left_as_they_are(tmp_path):
    root = _proc_sys(tmp_path, instances=10**6, watches=10**7)
    assert kernel_limits.ensure(root) == {
        "fs/inotify/max_user_instances": 10**6,
        "fs/inotify/max_user_watches": 10**7,
    }


def test_a_key_asked_for_by_many_threads_at_once_is_made_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILFLEET_TESTBED_STATE_DIR", str(tmp_path))
    testbed = Testbed(instance=7)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: testbed.ssh_key, range(8)))
    key = keys[0]
    assert set(keys) == {key}
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == key.with_suffix(".pub").read_text().split()[:2]
    assert sorted(p.name for p in key.parent.iterdir()) == ["id_ed25519", "id_ed25519.pub", "keygen.lock"]
