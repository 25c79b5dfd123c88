"""`tunesmith logs ...`: distill a CI log to the lines that explain its failure, and redact secrets from logs.

Both read a file or stdin (`-`) and stream, so a log larger than memory is fine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tunesmith.logs import kb_cli
from tunesmith.logs import options as opt

app = typer.Typer(no_args_is_help=True, help="Distill CI failure logs and redact secrets from them.")
app.add_typer(kb_cli.app, name="kb", help="The failure knowledge base: check, list, match, add and import incidents.")


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
    budget: int = opt.BUDGET,
    line_numbers: bool = typer.Option(False, "--line-numbers", help="Prefix each line with its line number in the log."),
    pack_repeats: bool = typer.Option(True, "--pack-repeats/--keep-repeats", help="Keep a repeated line (a retry's "
                                      "error) once and spend the budget on other lines, as the analyzer does; "
                                      "--keep-repeats keeps every copy."),
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


@app.command("fit-prior")
def fit_prior(
    data: Path = typer.Argument(..., help="The run's training examples (JSONL/CSV/Parquet; answers in the "
                                "Category / Root Cause / Fix format, or a `category` column)."),
    run: Path = typer.Option(..., "--run", help="The run dir the analyzer loads (`tunesmith analyze --run`)."),
) -> None:
    """Fit the category prior the analyzer multiplies into the model's choice of Category, and save it in RUN."""
    from rich.console import Console

    from tunesmith.data.report import read_or_exit
    from tunesmith.logs.categories import IDS, parse_category
    from tunesmith.logs.prior import PRIOR_FILES, CategoryPrior

    err = Console(stderr=True, soft_wrap=True)  # a file name and its line numbers stay on one line
    if not data.is_file():
        raise typer.BadParameter(f"{data}: no such file", param_hint="DATA")
    if not run.is_dir():
        raise typer.BadParameter(f"{run}: no such run dir", param_hint="--run")
    examples = read_or_exit(data, None, err)  # every problem printed; on errors nothing is written
    texts, labels, unlabelled = [], [], []
    for ex in examples:
        cat = ex.meta.get("category")
        cat = cat if cat in IDS else parse_category(ex.completion.split("\n", 1)[0])
        if cat is None:
            unlabelled.append(ex.line)
            continue
        texts.append(ex.prompt)
        labels.append(cat)
    if unlabelled:  # said, not dropped silently: these examples do not teach the prior anything
        shown = ", ".join(map(str, unlabelled[:10])) + (" ..." if len(unlabelled) > 10 else "")
        err.print(f"[yellow]{data}: {len(unlabelled)} example(s) name no known category (lines {shown}); not used[/]")
    try:
        prior = CategoryPrior.fit(texts, labels)
    except ValueError as e:
        err.print(f"[red]{data}: {e}[/]")
        raise typer.Exit(1)
    prior.save(run)
    typer.echo(f"fitted on {len(texts)} examples, {len(prior.classes)} categories, {len(prior.vocab)} terms; "
               f"wrote {', '.join(str(run / f) for f in PRIOR_FILES)}")


__all__ = ["app"]
