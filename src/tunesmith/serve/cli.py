"""`tunesmith serve`: the analyzer and an OpenAI-compatible chat endpoint over HTTP, with auth, limits and metrics.

The bind/key check runs before the model loads; fastapi, uvicorn and torch are imported inside the command.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from tunesmith.output import console as make_console

from tunesmith.logs import options as opt
from tunesmith.serve.settings import Settings

__all__ = ["serve"]


def _setup_logging(log_file: Path | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("tunesmith.serve", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        for h in handlers:
            h.setFormatter(fmt)
            logger.addHandler(h)


def serve(
    run: Path = typer.Option(None, "--run", help="A trained run dir (default: the analyzer adapter shipped with tunesmith)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but loopback requires an API key."),
    port: int = typer.Option(8000, help="TCP port."),
    api_key: str = typer.Option(None, "--api-key", help="Bearer key every route but /healthz and / requires "
                                "(default: $TUNESMITH_API_KEY).", show_default=False),
    max_request_mb: float = typer.Option(5.0, help="Largest request body in MB; bigger ones get 413."),
    timeout: float = typer.Option(120.0, help="Seconds a request may wait for the model (queue included) before 504."),
    max_batch: int = typer.Option(8, help="Requests served by one batched generate() call."),
    max_queue: int = typer.Option(Settings.max_queue, help="Queued requests beyond this get 429 with Retry-After."),
    read_timeout: float = typer.Option(Settings.read_timeout_s, help="Seconds a client has to send a request's headers, "
                                       "and then its body; slower clients get 408 (slowloris)."),
    budget: int = opt.BUDGET,
    max_new_tokens: int = opt.MAX_NEW_TOKENS,
    prior: bool = opt.PRIOR,
    prior_weight: float = opt.PRIOR_WEIGHT,
    kb: list[Path] = opt.KB,
    use_kb: bool = opt.USE_KB,
    log_file: Path = typer.Option(None, "--log-file", help="Also write the (redacted, body-free) server log here."),
) -> None:
    """Serve the CI log analyzer and an OpenAI-compatible chat API over HTTP."""
    from tunesmith.serve.auth import require_key_for, resolve_key

    err = make_console(stderr=True)
    key = resolve_key(api_key)
    try:
        require_key_for(host, key)
    except ValueError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(2)
    if max_batch < 1 or max_queue < 1 or max_request_mb <= 0 or timeout <= 0 or read_timeout <= 0:
        err.print("[red]--max-batch, --max-queue, --max-request-mb, --timeout and --read-timeout must be positive[/]")
        raise typer.Exit(2)

    from tunesmith.logs.analyze import resolve_run
    from tunesmith.serve.app import create_app
    from tunesmith.serve.runner import run as run_server

    _setup_logging(log_file)
    try:
        source = resolve_run(run)
    except FileNotFoundError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(1)
    try:
        with err.status(f"loading the model from {source} …"):
            analyzer = opt.build_analyzer(source, budget=budget, max_new_tokens=max_new_tokens, prior=prior,
                                          prior_weight=prior_weight, kb=kb, use_kb=use_kb,
                                          warn=lambda m: err.print(m, markup=False, highlight=False, soft_wrap=True))
    except (OSError, ValueError) as e:  # a run dir without its model files, an unreadable weight file
        err.print(f"[red]cannot load {source}: {e}[/]", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    name = Path(source).resolve().name if run is not None else "tunesmith-ci-analyzer"
    settings = Settings(api_key=key, max_request_bytes=int(max_request_mb * 1024 * 1024), request_timeout_s=timeout,
                        max_batch=max_batch, max_queue=max_queue, read_timeout_s=read_timeout, model_name=name)
    err.print(f"serving [bold]{name}[/] on http://{host}:{port}  (auth: {'Bearer key' if key else 'none, loopback only'})")
    run_server(create_app(analyzer, settings), host, port)
