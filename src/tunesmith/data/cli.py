"""`tunesmith data ...`: validate, split and export example datasets.

Each verb reads files through `readers`, runs the library function and prints one report; torch and transformers
are imported only inside the commands that count tokens, so `tunesmith --help` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from tunesmith.data.report import print_problems, read_or_exit
from tunesmith.data.transform import MAX_SEQ_LEN
from tunesmith.output import console, print_table, progress_tasks

app = typer.Typer(no_args_is_help=True, help="Check, split and export example datasets.")
out = console()
err = console(stderr=True)

MAP_HELP = "Column mapping for any format, e.g. input=question,output=answer (the mapped column replaces that key)."
MODEL_HELP = "Tokenizer and chat template for token counts: registry name or HF model dir [default: smollm2-135m]."


@contextmanager
def _progress(enabled: bool = True):
    """Progress on stderr (a bar, or a line every few seconds off a terminal); yields `start(label, total) -> advance(n)`
    for the library functions."""
    if not enabled:
        yield None
        return
    with progress_tasks(err) as start:
        yield start


# Token counts need the tokenizer a `--model` spec names, and the models stage resolves specs. data comes first and
# imports no later stage, so the top-level CLI (`tunesmith.cli`), which composes the stages, hands the loader in:
# `load_tokenizer(spec or None) -> tokenizer`, None meaning the default model.
load_tokenizer: Callable[[str | None], Any] | None = None


def _tokenizer(model: str | None):
    if load_tokenizer is None:
        err.print("[red]error:[/] no tokenizer loader: run this through `tunesmith`, or pass --no-tokens")
        raise typer.Exit(2)
    try:
        with err.status(f"loading tokenizer {model or 'of the default model'}"):
            return load_tokenizer(model)
    except Exception as e:  # a bad spec, a missing package or a broken dir: say which, do not dump a traceback
        err.print(f"[red]error:[/] cannot load the tokenizer of {escape(str(model or 'the default model'))}: {escape(str(e))}")
        raise typer.Exit(1) from e


def _print_report(report) -> None:
    s = report.stats
    t = Table("file", "examples", "formats", title="Examples", title_justify="left")
    for name, n in s.get("examples", {}).items():
        fmts = ", ".join(f"{k}: {v}" for k, v in s["formats"][name].items())
        t.add_row(name, str(n), escape(fmts))
    print_table(out, t)
    if s.get("tokens"):
        t = Table("file", "min", "median", "p95", "max", "max_seq_len", "over max", title="Tokens per example")
        for name, d in s["tokens"].items():
            cells = [str(d.get(k, "-")) for k in ("min", "median", "p95", "max", "max_seq_len", "over_max")]
            t.add_row(name, *cells)
        print_table(out, t)
    if s.get("outputs", {}).get("chars", {}).get("n"):
        title = f"Outputs ({s['outputs']['distinct']} distinct)"
        t = Table("output length", "min", "median", "p95", "max", title=title)
        for unit in ("chars", "words"):
            t.add_row(unit, *(str(s["outputs"][unit][k]) for k in ("min", "median", "p95", "max")))
        print_table(out, t)
    if s.get("labels"):
        lab = s["labels"]
        t = Table("label", "count", title="Labels")
        for k, v in list(lab["counts"].items())[:20]:
            t.add_row(escape(k), str(v))
        print_table(out, t)
        out.print(f"labels: {lab['kind']}; majority {lab['majority_share']:.0%}, imbalance x{lab['imbalance_ratio']}")
    dup, leak = s.get("duplicates", {}), s.get("leakage")
    if dup:
        out.print(
            f"duplicates: {dup['exact_groups']} exact groups ({dup['exact_extra_copies']} extra copies), "
            f"{dup['near_pairs']} near pairs, {dup['conflicting_inputs']} inputs with conflicting outputs"
        )
    if leak:
        out.print(f"train/eval leakage: {leak['exact']} exact, {leak['near']} near")
    for note in report.notes:
        out.print(f"note: {escape(note)}")
    print_problems(report.problems, out)
    color = "red" if report.n_errors else "green"
    out.print(f"[{color}]{report.n_errors} error(s), {report.n_warnings} warning(s)[/]")


@app.command()
def validate(
    file: Path = typer.Argument(..., help="Training examples: JSONL, CSV/TSV or Parquet, any supported format."),
    eval_file: Path = typer.Option(None, "--eval", help="Held-out examples, checked too and for leakage from train."),
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    max_seq_len: int = typer.Option(None, "--max-seq-len", help="Token limit to check against [default: train's]."),
    no_tokens: bool = typer.Option(False, "--no-tokens", help="Skip the token-length section (no tokenizer load)."),
    mapping: str = typer.Option(None, "--map", help=MAP_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Check a dataset and print one report; exit code 1 when there are errors, 0 with only warnings."""
    from tunesmith.data.validate import validate_files

    tok = None if no_tokens else _tokenizer(model)
    limit = max_seq_len or (None if no_tokens else MAX_SEQ_LEN)
    with _progress(not as_json) as progress:
        # keep_examples=False: the report needs counts and hashes only, so a file of any size is checked in bounded memory.
        report = validate_files(file, eval_file, tokenizer=tok, max_seq_len=limit, mapping=mapping, progress=progress,
                                keep_examples=False)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    else:
        _print_report(report)
    raise typer.Exit(1 if report.n_errors else 0)


