"""The testbed tests' control plane (tests/controlplane.py) leaves the process environment as it
found it, also when building it fails half-way, so a failed setup cannot steer later tests (a
leftover MAILFLEET_SITE_VARS_FILE once sent a unit test's domain order to the testbed's DNS)."""

from __future__ import annotations

import os

import controlplane
import pytest

pytestmark = pytest.mark.testbed


def test_a_plane_that_fails_to_build_leaves_the_environment_as_it_was(testbed, tmp_path, monkeypatch):
    def broken(*args: object) -> None:
        raise RuntimeError("the Hostwinds key could not be stored")

    monkeypatch.setattr(controlplane, "seed_hostwinds_key", broken)
    before = dict(os.environ)
    with (
        pytest.raises(RuntimeError, match="could not be stored"),
        controlplane.running_plane(testbed, tmp_path),
    ):
        pass
    assert dict(os.environ) == before


def test_a_plane_undoes_its_environment_after_use(testbed, tmp_path):
    before = dict(os.environ)
    with controlplane.running_plane(testbed, tmp_path) as plane:
        assert os.environ["MAILFLEET_SITE_VARS_FILE"] == plane["env"]["MAILFLEET_SITE_VARS_FILE"]
    assert dict(os.environ) == before
