"""Generate a role README's variables table from its meta/argument_specs.yml (the single truth).

    python scripts/role_vars_table.py roles/hardening           # rewrite the table in README.md
    python scripts/role_vars_table.py --check roles/hardening   # exit 1 if README.md is stale

The table sits between `<!-- BEGIN VARIABLES -->` and `<!-- END VARIABLES -->` in README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

BEGIN = "<!-- BEGIN VARIABLES -->"
END = "<!-- END VARIABLES -->"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _type(spec: dict) -> str:
    kind = spec.get("type", "str")
    if kind == "list" and "elements" in spec:
        kind = f"list[{spec['elements']}]"
    if "choices" in spec:
        kind += " (" + ", ".join(str(c) for c in spec["choices"]) + ")"
    return kind


def variables_table(role: Path, entry_point: str = "main") -> str:
    """Markdown table of one entry point's options: name, type, default, description."""
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"][entry_point].get("options", {})
    rows = ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for name, spec in options.items():
        default = "(required)" if spec.get("required") else json.dumps(spec.get("default"))
        description = spec.get("description", "")
        if isinstance(description, list):
            description = " ".join(description)
        rows.append(f"| `{name}` | {cell(_type(spec))} | `{cell(default)}` | {cell(description)} |")
    return "\n".join(rows)


def render_readme(readme: str, table: str, begin: str = BEGIN, end: str = END) -> str:
    """``readme`` with the table between the markers replaced (scripts/settings_table.py too)."""
    if begin not in readme or end not in readme:
        raise SystemExit(f"README.md needs the markers {begin} and {end}")
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}\n{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roles", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if a README's table is stale")
    args = parser.parse_args(argv)
    stale = []
    for role in args.roles:
        readme_path = role / "README.md"
        current = readme_path.read_text()
        wanted = render_readme(current, variables_table(role))
        if wanted != current:
            if args.check:
                stale.append(str(readme_path))
            else:
                readme_path.write_text(wanted)
    if stale:
        print("stale variables table (run scripts/role_vars_table.py):", *stale, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
