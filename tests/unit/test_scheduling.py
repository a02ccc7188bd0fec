"""The order the suite's files go out to the pytest-xdist workers (tests/scheduling.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scheduling import CONVERGED_USERS, HEAVIEST, heaviest_first, work_unit

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_the_heaviest_units_start_first_then_the_testbed_tier_then_the_rest():
    tests = [  # (nodeid, on the testbed), in collection order
        ("tests/e2e/test_run_page_browser.py::test_live", True),
        ("tests/integration/mail/test_sending_caps.py::test_cap", True),
        ("tests/integration/roles/test_backup.py::test_converges", True),
        ("tests/integration/roles/test_hardening.py::test_lynis", True),
        ("tests/integration/security/test_no_secret_leaks.py::test_leaks", True),
        ("tests/integration/webapp/test_zone_check.py::test_refused", True),
        ("tests/journeys/test_new_admin.py::test_admin", True),
        ("tests/journeys/test_new_admin.py::test_engineer", True),
        ("tests/unit/jobs/test_periodic.py::test_cron", False),
        ("tests/unit/test_layers.py::test_layers", False),
        ("tests/unit/webapp/test_mixed.py::test_plain", False),
        ("tests/unit/webapp/test_mixed.py::test_on_testbed", True),
    ]
    ordered = [nodeid for nodeid, _ in heaviest_first(tests, lambda t: t[0].split("::")[0], lambda t: t[1])]
    assert ordered == [
        "tests/integration/mail/test_sending_caps.py::test_cap",  # the converged servers' files, together
        "tests/integration/security/test_no_secret_leaks.py::test_leaks",
        "tests/journeys/test_new_admin.py::test_admin",
        "tests/journeys/test_new_admin.py::test_engineer",
        "tests/integration/roles/test_backup.py::test_converges",
        "tests/e2e/test_run_page_browser.py::test_live",
        "tests/integration/roles/test_hardening.py::test_lynis",
        "tests/integration/webapp/test_zone_check.py::test_refused",
        "tests/unit/webapp/test_mixed.py::test_plain",  # a file with one testbed test is on the tier, whole
        "tests/unit/webapp/test_mixed.py::test_on_testbed",
        "tests/unit/jobs/test_periodic.py::test_cron",
        "tests/unit/test_layers.py::test_layers",
    ]


def test_every_unit_named_exists():
    """A renamed file would silently lose its place at the front."""
    for unit in HEAVIEST:
        paths = CONVERGED_USERS if unit == work_unit(CONVERGED_USERS[0]) else (unit,)
        for path in paths:
            assert (REPO / path).exists(), path


def test_the_converged_servers_files_run_in_the_order_listed():
    """The Fix and the checklist journey need the servers as converged: they go before the mail tests."""
    tests = [
        ("tests/integration/dnsdoctor/test_fix.py::test_fix", True),
        ("tests/integration/mail/test_stack.py::test_mail", True),
        ("tests/journeys/test_checklist_journey.py::test_member", True),
    ]
    ordered = [nodeid for nodeid, _ in heaviest_first(tests, lambda t: t[0].split("::")[0], lambda t: t[1])]
    assert ordered == [
        "tests/integration/dnsdoctor/test_fix.py::test_fix",
        "tests/journeys/test_checklist_journey.py::test_member",
        "tests/integration/mail/test_stack.py::test_mail",
    ]
