"""`tunesmith eval` and `tunesmith compare`: the composition layer (loads models and the embedder, writes the files).

Heavy imports stay inside the functions so `tunesmith --help` never pays for torch.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Optional

import typer

from tunesmith.output import console, print_table

err = console(stderr=True)

_NORMALISER_HELP = ("FIELD=module:function applied to that field's predicted and reference values before exact match, "
                    "e.g. category=tunesmith.logs.categories:parse_category (repeatable).")


def _normalisers(specs: list[str]) -> dict:
    from tunesmith.evaluate.fields import canon_key

    out = {}
    for spec in specs:
        field, _, target = spec.partition("=")
        module, _, func = target.partition(":")
        if not field or not module or not func:
            raise typer.BadParameter(f"--normaliser {spec!r}: expected FIELD=module:function")
        try:
            out[canon_key(field)] = getattr(importlib.import_module(module), func)
        except (ImportError, AttributeError) as e:
            raise typer.BadParameter(f"--normaliser {spec!r}: {e}") from e
    return out


def _read(path: Path, what: str):
    from tunesmith.evaluate.runner import EvalInputError, read_examples

    try:
        examples, warnings = read_examples(path)
    except EvalInputError as e:
        err.print(f"[red]error in {what} {path}:[/red]\n{e}", highlight=False)
        raise typer.Exit(2) from e
    for w in warnings:
        err.print(f"[yellow]{w}[/yellow]", highlight=False)
    return examples


_LIMIT_HELP = "Score a seeded random sample of this many held-out examples (0 = all); the sample is the same every run."


def _sample(examples: list, limit: int) -> list:
    """A seeded sample in file order, so every row of a comparison (and every re-run) sees the same examples."""
    if not limit or limit >= len(examples):
        return examples
    import random

    keep = sorted(random.Random(0).sample(range(len(examples)), limit))
    err.print(f"scoring a seeded sample of {limit} of {len(examples)} held-out examples (--limit)")
    return [examples[i] for i in keep]


def _warn_overlap(ids: list[str]) -> None:
    if ids:
        shown = ", ".join(ids[:20]) + (f" … (+{len(ids) - 20})" if len(ids) > 20 else "")
        err.print(f"[yellow]warning: {len(ids)} held-out examples also appear in the training set, so their scores "
                  f"are not held-out: {shown}[/yellow]", highlight=False)


def _run_meta(run: str) -> dict:
    """RUN/model/tunesmith.json (base model, method, system prompt) when RUN is a run dir; {} for a plain model spec."""
    for p in (Path(run) / "model" / "tunesmith.json", Path(run) / "tunesmith.json"):
        if p.is_file():
            return json.loads(p.read_text(encoding="utf-8"))
    return {}


def eval_command(
    run: str = typer.Option(..., "--run", help="Run dir, model dir, .gguf or registry name to evaluate."),
    data: Path = typer.Option(..., "--data", help="Held-out examples (never seen in training)."),
    train: Optional[Path] = typer.Option(None, "--train", help="Training examples, to check the held-out set does not overlap."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output dir (default: RUN/eval, or ./eval for a model spec)."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Generation budget per answer; hits are counted."),
    batch_size: int = typer.Option(8, "--batch-size", help="Prompts generated together."),
    semantic: bool = typer.Option(True, "--semantic/--no-semantic", help="Semantic similarity with all-MiniLM-L6-v2."),
    normaliser: list[str] = typer.Option([], "--normaliser", help=_NORMALISER_HELP),
    limit: int = typer.Option(0, "--limit", help=_LIMIT_HELP),
) -> None:
    """Generate on a held-out set and score it: per-field exact match, ROUGE-L, chrF, semantic similarity, format, stopping."""
    from tunesmith.evaluate.runner import EvalInputError, evaluate, find_overlap, save_eval

    hooks = _normalisers(normaliser)
    held_out = _sample(_read(data, "held-out set"), limit)
    overlap = find_overlap(_read(train, "training set"), held_out) if train else []
    _warn_overlap(overlap)
    if not held_out:
        err.print(f"[red]error: {data}: the held-out set is empty; nothing to evaluate[/red]")
        raise typer.Exit(2)
    import tunesmith

    gen = tunesmith.load(run)
    embedder = _embedder() if semantic else None
    try:
        result = evaluate(gen, held_out, name=str(run), max_new_tokens=max_new_tokens, batch_size=batch_size,
                          embedder=embedder, normalisers=hooks, source=str(data))
    except EvalInputError as e:
        err.print(f"[red]error: {e}[/red]")
        raise typer.Exit(2) from e
    result.overlap = overlap
    out = out or (Path(run) / "eval" if Path(run).is_dir() else Path("eval"))
    metrics = save_eval(result, out, {"data": str(data), "max_new_tokens": max_new_tokens})
    from tunesmith.evaluate.report import rich_table

    print_table(console(), rich_table([{"name": str(run), **result.scored.summary}], title=f"eval on {data}"))
    for key in result.schema.keys:
        if f"field:{key}" in metrics:
            console().print(f"  {result.schema.names[key]}: exact match {metrics[f'field:{key}']:.3f}")
    if metrics.get("max_tokens_hits"):
        err.print(f"[yellow]{metrics['max_tokens_hits']} of {len(held_out)} answers hit --max-new-tokens "
                  f"{max_new_tokens} without stopping[/yellow]")
    console().print(f"wrote {out / 'predictions.jsonl'} and {out / 'metrics.json'}")


def _embedder():
    from tunesmith.evaluate.retrieval import MiniLM

    return MiniLM()


def compare_command(
    run: str = typer.Option(..., "--run", help="The training run (or tuned model dir) to judge."),
    train: Path = typer.Option(..., "--train", help="The training examples (few-shot and RAG draw from them)."),
    eval_data: Path = typer.Option(..., "--eval", help="Held-out examples, the same for every row."),
    base: Optional[str] = typer.Option(None, "--base", help="Base model spec (default: the run's base model)."),
    k: int = typer.Option(3, "--k", help="Retrieved examples for few-shot and RAG rows."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output dir (default: RUN/compare)."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Generation budget per answer; hits are counted."),
    batch_size: int = typer.Option(8, "--batch-size", help="Prompts generated together."),
    forgetting_tokens: int = typer.Option(0, "--forgetting-tokens",
                                          help="Cap on general-text tokens for the forgetting check (0 = all)."),
    forgetting: bool = typer.Option(True, "--forgetting/--no-forgetting", help="Perplexity on general text, base vs tuned."),
    normaliser: list[str] = typer.Option([], "--normaliser", help=_NORMALISER_HELP),
    limit: int = typer.Option(0, "--limit", help=_LIMIT_HELP),
) -> None:
    """Base zero-shot, few-shot, RAG-copy, base+RAG, fine-tuned, fine-tuned+RAG on one held-out set, then advice."""
    from tunesmith.evaluate.compare import compare
    from tunesmith.evaluate.forgetting import forgetting_check
    from tunesmith.evaluate.report import print_comparison, save_comparison
    from tunesmith.evaluate.runner import EvalInputError

    hooks = _normalisers(normaliser)
    train_ex, held_out = _read(train, "training set"), _sample(_read(eval_data, "held-out set"), limit)
    meta = _run_meta(run)
    base = base or meta.get("base_model")
    if not base:
        err.print(f"[red]error: {run} has no model/tunesmith.json naming its base model; pass --base SPEC[/red]")
        raise typer.Exit(2)
    import tunesmith

    tuned_gen, base_gen = tunesmith.load(run), tunesmith.load(base)
    cap = forgetting_tokens or None
    check = (lambda b, t: forgetting_check(b, t, max_tokens=cap)) if forgetting else None
    try:
        result = compare(tuned_gen, base_gen, train_ex, held_out, embedder=_embedder(), k=k,
                         max_new_tokens=max_new_tokens, batch_size=batch_size, normalisers=hooks,
                         system=meta.get("system_prompt"), run_dir=run if Path(run).is_dir() else None,
                         method=meta.get("method"), forgetting=check, source=str(eval_data))
    except EvalInputError as e:
        err.print(f"[red]error: {e}[/red]")
        raise typer.Exit(2) from e
    _warn_overlap(result.dataset["overlap"]["ids"])
    report = result.as_dict()
    report["settings"].update({"run": str(run), "base": str(base), "train": str(train), "eval": str(eval_data)})
    out = out or (Path(run) / "compare" if Path(run).is_dir() else Path("compare"))
    paths = save_comparison(report, out, {key: r.prediction_rows() for key, r in result.results.items()})
    print_comparison(report)
    console().print(f"\nwrote {paths['json']}, {paths['html']} and {out / 'predictions'}/")


__all__ = ["compare_command", "eval_command"]
