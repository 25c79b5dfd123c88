"""What the CLIs print: rich tables on a terminal, plain lines everywhere else (a pipe, a file, a CI log).

A table piped to `cat` or read in a CI log is cut to 80 columns and loses what the reader came for (a file's line
number, a long model name); off a terminal every row is printed whole, one per line, cells separated by tabs.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["console", "is_terminal", "print_table", "plain"]


def console(stderr: bool = False) -> Console:
    """The console a CLI prints with: off a terminal long lines stay whole (rich would fold them at 80 columns)."""
    c = Console(stderr=stderr, highlight=False)
    c.soft_wrap = not c.is_terminal
    return c


def is_terminal(console: Console) -> bool:
    """True when `console` writes to an interactive terminal (FORCE_COLOR or TTY_COMPATIBLE make it one too)."""
    return console.is_terminal


def plain(cell) -> str:
    """A table cell as plain text: rich markup rendered away, newlines kept as spaces so a row stays one line."""
    text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
    return " ".join(text.split("\n"))


def print_table(console: Console, table: Table) -> None:
    """The table on a terminal; otherwise its title, then a header line and one line per row, tab-separated."""
    if is_terminal(console):
        console.print(table)
        return
    rows = [[plain(c.header) for c in table.columns]] if table.show_header else []
    cells = [list(c.cells) for c in table.columns]
    rows += [[plain(col[i]) for col in cells] for i in range(table.row_count)]
    title = plain(table.title) if table.title else ""
    # Written to the file directly: rich would expand the tabs, and fold a long line at the 80 columns it assumes
    # off a terminal.
    lines = ([f"{title}:"] if title else []) + ["\t".join(row) for row in rows]
    console.file.write("".join(line + "\n" for line in lines))
    console.file.flush()
