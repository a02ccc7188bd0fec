"""How the suite's files are spread over the pytest-xdist workers (`make test`: `--dist loadfile`).

Each file runs whole on one worker, except that the files sharing the session's converged servers
are one unit of work, so those servers are converged once. Units start heaviest first: the few files
that take minutes each (hosts converged, the Stack booted, backup drills) go out before the many
short ones, which then fill in behind them, so the workers finish together. (xdist's own order,
most tests first, started those files last, and the slowest worker ran on alone.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

#: The files whose tests use `converged_servers` (directly or through the mail folder's fixtures),
#: in the order they run: the Fix and the checklist journey before the mail tests, while the servers
#: are as converged (the Fix needs ma's domain with no readiness override, which the mail tests set;
#: the journey follows the steps a new tenant has left on mb: no DNS check, no mailbox, no message).
#: The mail folder's last file, test_web_restore.py, recovers ma onto a new server and so retires it:
#: no test after it may ask for ma (the security test uses mb). The IP switch comes last, as it
#: leaves mb on a new address.
CONVERGED_USERS = (
    "tests/integration/dnsdoctor/test_fix.py",
    "tests/journeys/test_checklist_journey.py",
    "tests/integration/mail/",
    "tests/integration/security/test_no_secret_leaks.py",
    "tests/journeys/test_ip_switch_journey.py",
)
CONVERGED_UNIT = "converged_servers"

#: The units that take minutes each, heaviest first (`--durations` of a whole run); then comes the
#: rest of the testbed tier, then everything else, each in collection order.
HEAVIEST = (
    CONVERGED_UNIT,
    "tests/journeys/test_order_and_resize.py",
    "tests/journeys/test_new_admin.py",
    "tests/integration/roles/test_backup.py",
    "tests/integration/roles/test_controller.py",
    "tests/integration/roles/test_worker_machines.py",
    "tests/integration/roles/test_backup_drill_host.py",
    "tests/integration/webapp/test_health_facts_run.py",
    "tests/integration/webapp/test_postgresql.py",
)

T = TypeVar("T")


def work_unit(path: str) -> str:
    """The unit of work of a test file (a path relative to the repository)."""
    return CONVERGED_UNIT if path.startswith(CONVERGED_USERS) else path


def heaviest_first(items: Sequence[T], path: Callable[[T], str], on_testbed: Callable[[T], bool]) -> list[T]:
    """`items` with their units in start order; a unit's items stay in their order, together."""
    testbed_units = {work_unit(path(item)) for item in items if on_testbed(item)}

    def rank(item: T) -> tuple[int, int]:
        unit = work_unit(path(item))
        within = next((i for i, prefix in enumerate(CONVERGED_USERS) if path(item).startswith(prefix)), 0)
        if unit in HEAVIEST:
            return HEAVIEST.index(unit), within
        return len(HEAVIEST) + (unit not in testbed_units), within

    return sorted(items, key=rank)
