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
    kb: list[Path] = typer.Option([], "--kb", help="A knowledge-base file to retrieve from, besides the built-in one and "
                                  ".tunesmith/kb.jsonl (repeatable; `tunesmith logs kb add` writes entries)."),
    use_kb: bool = typer.Option(True, "--kb-retrieval/--no-kb", help="--no-kb: the model alone, no knowledge base."),
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
    from tunesmith.logs.kb import PROJECT_KB, KnowledgeBase

    knowledge = None
    if use_kb:
        knowledge = KnowledgeBase.load([*([PROJECT_KB] if PROJECT_KB.is_file() else []), *kb])
        for p in knowledge.problems:  # bad lines are skipped, and said
            err.print(f"warning: {p}", markup=False, highlight=False, soft_wrap=True)
    try:
        analyzer = Analyzer(run, budget=budget, max_new_tokens=max_new_tokens, prior=prior, kb=knowledge or False)
    except FileNotFoundError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(1)
    from tunesmith.output import progress

    try:
        with progress("analyzing the log", None):  # a line every few seconds when the output is not a terminal
            result = analyzer.analyze(source)
    except FileNotFoundError as e:  # the model is loaded on first use: a run dir missing its weights shows here
        err.print(f"[red]{e}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    typer.echo(result.to_json() if as_json else result.to_text())
