"""The README's configuration table, printed from the declarations (`python -m dbd_playerstats.config`).

The README holds the table between two markers; `tests/unit/test_settings.py` checks that it equals what this
module prints, so a new or changed variable cannot go undocumented.
"""

from __future__ import annotations

from typing import Final

from dbd_playerstats.config.declare import Var, checks_of, every_var
from dbd_playerstats.config.settings import Settings
from dbd_playerstats.config.telemetry import TelemetryVariables

BEGIN: Final = (
    "<!-- configuration table: printed by `python -m dbd_playerstats.config` from the declarations in "
    "server/dbd_playerstats/config/; regenerate with `python -m dbd_playerstats.config --write README.md` -->"
)
END: Final = "<!-- end of the configuration table -->"
DOCUMENTED: Final = (Settings, TelemetryVariables)
"""What the table lists, in this order: the service's settings, then the OpenTelemetry variables read here."""


def markdown_table() -> str:
    """One row per variable: name, default as the environment spells it, what is allowed, what it does."""
    lines = ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
    for root in DOCUMENTED:
        for group, name, declared in every_var(root):
            rules = [rule for check in checks_of(group) if (rule := check.rule(group, name))]
            allowed = "; ".join([declared.kind.allowed, *rules])
            lines.append(f"| `{declared.name}` | {_default(declared)} | {_cell(allowed)} | {_cell(declared.doc)} |")
    return "\n".join(lines) + "\n"


def with_table(document: str, table: str) -> str:
    """`document` with the text between the markers replaced by `table` (blank lines around it, for markdown)."""
    head, _, tail = _split(document)
    return f"{head}{BEGIN}\n\n{table}\n{END}{tail}"


def table_in(document: str) -> str:
    """The table currently between the markers of `document`."""
    _, table, _ = _split(document)
    return table.strip("\n") + "\n"


def _split(document: str) -> tuple[str, str, str]:
    """Before the begin marker, between the markers, after the end marker; ValueError when one is missing."""
    head, begin, rest = document.partition(BEGIN)
    between, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the document lacks the configuration table markers {BEGIN!r} ... {END!r}")
    return head, between, tail


def _default(declared: Var[object]) -> str:
    return f"`{declared.default}`" if declared.default else "(empty)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


__all__ = ["BEGIN", "DOCUMENTED", "END", "markdown_table", "table_in", "with_table"]
