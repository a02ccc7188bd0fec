"""The user guide: it builds strictly, every anchor the app links to exists in it, and Help serves it."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailfleet.dnsdoctor import CATALOGUE
from webapp import guide

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[3]


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.update(v for k, v in attrs if k == "id" and v)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The guide built as `make docs` builds it (strict: a warning fails the build)."""
    out = tmp_path_factory.mktemp("guide") / "site"
    # Not --quiet: it hides the warnings that strict mode would count.
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "--config-file", str(REPO / "mkdocs.yml"), "--site-dir", str(out)],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0 and "WARNING" not in done.stderr, done.stderr
    return out


def _ids(site: Path, page: str) -> set[str]:
    parser = _Ids()
    parser.feed((site / page / "index.html").read_text(encoding="utf-8"))
    return parser.ids


def _missing(site: Path, anchors: set[str]) -> list[str]:
    return sorted(a for a in anchors if a.partition("#")[2] not in _ids(site, a.partition("#")[0]))


def test_every_anchor_the_app_links_to_is_in_the_guide(site: Path) -> None:
    assert _missing(site, guide.anchors()) == []


def test_every_dns_doctor_code_has_its_entry(site: Path) -> None:
    assert _missing(site, {guide.finding_anchor(code) for code in CATALOGUE}) == []


@pytest.mark.parametrize("check", [
    "port:25@192.0.2.10", "dns:a:mail.acme.example", "dns:aaaa:mail.acme.example", "mx:acme.example",
    "spf:acme.example", "dkim:acme.example", "dmarc:acme.example", "dns:dmarc-reports:acme.example",
    "dns:tls-rpt:acme.example", "mta_sts:acme.example", "ptr:192.0.2.10", "soa", "dns:delegation",
    "dnsbl:zen.spamhaus.org:192.0.2.10", "smtp:banner", "smtp:starttls", "tls:25", "tls:993",
    "tlsa:mail.acme.example", "imap:login", "disk:/", "disk_forecast", "memory", "load", "containers",
    "mail_queue", "updates", "reboot_required", "fail2ban", "firewall", "facts", "backup",
    "backup:drill", "dns:ready:acme.example", "ssh_host_key", "monitoring", "budget:acme:forecast-80",
    "anomaly:acme:sent", "sendcap", "warmup",
])
def test_each_health_check_links_to_its_own_section(check: str) -> None:
    anchor = guide.check_anchor(check)
    assert anchor is not None and anchor.startswith(guide.HEALTH_PAGE)


def test_the_most_specific_family_wins() -> None:
    assert guide.check_anchor("backup:drill").endswith("#check-backup-drill")
    assert guide.check_anchor("backup").endswith("#check-backup")
    assert guide.check_anchor("no-such-check") is None


def test_a_renamed_heading_is_caught(site: Path, tmp_path: Path) -> None:
    """The anchor check reads the built pages: an id that went away is reported."""
    page = site / "tenant" / "health-checks" / "index.html"
    html = page.read_text(encoding="utf-8")
    copy = tmp_path / "tenant" / "health-checks"
    copy.mkdir(parents=True)
    (copy / "index.html").write_text(html.replace('id="check-mx"', 'id="check-mail-exchangers"'))
    assert _missing(tmp_path, {"tenant/health-checks/#check-mx"}) == ["tenant/health-checks/#check-mx"]


def test_the_settings_table_is_generated_into_the_guide(site: Path) -> None:
    from mailfleet.settings import groups

    html = (site / "admin" / "settings" / "index.html").read_text(encoding="utf-8")
    names = [s.name for _, settings in groups() for s in settings]
    assert names and all(f"<code>{name}</code>" in html for name in names)


def _get(client, url: str) -> tuple[int, bytes, str]:
    """Status, body and policy of a page, its file closed (a guide page is sent from its file)."""
    with client.get(url) as response:
        return response.status_code, response.get_data(), response.headers.get("Content-Security-Policy", "")


def test_help_serves_the_built_guide(app, as_admin, site: Path) -> None:
    app.config["MAILFLEET_REPO_DIR"] = site.parent
    status, body, policy = _get(as_admin, "/help/tenant/health-checks/")
    assert status == 200 and b'id="check-dkim"' in body
    assert "frame-ancestors 'none'" in policy
    assert _get(as_admin, "/help/")[0] == 200
    assert b'id="help-link"' in _get(as_admin, "/tenants/")[1]
    assert _get(as_admin, "/help/../mkdocs.yml")[0] == 404
    assert _get(as_admin, "/help/no/such/page/")[0] == 404


def test_help_says_when_the_guide_is_not_built(app, as_admin, tmp_path: Path) -> None:
    app.config["MAILFLEET_REPO_DIR"] = tmp_path
    page = as_admin.get("/help/")
    assert page.status_code == 404 and b"make docs" in page.data


def test_help_needs_a_login(app, client, site: Path) -> None:
    app.config["MAILFLEET_REPO_DIR"] = site.parent
    assert client.get("/help/").status_code == 302


def test_the_guides_search_index_finds_a_known_section_and_help_serves_it(app, as_admin, site: Path) -> None:
    """The theme's search box looks words up in search/search_index.json, fetched from Help."""
    import json

    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    found = [doc["location"] for doc in index["docs"] if "selector" in doc["text"] and "DKIM" in doc["title"]]
    assert "tenant/health-checks/#check-dkim" in found
    app.config["MAILFLEET_REPO_DIR"] = site.parent
    status, body, _ = _get(as_admin, "/help/search/search_index.json")
    assert status == 200 and json.loads(body)["docs"] == index["docs"]


def test_a_journeys_screenshot_lands_in_the_built_guide(tmp_path, monkeypatch) -> None:
    """`make test` builds the guide again after the journeys: their screenshots are then placed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("guide_hooks", REPO / "scripts" / "guide_hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    monkeypatch.setattr(hooks, "SHOTS", tmp_path)
    assert hooks.screenshot_markdown("health", "A server's health page", "admin/health.md") == ""
    (tmp_path / "health.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    shown = hooks.screenshot_markdown("health", "A server's health page", "admin/health.md")
    assert shown == "![A server's health page](../screenshots/health.png)"
    assert hooks.screenshot_markdown("health", "x", "index.md") == "![x](screenshots/health.png)"
