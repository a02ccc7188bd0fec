"""Generate the README's settings table from mailfleet.settings (the single truth).

    python scripts/settings_table.py           # rewrite the table in README.md
    python scripts/settings_table.py --check   # exit 1 if README.md's table is stale

The table sits between `<!-- BEGIN SETTINGS -->` and `<!-- END SETTINGS -->` in README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mailfleet.settings import Setting, groups

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- BEGIN SETTINGS -->"
END = "<!-- END SETTINGS -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(s: Setting) -> str:
    if s.default_text is not None:
        return _cell(s.default_text)
    if s.default is None or s.default == ():
        return "(unset)"
    if isinstance(s.default, bool):
        return f"`{str(s.default).lower()}`"
    return f"`{_cell(str(s.default))}`"


def settings_table() -> str:
    rows = ["| Variable | Type | Default | Secret | Description |", "|---|---|---|---|---|"]
    for group, settings in groups():
        rows.append(f"| **{group}** | | | | |")
        for s in settings:
            secret = "yes, or `_FILE`" if s.secret and s.takes_file else "yes" if s.secret else ""
            rows.append(f"| `{s.name}` | {s.type} | {_default(s)} | {secret} | {_cell(s.help)} |")
    return "\n".join(rows)


def render_readme(readme: str, table: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md needs the markers {BEGIN} and {END}")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if README.md's table is stale")
    args = parser.parse_args(argv)
    current = README.read_text(encoding="utf-8")
    wanted = render_readme(current, settings_table())
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
