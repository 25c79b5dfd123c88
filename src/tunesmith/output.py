"""What the CLIs print: rich tables on a terminal, plain lines everywhere else (a pipe, a file, a CI log).

A table piped to `cat` or read in a CI log is cut to 80 columns and loses what the reader came for (a file's line
number, a long model name); off a terminal every row is printed whole, one per line, cells separated by tabs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["console", "is_terminal", "print_table", "plain", "progress", "progress_tasks", "PROGRESS_EVERY_S"]

PROGRESS_EVERY_S = 5.0  # off a terminal, a progress line this often: alive in a CI log, not a flood


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


class _Lines:
    """Progress as plain lines: `label: done/total (pct%), elapsed, ETA`, every `every_s` seconds from a timer thread
    (so a slow batch still shows the run is alive), and a closing line when any was printed."""

    def __init__(self, console: Console, every_s: float):
        self.console, self.every_s = console, every_s
        self.tasks: list[list] = []  # [label, total, done, started]
        self.printed = False
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._tick, daemon=True)

    def start(self, label: str, total: int | None) -> Callable[[int], None]:
        task = [label, total, 0, time.monotonic()]
        with self.lock:
            self.tasks.append(task)
        if not self.thread.is_alive() and not self.stop.is_set():
            self.thread.start()

        def advance(n: int = 1) -> None:
            with self.lock:
                task[2] += n

        return advance

    def _line(self, task, final: bool = False) -> str:
        label, total, done, started = task
        elapsed = time.monotonic() - started
        if final:
            return f"{label}: {f'{done}/{total} ' if total else ''}done in {elapsed:.0f} s"
        if not total and not done:  # one long call with nothing to count: say it is alive
            return f"{label}: {elapsed:.0f} s"
        line = f"{label}: {done}/{total} ({100 * done / total:.0f}%)" if total else f"{label}: {done}"
        line += f", {elapsed:.0f} s"
        if total and done:
            line += f", about {elapsed * (total - done) / done:.0f} s left"
        return line

    def _print(self, line: str) -> None:
        self.console.file.write(line + "\n")
        self.console.file.flush()

    def _tick(self) -> None:
        while not self.stop.wait(self.every_s):
            with self.lock:
                lines = [self._line(t) for t in self.tasks if not (t[1] and t[2] >= t[1])]
            for line in lines:
                self._print(line)
                self.printed = True

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        if self.printed:
            for t in self.tasks:
                self._print(self._line(t, final=True))


@contextmanager
def progress_tasks(console: Console | None = None, every_s: float | None = None) -> Iterator[Callable]:
    """Yields `start(label, total) -> advance(n=1)`. On a terminal a transient rich bar per task; anywhere else (a
    pipe, a CI log) a plain line every `every_s` seconds (default PROGRESS_EVERY_S). Progress goes to stderr, so a
    command's output on stdout stays clean for a pipe."""
    console = console or Console(stderr=True)
    if is_terminal(console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        cols = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*cols, console=console, transient=True) as bar:

            def start(label: str, total: int | None):
                task = bar.add_task(label, total=total)
                return lambda n=1: bar.advance(task, n)

            yield start
        return
    lines = _Lines(console, PROGRESS_EVERY_S if every_s is None else every_s)
    try:
        yield lines.start
    finally:
        lines.close()


@contextmanager
def progress(label: str, total: int | None, console: Console | None = None,
             every_s: float | None = None) -> Iterator[Callable[[int], None]]:
    """One task of `progress_tasks`: yields `advance(n=1)`."""
    with progress_tasks(console, every_s) as start:
        yield start(label, total)
