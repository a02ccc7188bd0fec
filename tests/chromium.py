"""Debian's Chromium through Playwright, launched the one way every browser test does (never a
downloaded browser), and the control plane's first steps the one way: log in, add a tenant, order a
server."""

from __future__ import annotations

import re
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


def login(browser: Any, base: str, email: str, password: str) -> Any:
    """A new page of `browser` logged in at `base` (the app's URL) as `email`: on the dashboard."""
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$|.*/tenants/.*"))
    return page


def create_tenant(page: Any, base: str, slug: str, name: str) -> None:
    """Add a tenant on the tenants page; the page is left on the new tenant's."""
    page.goto(f"{base}/tenants/")
    page.fill("#new-tenant input[name=slug]", slug)
    page.fill("#new-tenant input[name=name]", name)
    page.click("#new-tenant button[type=submit]")
    page.wait_for_url(f"{base}/tenants/{slug}")


def order_server(page: Any, base: str, slug: str, mail_hostname: str, location: str = "Seattle",
                 plan: str = "101") -> str:
    """Order a server from the tenant's page (the provider's offers); returns its run page's URL."""
    page.goto(f"{base}/tenants/{slug}")
    page.select_option("#provision-form select[name=location]", location)
    page.select_option("#provision-form select[name=plan]", plan)
    page.fill("#provision-form input[name=mail_hostname]", mail_hostname)
    page.click("#provision-form button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(base)}/runs/\d+"))
    return page.url