@app.command()
def split(
    file: Path = typer.Argument(..., help="Examples to split (any supported format)."),
    out_dir: Path = typer.Option(..., "--out", help="Directory for train.jsonl and eval.jsonl."),
    eval_fraction: float = typer.Option(0.1, "--eval-fraction", min=0.0, max=0.99, help="Share of examples for eval."),
    seed: int = typer.Option(0, "--seed", help="Seed of the group shuffle: the same seed gives the same split."),
    group_key: str = typer.Option(
        None, "--group-key", help="Meta field whose values stay on one side (default: clusters of near-same inputs)."
    ),
    mapping: str = typer.Option(None, "--map", help=MAP_HELP),
) -> None:
    """Split into train/eval without cutting a group in two; writes canonical messages JSONL atomically."""
    from tunesmith.data.split import split_examples, write_split

    examples = read_or_exit(file, mapping, err)
    with err.status("grouping near-duplicate inputs"):
        result = split_examples(examples, eval_fraction, seed, group_key)
    print_problems(result.problems, err)
    train_path, eval_path = write_split(result, out_dir)
    out.print(f"train: {len(result.train)} examples -> {escape(str(train_path))}")
    out.print(f"eval: {len(result.eval)} examples -> {escape(str(eval_path))}")
    out.print(f"groups: {result.n_groups} (seed {seed})")


@app.command("export")
def export_cmd(
    file: Path = typer.Argument(..., help="Examples to export (any supported format)."),
    fmt: str = typer.Option("openai", "--format", help="Target format: openai (chat fine-tuning JSONL)."),
    out_path: Path = typer.Option(..., "--out", help="Output file."),
    model: str = typer.Option(None, "--model", help="Count tokens with this tokenizer for the length warning."),
    max_tokens: int = typer.Option(None, "--max-tokens", help="Per-example token limit to warn at [default: 16385]."),
    mapping: str = typer.Option(None, "--map", help=MAP_HELP),
) -> None:
    """Export to another tool's format, checked against that format's rules; nothing is written on errors."""
    from tunesmith.data.export import EXPORTERS, OPENAI_MAX_TOKENS

    if fmt not in EXPORTERS:
        err.print(f"[red]error:[/] unknown --format {escape(fmt)!r}; choose one of: {', '.join(EXPORTERS)}")
        raise typer.Exit(2)
    examples = read_or_exit(file, mapping, err)
    tok = _tokenizer(model) if model else None
    problems = EXPORTERS[fmt](examples, out_path, tokenizer=tok, max_tokens=max_tokens or OPENAI_MAX_TOKENS)
    print_problems(problems, err)
    if any(p.level == "error" for p in problems):
        err.print(f"[red]{sum(p.level == 'error' for p in problems)} error(s); {escape(str(out_path))} not written[/]")
        raise typer.Exit(1)
    if tok is None:
        out.print("note: token limit not checked (pass --model to count tokens)")
    out.print(f"wrote {len(examples)} examples in {fmt} format -> {escape(str(out_path))}")


__all__ = ["app"]
