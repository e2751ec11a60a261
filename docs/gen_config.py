"""Write the options table of docs/configuration.md from the command line's own definitions.

    .venv/bin/python docs/gen_config.py

rewrites docs/configuration-table.md: one row for each option `meetings_emulator.config`
defines, with its flag, its environment variable, its default and what it does, in the
order and the words of `meetings-emulator --help`. tests/project/test_docs_config.py
regenerates the table and fails when the committed file differs, so an option added to
config.py without running this cannot go unnoticed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from meetings_emulator.config import (  # the option table itself, as --help reads it
    Option,
    _options,
    _shown_default,
)
from meetings_emulator.config_values import FALSE_WORDS, TRUE_WORDS

TABLE = Path(__file__).resolve().parent / "configuration-table.md"
COMMAND = ".venv/bin/python docs/gen_config.py"


def _cell(text: str) -> str:
    """One table cell. Outside `code`, what markdown would read as markup (`<`, `*`, `_`,
    and `|`, which ends a cell) is escaped; inside it, Python-Markdown's tables leave a pipe
    alone and would show a backslash."""
    parts = text.replace("\n", " ").split("`")
    for n in range(0, len(parts), 2):
        for character, escaped in (("<", "&lt;"), ("*", "\\*"), ("_", "\\_"), ("|", "\\|")):
            parts[n] = parts[n].replace(character, escaped)
    return "`".join(parts)


def _default(option: Option) -> str:
    shown = _shown_default(option)
    return shown if " " in shown else f"`{shown}`"


def _flag(option: Option) -> str:
    if option.kind == "switch":
        return f"`{option.flag}`"
    metavar = option.metavar or option.name.split("-")[-1].upper()
    repeat = " (repeatable)" if option.kind == "list" else ""
    return f"`{option.flag} {metavar}`{repeat}"


def _variable(option: Option) -> str:
    if option.kind == "switch":
        return f"`{option.env}` ({'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)})"
    if option.kind == "list":
        return f"`{option.env}` (comma-separated)"
    return f"`{option.env}`"


def _meaning(option: Option) -> str:
    secret = "; shown as `***` in the log" if option.secret else ""
    return option.help + secret


def table() -> str:
    """The markdown table, as docs/configuration-table.md must hold it."""
    lines = [
        f"<!-- Written by `{COMMAND}` from meetings_emulator/config.py: do not edit. -->",
        "",
        "| group | flag | environment variable | default | what it does |",
        "|---|---|---|---|---|",
    ]
    for option in _options():
        cells = (
            option.group,
            _flag(option),
            _variable(option),
            _default(option),
            _meaning(option),
        )
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    TABLE.write_text(table(), encoding="utf-8")
    print(f"wrote {TABLE} ({len(_options())} options)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
