"""`tunesmith logs ...`: distill a CI log to the lines that explain its failure, and redact secrets from logs.

Both read a file or stdin (`-`) and stream, so a log larger than memory is fine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="Distill CI failure logs and redact secrets from them.")


def _open(log: str):
    if log == "-":
        return sys.stdin.buffer
    path = Path(log)
    if not path.is_file():
        raise typer.BadParameter(f"{log}: no such file", param_hint="LOG")
    return path


@app.command()
def distill(
    log: str = typer.Argument(..., help="CI log file (.gz is read as gzip), or - for stdin."),
    budget: int = typer.Option(1024, "--budget", min=16, help="Token budget of the excerpt (SmolLM2 tokenizer)."),
    line_numbers: bool = typer.Option(False, "--line-numbers", help="Prefix each line with its line number in the log."),
    pack_repeats: bool = typer.Option(False, "--pack-repeats", help="Keep a repeated line (a retry's error) once and "
                                      "spend the budget on other lines (better recall; not what the analyzer sees)."),
) -> None:
    """Print the failure excerpt of LOG: the lines that explain why the build failed, secrets redacted."""
    from tunesmith.logs.distill import distill as run

    excerpt = run(_open(log), budget=budget, pack_repeats=pack_repeats)
    typer.echo(excerpt.render(line_numbers=line_numbers))
    for note in excerpt.notes:
        typer.echo(f"note: {note}", err=True)


@app.command()
def redact(
    log: str = typer.Argument(..., help="Log file (.gz is read as gzip), or - for stdin."),
) -> None:
    """Print LOG with credentials replaced by [REDACTED:<kind>], line for line."""
    from tunesmith.logs.distill import iter_lines
    from tunesmith.logs.redact import redact_lines

    def lines():
        for text, skipped in iter_lines(_open(log)):
            # Lines past 64 KiB are not held in memory whole: say so rather than cut them silently.
            yield f"{text.rstrip(chr(10))} [... line truncated: {skipped} more characters]\n" if skipped else text

    out = sys.stdout
    for line in redact_lines(lines()):
        out.write(line)
    out.flush()


__all__ = ["app"]
