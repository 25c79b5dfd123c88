"""`tunesmith analyze LOG`: Category / Root Cause / Fix (and evidence lines) for a failed CI log; `-` reads stdin.

The model is the run's, loaded here, or with `--endpoint` any OpenAI-compatible server's: redaction, distillation, the
knowledge base and parsing run here either way, and only the redacted excerpt is sent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from tunesmith.output import console as make_console

from tunesmith.logs import options as opt
from tunesmith.models import options as remote_opt


def analyze(
    log: str = typer.Argument(..., help="The failed job's log file, or '-' for stdin."),
    run: Path = typer.Option(None, "--run", help="A trained run dir (default: the analyzer adapter shipped with "
                             "tunesmith). With --endpoint it gives the category prior and the system prompt."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (always parses)."),
    budget: int = opt.BUDGET,
    max_new_tokens: int = opt.MAX_NEW_TOKENS,
    prior: bool = opt.PRIOR,
    prior_weight: float = opt.PRIOR_WEIGHT,
    kb: list[Path] = opt.KB,
    use_kb: bool = opt.USE_KB,
    endpoint: str = remote_opt.ENDPOINT,
    model: str = remote_opt.MODEL,
    api_key_env: str = remote_opt.API_KEY_ENV,
    timeout: float = remote_opt.TIMEOUT,
) -> None:
    """Analyze a failed CI log: Category, Root Cause, Fix and the evidence lines it relied on."""
    from tunesmith.models.remote import EndpointError, key_from_env

    err = make_console(stderr=True)
    if log == "-":
        # The stream itself, not its contents: distill reads it a bounded piece at a time, so a log of any size (or one
        # without a newline) costs megabytes. `zcat` is not needed: a gzip stream is recognised by its magic bytes.
        import gzip
        import io

        source = sys.stdin.buffer
        source = source if hasattr(source, "peek") else io.BufferedReader(source)
        if source.peek(2)[:2] == b"\x1f\x8b":
            source = gzip.GzipFile(fileobj=source, mode="rb")
    else:
        source = Path(log)
        if not source.is_file():
            err.print(f"[red]log file not found: {log}[/]")
            raise typer.Exit(2)
    warn = lambda m: err.print(m, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    try:
        analyzer = opt.build_analyzer(run, budget=budget, max_new_tokens=max_new_tokens, prior=prior,
                                      prior_weight=prior_weight, kb=kb, use_kb=use_kb, endpoint=endpoint, model=model,
                                      api_key=key_from_env(api_key_env) if endpoint else None, timeout=timeout, warn=warn)
    except FileNotFoundError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(1)
    except EndpointError as e:
        raise remote_opt.endpoint_error(e, api_key_env) from None
    from tunesmith.output import progress

    try:
        with progress("analyzing the log", None):  # a line every few seconds when the output is not a terminal
            result = analyzer.analyze(source)
    except EndpointError as e:
        raise remote_opt.endpoint_error(e, api_key_env) from None
    except FileNotFoundError as e:  # the model is loaded on first use: a run dir missing its weights shows here
        err.print(f"[red]{e}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    typer.echo(result.to_json() if as_json else result.to_text())
