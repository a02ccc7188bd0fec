"""mkdocs hooks: the parts of the guide that come from the code, rendered at build time.

    <!-- settings-table -->          the settings table (scripts/settings_table.py)
    <!-- dnsdoctor:<section> -->     the DNS doctor's findings of one section, from its catalogue
    <!-- collection-plugins -->      the collection's plugins with their short descriptions
    <!-- screenshot:<name> <alt> -->  a browser journey's screenshot (tests/guide_pages.py), once one
                                     has been taken on this machine (nothing otherwise)

A catalogue section no page places fails the build, so a new family of findings cannot go
unexplained.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parent))  # settings_table imports its neighbours

from settings_table import settings_table  # noqa: E402

from mailfleet.dnsdoctor import CATALOGUE, SECTIONS  # noqa: E402
from webapp.guide import dns_anchor  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
COLLECTION = REPO / "collections/ansible_collections/mailfleet/fleet"
SHOTS = REPO / "artifacts" / "screenshots"
_FINDINGS = re.compile(r"<!-- dnsdoctor:([a-z-]+) -->")
_SHOT = re.compile(r"<!-- screenshot:([a-z-]+) (.+?) -->")
_placed: set[str] = set()


def findings_markdown(section: str) -> str:
    if section not in SECTIONS:
        raise PluginError(f"dnsdoctor:{section}: no such section (known: {', '.join(SECTIONS)})")
    _placed.add(section)
    out = []
    for p in CATALOGUE.values():
        if p.section != section:
            continue
        blocks = "blocks readiness" if p.blocking else "does not block readiness"
        out.append(f"#### {p.title} {{#{dns_anchor(p.code)}}}\n\n`{p.code}` ({blocks}). {p.explanation}\n")
    return "\n".join(out)


def _short_description(path: Path) -> str:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        names = [getattr(t, "id", "") for t in getattr(node, "targets", ())]
        if isinstance(node, ast.Assign) and "DOCUMENTATION" in names:
            return str(yaml.safe_load(ast.literal_eval(node.value))["short_description"])
    raise PluginError(f"{path}: no DOCUMENTATION")


def plugins_markdown() -> str:
    rows = ["| Plugin | Type | What it does |", "|---|---|---|"]
    for kind in ("inventory", "lookup", "modules"):
        for path in sorted((COLLECTION / "plugins" / kind).glob("*.py")):
            if path.name == "__init__.py":
                continue
            label = "module" if kind == "modules" else kind
            rows.append(f"| `mailfleet.fleet.{path.stem}` | {label} | {_short_description(path)} |")
    return "\n".join(rows)


def screenshot_markdown(name: str, alt: str, src_uri: str) -> str:
    if not (SHOTS / f"{name}.png").is_file():
        return ""
    return f"![{alt}]({'../' * src_uri.count('/')}screenshots/{name}.png)"


def on_pre_build(config: Any) -> None:
    _placed.clear()


def on_files(files: Files, config: Any) -> Files:
    for png in sorted(SHOTS.glob("*.png")):
        files.append(File.generated(config, f"screenshots/{png.name}", abs_src_path=str(png)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    markdown = markdown.replace("<!-- settings-table -->", settings_table())
    markdown = markdown.replace("<!-- collection-plugins -->", plugins_markdown())
    markdown = _SHOT.sub(lambda m: screenshot_markdown(m.group(1), m.group(2), page.file.src_uri), markdown)
    return _FINDINGS.sub(lambda m: findings_markdown(m.group(1)), markdown)


def on_post_build(config: Any) -> None:
    missing = [s for s in SECTIONS if s not in _placed]
    if missing:
        raise PluginError(f"the DNS doctor's sections {', '.join(missing)} are on no page of the guide")
