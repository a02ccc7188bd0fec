"""Debian's Chromium through Playwright, launched the one way every browser test does (never a
downloaded browser)."""

from __future__ import annotations

from typing import Any

ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def launch(playwright: Any, *extra_args: str) -> Any:
    """Headless /usr/bin/chromium with ARGS and `extra_args` (a test's own host mapping, say)."""
    return playwright.chromium.launch(
        executable_path="/usr/bin/chromium", args=[*ARGS, *extra_args], headless=True
    )
