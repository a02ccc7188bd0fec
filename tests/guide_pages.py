"""The pages the user guide shows, and the elements its text names on each (CSS selectors).

The browser journeys take the guide's screenshots with `shoot(page, name)`, which first checks
that the page still has every element the guide names; the guide includes a screenshot with
``<!-- screenshot:<name> <alt text> -->`` once a journey has taken it. A unit test checks the same
table against the pages the app renders.
"""

from __future__ import annotations

from pathlib import Path

SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"

GUIDE_PAGES: dict[str, tuple[str, ...]] = {
    # getting-started, tenant/domains, tenant/mailboxes, admin/backups
    "tenant": ("#provision-form", "#domain-form", "#mailbox-form", "#actions", "#mailboxes",
               "td.domain-dns a", "#run-form"),
    # getting-started: the checklist, its ticked steps and the next one, a link
    "first-steps": ("#first-steps", "li.done", "li.next a.next-step"),
    # admin/health: the board, Check now, the last sweep, the history bars
    "health": ("#check-now-form", "#monitoring", "tr.h-row", "svg.h-strip"),
    # admin/runs: All / By users / System
    "runs-user": ("#trigger-tabs",),
    # admin/health: an alert's state and timeline, its check's guide link
    "alert-resolved": ("#alert-state", "a.guide-link"),
}


def shoot(page: object, name: str) -> Path:
    """Screenshot a page under `name` after checking the elements the guide names on it."""
    missing = [sel for sel in GUIDE_PAGES.get(name, ()) if page.locator(sel).count() == 0]  # type: ignore[attr-defined]
    assert not missing, f"the guide's {name} page lost {missing}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
