"""`tunesmith analyze LOG`: Category / Root Cause / Fix (and evidence lines) for a failed CI log; `-` reads stdin."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console


def analyze(
    log: str = typer.Argument(..., help="The failed job's log file, or '-' for stdin."),
    run: Path = typer.Option(None, "--run", help="A trained run dir (default: the analyzer adapter shipped with tunesmith)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (always parses)."),
    budget: int = typer.Option(1024, help="Token budget of the log excerpt the model sees."),
    max_new_tokens: int = typer.Option(160, help="Upper bound on the answer's tokens."),
    prior: bool = typer.Option(True, "--prior/--no-prior", help="Weigh the run's category prior (fitted on its training "
                               "examples by `tunesmith logs fit-prior`) into the Category; --no-prior: the model alone."),
) -> None:
    """Analyze a failed CI log: Category, Root Cause, Fix and the evidence lines it relied on."""
    from tunesmith.logs.analyze import Analyzer

    err = Console(stderr=True)
    if log == "-":
        source = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    else:
        source = Path(log)
        if not source.is_file():
            err.print(f"[red]log file not found: {log}[/]")
            raise typer.Exit(2)
    try:
        analyzer = Analyzer(run, budget=budget, max_new_tokens=max_new_tokens, prior=prior)
    except FileNotFoundError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(1)
    result = analyzer.analyze(source)
    typer.echo(result.to_json() if as_json else result.to_text())
