"""What an export starts from: a run dir's `model/` (a PEFT adapter over a base, or a full HF model) and its meta.

The run dir itself (layout, tunesmith.json, loading) is tunesmith.models.run_dir's; this module turns its errors into
the exporter's ExportError and adds what only an export asks: one plain merged model, and the base model's GGUF.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.export.artifact import ExportError
from tunesmith.models import run_dir
from tunesmith.models.run_dir import RunDir as Run


def open_run(path: str | Path) -> Run:
    """A run dir (or its `model/` dir directly); clear errors naming the file when something is missing."""
    try:
        return run_dir.open_run(path)
    except run_dir.RunDirError as e:
        raise ExportError(str(e)) from e


def load_merged(run: Run):
    """(model, tokenizer) with any adapter merged into the base weights, float32, eval mode."""
    import torch

    try:
        model, tokenizer = run_dir.load_run_model(run, dtype=torch.float32, merge=True)
    except run_dir.RunDirError as e:
        raise ExportError(str(e)) from e
    if hasattr(model, "peft_config"):  # load_run_model leaves an adapter on a quantized base unmerged
        raise ExportError(f"{run.model_dir}: the base model is quantized; its adapter cannot be merged into it exactly")
    return model, tokenizer


def source_gguf(run: Run) -> Path | None:
    """The GGUF file the base model came from, when it came from one (it knows llama.cpp's tokenizer names)."""
    spec = str(run.meta.get("base_model") or "")
    if spec.endswith(".gguf") and Path(spec).is_file():
        return Path(spec)
    if not spec:
        return None
    from tunesmith.models.registry import gguf_path, lookup

    entry = lookup(spec)
    if entry is None:
        return None
    try:
        return gguf_path(entry)
    except FileNotFoundError:
        return None


__all__ = ["Run", "open_run", "load_merged", "source_gguf"]
