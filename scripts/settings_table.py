"""Generate the README's settings table from mailfleet.settings (the single truth).

    python scripts/settings_table.py           # rewrite the table in README.md
    python scripts/settings_table.py --check   # exit 1 if README.md's table is stale

The table sits between `<!-- BEGIN SETTINGS -->` and `<!-- END SETTINGS -->` in README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from role_vars_table import cell, render_readme  # this folder is on sys.path when run as a script

from mailfleet.settings import Setting, groups

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- BEGIN SETTINGS -->"
END = "<!-- END SETTINGS -->"


def _default(s: Setting) -> str:
    if s.default_text is not None:
        return cell(s.default_text)
    if s.default is None or s.default == ():
        return "(unset)"
    if isinstance(s.default, bool):
        return f"`{str(s.default).lower()}`"
    return f"`{cell(str(s.default))}`"


def settings_table() -> str:
    rows = ["| Variable | Type | Default | Secret | Description |", "|---|---|---|---|---|"]
    for group, settings in groups():
        rows.append(f"| **{group}** | | | | |")
        for s in settings:
            secret = "yes, or `_FILE`" if s.secret and s.takes_file else "yes" if s.secret else ""
            rows.append(f"| `{s.name}` | {s.type} | {_default(s)} | {secret} | {cell(s.help)} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if README.md's table is stale")
    args = parser.parse_args(argv)
    current = README.read_text(encoding="utf-8")
    wanted = render_readme(current, settings_table(), BEGIN, END)
    if current == wanted:
        return 0
    if args.check:
        print(
            f"{README.name}: the settings table is stale; run python scripts/settings_table.py",
            file=sys.stderr,
        )
        return 1
    README.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
