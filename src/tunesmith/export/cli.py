"""`tunesmith export`: write a trained run as a merged HF model, an adapter, a checked GGUF, or an Ollama dir."""

from __future__ import annotations

from pathlib import Path

import typer

FORMAT_HELP = (
    "merged: base+adapter folded into one safetensors HF dir; adapter: the PEFT adapter alone; "
    "gguf: model.gguf for llama.cpp (round-trip checked); ollama: model.gguf + Modelfile."
)


def export_command(
    run: Path = typer.Option(..., "--run", help="Run dir written by `tunesmith train` (or its model/ dir)."),
    fmt: str = typer.Option(..., "--format", help=FORMAT_HELP),
    out: Path = typer.Option(..., "--out", help="Output dir; created whole or not at all."),
    quant: str = typer.Option(None, "--quant", help="gguf/ollama weight type: f16 (default) or q8_0."),
    force: bool = typer.Option(False, "--force", help="Replace --out if it already exists."),
) -> None:
    """Export a trained run for use outside tunesmith."""
    from tunesmith.export import FORMATS, ExportError, export
    from tunesmith.logs.prior import PRIOR_FILES

    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r}: choose one of {', '.join(FORMATS)}", param_hint="--format")
    try:
        # The CI analyzer's category prior (`tunesmith logs fit-prior`) lives beside its model: an analyzer run's
        # export loads as the same analyzer. The exporter itself is generic; this composition layer names the files.
        meta = export(run, fmt, out, quant=quant, force=force, carry=PRIOR_FILES)
    except ExportError as e:
        typer.secho(f"export failed: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from e
    info = meta["export"]
    typer.echo(f"wrote {fmt} export to {out}")
    if "check" in info:
        c = info["check"]
        typer.echo(
            f"GGUF {info['quant']} round trip: max |logit diff| {c['max_abs_logit_diff']:.4g} (allowed {c['allowed']:.4g}), "
            f"argmax agreement {c['argmax_agreement']:.3f}, tokenizer agrees: {c['tokenizer_agrees']}"
        )
    if fmt == "ollama":
        typer.echo(f"import it with: cd {out} && ollama create {Path(run).resolve().name} -f Modelfile")


__all__ = ["export_command"]
