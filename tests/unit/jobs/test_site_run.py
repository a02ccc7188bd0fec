from __future__ import annotations

import pytest

from webapp.models import RunStatus
from webapp.services import runs

pytestmark = pytest.mark.unit


def test_run_succeeds(scope, acme, work):
    run = runs.submit_run(scope, acme, "site")
    work()
    assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
