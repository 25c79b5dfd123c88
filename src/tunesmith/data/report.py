"""Problems as the CLIs print them, for every stage that reads example files (`data ...`, `logs fit-prior`).

On a terminal a table (errors first); anywhere else one problem per line as `file:line: level: key: message`, the
compiler convention editors and CI annotations parse, every line whole.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tunesmith.data.example import Example, Problem
from tunesmith.output import is_terminal

__all__ = ["MAX_PROBLEM_ROWS", "problem_line", "print_problems", "read_or_exit"]

MAX_PROBLEM_ROWS = 40  # the terminal table shows this many; the plain lines and --json list every problem


def problem_line(p: Problem) -> str:
    """`file:line: level: key: message`; the parts a problem has not (a dataset-wide one names no file) left out."""
    where = f"{p.source}:{p.line}: " if p.source and p.line else f"{p.source}: " if p.source else ""
    key = f"{p.key}: " if p.key else ""
    return f"{where}{p.level}: {key}{p.message}"


def print_problems(problems: list[Problem], console: Console) -> None:
    if not problems:
        return
    order = sorted(problems, key=lambda p: p.level != "error")  # errors first, file order kept within a level
    if not is_terminal(console):
        for p in order:
            console.print(problem_line(p), markup=False, highlight=False, soft_wrap=True)
        return
    t = Table("level", "where", "key", "problem", title="Problems", title_justify="left")
    for p in order[:MAX_PROBLEM_ROWS]:
        where = f"{p.source}:{p.line}" if p.line else p.source
        style = "red" if p.level == "error" else "yellow"
        t.add_row(f"[{style}]{p.level}[/]", escape(where), escape(p.key), escape(p.message))
    console.print(t)
    if len(order) > MAX_PROBLEM_ROWS:
        console.print(f"... and {len(order) - MAX_PROBLEM_ROWS} more problems (--json lists all)")


def read_or_exit(path: Path, mapping: str | None, console: Console) -> list[Example]:
    """Read a file for a command that writes something: print every problem, and stop on errors (nothing written)."""
    from tunesmith.data.readers import read_examples

    examples, problems = read_examples(path, mapping)
    print_problems(problems, console)
    if any(p.level == "error" for p in problems):
        n = sum(p.level == "error" for p in problems)
        console.print(f"[red]{n} error(s) in {escape(str(path))}; nothing written[/]")
        raise typer.Exit(1)
    return examples
