"""`tunesmith eval` and `tunesmith compare`: the composition layer (loads models and the embedder, writes the files).

Heavy imports stay inside the functions so `tunesmith --help` never pays for torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Optional

import typer

from tunesmith.models import options as remote_opt
from tunesmith.models.run_dir import run_meta
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


def eval_command(
    run: Optional[str] = typer.Option(None, "--run", help="Run dir, model dir, .gguf or registry name to evaluate. With "
                                      "--endpoint it is optional: a run dir then gives the system prompt and RUN/eval."),
    data: Path = typer.Option(..., "--data", help="Held-out examples (never seen in training)."),
    train: Optional[Path] = typer.Option(None, "--train", help="Training examples, to check the held-out set does not overlap."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output dir (default: RUN/eval, or ./eval for a model spec)."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Generation budget per answer; hits are counted."),
    batch_size: int = typer.Option(8, "--batch-size", help="Prompts generated together."),
    semantic: bool = typer.Option(True, "--semantic/--no-semantic", help="Semantic similarity with all-MiniLM-L6-v2."),
    normaliser: list[str] = typer.Option([], "--normaliser", help=_NORMALISER_HELP),
    limit: int = typer.Option(0, "--limit", help=_LIMIT_HELP),
    endpoint: Optional[str] = remote_opt.ENDPOINT,
    model: Optional[str] = remote_opt.MODEL,
    api_key_env: str = remote_opt.API_KEY_ENV,
    timeout: float = remote_opt.TIMEOUT,
) -> None:
    """Generate on a held-out set and score it: per-field exact match, ROUGE-L, chrF, semantic similarity, format, stopping."""
    from tunesmith.evaluate.runner import EvalInputError, evaluate, find_overlap, save_eval
    from tunesmith.models.remote import EndpointError

    if not run and not endpoint:
        err.print("[red]error: pass --run RUN (a model loaded here) or --endpoint URL (a model server)[/red]")
        raise typer.Exit(2)
    hooks = _normalisers(normaliser)
    held_out = _sample(_read(data, "held-out set"), limit)
    overlap = find_overlap(_read(train, "training set"), held_out) if train else []
    _warn_overlap(overlap)
    if not held_out:
        err.print(f"[red]error: {data}: the held-out set is empty; nothing to evaluate[/red]")
        raise typer.Exit(2)
    extra: dict = {"data": str(data), "max_new_tokens": max_new_tokens}
    if endpoint:  # the model answers at a server; a run dir still says what the model was trained with
        gen = remote_opt.remote_generator(endpoint, model, api_key_env, timeout,
                                          system_prompt=run_meta(run).get("system_prompt") if run else None)
        name = str(run or f"{model or 'model'} at {gen.meta['endpoint']}")
    else:
        import tunesmith

        gen, name = tunesmith.load(run), str(run)
    embedder = _embedder() if semantic else None
    try:
        result = evaluate(gen, held_out, name=name, max_new_tokens=max_new_tokens, batch_size=batch_size,
                          embedder=embedder, normalisers=hooks, source=str(data))
    except EvalInputError as e:
        err.print(f"[red]error: {e}[/red]")
        raise typer.Exit(2) from e
    except EndpointError as e:
        raise remote_opt.endpoint_error(e, api_key_env) from None
    if endpoint:
        extra.update(endpoint=gen.meta["endpoint"], model=gen.meta["model"])
    result.overlap = overlap
    out = out or (Path(run) / "eval" if run and Path(run).is_dir() else Path("eval"))
    metrics = save_eval(result, out, extra)
    from tunesmith.evaluate.report import rich_table

    print_table(console(), rich_table([{"name": name, **result.scored.summary}], title=f"eval on {data}"))
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
    run: Optional[str] = typer.Option(None, "--run", help="The training run (or tuned model dir) to judge. With "
                                      "--endpoint it is optional: a run dir then gives the base model, system prompt, "
                                      "loss curve and RUN/compare."),
    train: Path = typer.Option(..., "--train", help="The training examples (few-shot and RAG draw from them)."),
    eval_data: Path = typer.Option(..., "--eval", help="Held-out examples, the same for every row."),
    base: Optional[str] = typer.Option(None, "--base", help="Base model spec (default: the run's base model); with "
                                       "--base-endpoint the model to ask it for (default: the one it lists)."),
    k: int = typer.Option(3, "--k", help="Retrieved examples for few-shot and RAG rows."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output dir (default: RUN/compare)."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Generation budget per answer; hits are counted."),
    batch_size: int = typer.Option(8, "--batch-size", help="Prompts generated together."),
    forgetting_tokens: int = typer.Option(0, "--forgetting-tokens",
                                          help="Cap on general-text tokens for the forgetting check (0 = all)."),
    forgetting: bool = typer.Option(True, "--forgetting/--no-forgetting", help="Perplexity on general text, base vs tuned."),
    normaliser: list[str] = typer.Option([], "--normaliser", help=_NORMALISER_HELP),
    limit: int = typer.Option(0, "--limit", help=_LIMIT_HELP),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", metavar="URL", show_default=False,
                                           help="An OpenAI-compatible server (Ollama, llama.cpp's server, vLLM, "
                                           "`tunesmith serve`) serving the fine-tuned model: it answers the fine-tuned rows."),
    model: Optional[str] = remote_opt.MODEL,
    base_endpoint: Optional[str] = typer.Option(None, "--base-endpoint", metavar="URL", show_default=False,
                                                help="An OpenAI-compatible server that answers the base rows (zero-shot, "
                                                "few-shot, base + RAG) instead of the base model loaded here, e.g. the "
                                                "bigger model a team already runs."),
    api_key_env: str = remote_opt.API_KEY_ENV,
    base_api_key_env: Optional[str] = typer.Option(None, "--base-api-key-env", metavar="NAME", show_default=False,
                                                   help="The variable holding --base-endpoint's key (default: --api-key-env's)."),
    timeout: float = remote_opt.TIMEOUT,
) -> None:
    """Base zero-shot, few-shot, RAG-copy, base+RAG, fine-tuned, fine-tuned+RAG on one held-out set, then advice."""
    from tunesmith.evaluate.compare import compare
    from tunesmith.evaluate.forgetting import forgetting_check
    from tunesmith.evaluate.report import print_comparison, save_comparison
    from tunesmith.evaluate.runner import EvalInputError
    from tunesmith.models.remote import EndpointError

    if not run and not endpoint:
        err.print("[red]error: pass --run RUN (the fine-tuned model, loaded here) or --endpoint URL (a server "
                  "serving it)[/red]")
        raise typer.Exit(2)
    hooks = _normalisers(normaliser)
    train_ex, held_out = _read(train, "training set"), _sample(_read(eval_data, "held-out set"), limit)
    meta = run_meta(run) if run else {}
    if not base_endpoint:
        base = base or meta.get("base_model")
        if not base:
            err.print(f"[red]error: {run or endpoint} names no base model (no model/tunesmith.json); pass --base SPEC "
                      "or --base-endpoint URL[/red]")
            raise typer.Exit(2)
    import tunesmith

    # A server answers like the model it serves: the same system prompt goes first unless the row has its own.
    tuned_gen = (remote_opt.remote_generator(endpoint, model, api_key_env, timeout, meta.get("system_prompt"))
                 if endpoint else tunesmith.load(run))
    base_gen = (remote_opt.remote_generator(base_endpoint, base, base_api_key_env or api_key_env, timeout)
                if base_endpoint else tunesmith.load(base))
    cap = forgetting_tokens or None
    check = (lambda b, t: forgetting_check(b, t, max_tokens=cap)) if forgetting else None
    if check and (endpoint or base_endpoint):
        # Perplexity needs both models' logits on the same text; an OpenAI-compatible server does not give them.
        err.print("[yellow]the forgetting check needs both models loaded here; skipped with --endpoint / "
                  "--base-endpoint[/yellow]")
        check = None
    try:
        result = compare(tuned_gen, base_gen, train_ex, held_out, embedder=_embedder(), k=k,
                         max_new_tokens=max_new_tokens, batch_size=batch_size, normalisers=hooks,
                         system=meta.get("system_prompt"), run_dir=run if run and Path(run).is_dir() else None,
                         method=meta.get("method"), forgetting=check, source=str(eval_data),
                         model_step=meta.get("step"))
    except EvalInputError as e:
        err.print(f"[red]error: {e}[/red]")
        raise typer.Exit(2) from e
    except EndpointError as e:
        from_base = base_endpoint is not None and base_gen.meta["endpoint"] in str(e)
        raise remote_opt.endpoint_error(e, (base_api_key_env or api_key_env) if from_base else api_key_env) from None
    _warn_overlap(result.dataset["overlap"]["ids"])
    report = result.as_dict()
    report["settings"].update({"run": str(run) if run else None, "base": base and str(base), "train": str(train),
                               "eval": str(eval_data)})
    for key, gen in (("endpoint", tuned_gen), ("base_endpoint", base_gen)):
        if isinstance(getattr(gen, "meta", None), dict) and "endpoint" in gen.meta:
            report["settings"][key] = {"url": gen.meta["endpoint"], "model": gen.meta["model"]}
    out = out or (Path(run) / "compare" if run and Path(run).is_dir() else Path("compare"))
    paths = save_comparison(report, out, {key: r.prediction_rows() for key, r in result.results.items()})
    print_comparison(report)
    console().print(f"\nwrote {paths['json']}, {paths['html']} and {out / 'predictions'}/")


__all__ = ["compare_command", "eval_command"]
