"""`tunesmith models list|info` and `tunesmith generate`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from tunesmith.output import console, print_table, progress

app = typer.Typer(no_args_is_help=True, help="List and inspect base models (never downloads from a hub).")


@app.command("list")
def list_models() -> None:
    """Registry models: installed or not, converted (cached) or not, and how to install."""
    from tunesmith.models.loader import cache_root
    from tunesmith.models.registry import REGISTRY, package_dir

    table = Table("name", "description", "installed", "cached", "license", "install with")
    for e in REGISTRY.values():
        installed = package_dir(e) is not None
        cached = (cache_root() / "models" / e.name / "config.json").exists()
        table.add_row(e.name, e.description, "yes" if installed else "no", "yes" if cached else "no", e.license,
                      "" if installed else e.install)
    out = console()
    print_table(out, table)
    out.print("Also accepted anywhere a model is asked for: a local HF model dir or a local .gguf file.")


@app.command("info")
def info(spec: str = typer.Argument("smollm2-135m", help="Registry name, HF model dir or .gguf file.")) -> None:
    """Architecture, parameter count, context length, vocabulary and chat template of a model."""
    import json

    from tunesmith.models.loader import load_tokenizer, resolve

    out = console()
    try:
        path = resolve(spec)
    except FileNotFoundError as e:
        out.print(f"[red]{e}[/]")
        raise typer.Exit(1)
    cfg = json.loads((path / "config.json").read_text())
    tok = load_tokenizer(path)
    params = _count_params(path)
    table = Table(show_header=False)
    for k, v in [
        ("path", str(path)), ("architecture", cfg.get("model_type")), ("parameters", f"{params / 1e6:.1f} M"),
        ("context length", cfg.get("max_position_embeddings")), ("vocabulary", len(tok)),
        ("chat template", "tunesmith fallback" if tok.init_kwargs.get("tunesmith_fallback_template") else "yes"),
        ("eos token", tok.eos_token),
    ]:
        table.add_row(k, str(v))
    print_table(out, table)


def _count_params(path: Path) -> int:
    """Parameters from the safetensors headers, without loading the weights."""
    from safetensors import safe_open

    total = 0
    for f in sorted(path.glob("*.safetensors")):
        with safe_open(f, "pt") as st:
            for k in st.keys():
                n = 1
                for d in st.get_slice(k).get_shape():
                    n *= d
                total += n
    return total


def generate(
    prompt: str = typer.Argument(..., help="The input text ('-' reads stdin)."),
    run: str = typer.Option("smollm2-135m", "--run", help="Run dir, model dir or base model spec."),
    max_new_tokens: int = typer.Option(256, help="Upper bound on generated tokens."),
    temperature: float = typer.Option(0.0, help="0 = greedy."),
) -> None:
    """Generate one answer with a trained run (or a base model), through the training chat template."""
    from tunesmith.models.generate import load_generator

    text = sys.stdin.read() if prompt == "-" else prompt
    try:
        gen = load_generator(run)
    except FileNotFoundError as e:
        console(stderr=True).print(f"[red]{e}[/]")
        raise typer.Exit(1)
    with progress("generating", None):  # off a terminal: a line every few seconds on stderr
        out = gen.generate([text], max_new_tokens=max_new_tokens, temperature=temperature)[0]
    typer.echo(out.text)
    if not out.stopped:
        console(stderr=True).print(f"[yellow]stopped at max_new_tokens={max_new_tokens} before the end-of-turn token[/]")
