"""The `tunesmith` command: one table of verbs, each implemented by the `cli.py` of its pipeline stage.

Stage CLI modules import torch and friends inside their command functions, so `tunesmith --help` stays fast.
"""

from __future__ import annotations

import typer

from tunesmith import __version__
from tunesmith.data import cli as data_cli
from tunesmith.evaluate import cli as evaluate_cli
from tunesmith.export import cli as export_cli
from tunesmith.logs import analyze_cli
from tunesmith.logs import cli as logs_cli
from tunesmith.models import cli as models_cli
from tunesmith.quiet import quiet
from tunesmith.serve import ci_fetch as ci_fetch_cli
from tunesmith.serve import ci_report as ci_report_cli
from tunesmith.serve import cli as serve_cli
from tunesmith.train import cli as train_cli

app = typer.Typer(
    name="tunesmith",
    help="Fine-tune small open LLMs on your own examples, prove it beats prompting and RAG, and ship it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# The table of commands. Sub-groups are `tunesmith <group> <verb>`; single verbs are `tunesmith <verb>`.
app.add_typer(data_cli.app, name="data", help="Check, split and export example datasets.")
app.add_typer(models_cli.app, name="models", help="List and inspect base models (never downloads from a hub).")
app.add_typer(logs_cli.app, name="logs", help="Distill CI failure logs and redact secrets from them.")
app.command("train", help="Fine-tune a base model on your examples (full, lora, qlora, dora, ia3).")(train_cli.train)
app.command("generate", help="Generate one answer with a trained run or a base model.")(models_cli.generate)
app.command("analyze", help="Analyze a failed CI log: Category, Root Cause, Fix, evidence lines.")(analyze_cli.analyze)
app.command("export", help="Export a run: merged HF model, adapter, checked GGUF, or Ollama dir.")(export_cli.export_command)
app.command("eval", help="Score a model on a held-out set: field match, ROUGE-L, chrF, semantic, format, stopping.")(
    evaluate_cli.eval_command
)
app.command("serve", help="Serve the analyzer and an OpenAI-compatible chat API over HTTP (auth, limits, metrics).")(
    serve_cli.serve
)
app.command("ci-report", help="In a failed CI job: explain the failure in the job summary and a JSON artifact; exits 0.")(
    ci_report_cli.ci_report
)
app.command("ci-fetch", help="After a run failed: fetch its failed jobs' logs from GitHub or GitLab and explain each.")(
    ci_fetch_cli.ci_fetch
)
app.command("compare", help="Fine-tuned vs prompting vs RAG on one held-out set, with advice.")(evaluate_cli.compare_command)


def _load_tokenizer(spec: str | None):
    from tunesmith.models import load_tokenizer

    return load_tokenizer(spec)


# `data validate --model` counts tokens; data may not import the later models stage, so the composition hands it over.
data_cli.load_tokenizer = _load_tokenizer


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tunesmith {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Fine-tune small open LLMs on your own examples, prove it beats prompting and RAG, and ship it."""
    quiet()  # library noise a user cannot act on (tunesmith/quiet.py says what and why)


def main() -> None:
    app()


__all__ = ["app", "main"]
