"""The training progress: a rich bar on a terminal; off one (a pipe, a file, a CI log), a plain line every few seconds.

rich's bar is a live display: off a terminal it draws nothing until the run ends, so a CI log of a 30-minute run would
show no sign of life. There, one whole line per `every_s` seconds says where the run is instead.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tunesmith.output import PROGRESS_EVERY_S, console as make_console


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class TrainProgress:
    def __init__(self, total: int, start: int = 0, enabled: bool = True, console: Console | None = None,
                 every_s: float = PROGRESS_EVERY_S):
        self.enabled, self.total, self.start, self.every_s = enabled, total, start, every_s
        self.console = console or make_console()
        self.lines = enabled and not self.console.is_terminal
        self.started = self.last_line = time.monotonic()
        self.fields = {"loss": "-", "eval": "-", "tps": "-"}
        self.step = self.printed = start
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  eval {task.fields[eval]}  {task.fields[tps]} tok/s"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console, disable=not enabled or self.lines, transient=False,
        )
        self.task = self.progress.add_task("train", total=total, completed=start, **self.fields)

    def __enter__(self) -> "TrainProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)
        if self.lines and self.step != self.printed:
            self._line()  # the last step reached, whatever the timer said

    def _line(self) -> None:
        elapsed = time.monotonic() - self.started
        done = self.step - self.start
        eta = elapsed / done * (self.total - self.step) if done else 0.0
        f = self.fields
        # Written to the file directly: whole, one line, no markup (rich would fold it at 80 columns off a terminal).
        self.console.file.write(f"train: step {self.step}/{self.total} ({100 * self.step // max(1, self.total)}%), "
                                f"loss {f['loss']}, eval {f['eval']}, {f['tps']} tok/s, "
                                f"elapsed {_clock(elapsed)}, ETA {_clock(eta)}\n")
        self.console.file.flush()
        self.last_line, self.printed = time.monotonic(), self.step

    def update(self, step: int, record: dict) -> None:
        self.step = step
        self.fields["loss"] = f"{record['loss']:.4f}"
        self.fields["tps"] = f"{record['tokens_per_s']:.0f}"
        if "eval_loss" in record:
            self.fields["eval"] = f"{record['eval_loss']:.4f}"
        if self.lines:
            # Every few seconds, and at each evaluation (the figure a reader of the log waits for).
            if time.monotonic() - self.last_line >= self.every_s or "eval_loss" in record:
                self._line()
            return
        self.progress.update(self.task, completed=step, **self.fields)


__all__ = ["TrainProgress"]
