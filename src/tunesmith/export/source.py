"""What an export starts from: a run dir's `model/` (a PEFT adapter over a base, or a full HF model) and its meta.

`open_run` validates the layout and says precisely what is missing; `load_merged` gives one plain HF model either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tunesmith.export.artifact import META_NAME, ExportError
from tunesmith.models.loader import end_of_turn_tokens  # noqa: F401  (exporters take it from here)

ADAPTER_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class Run:
    root: Path
    model_dir: Path
    meta: dict

    @property
    def is_adapter(self) -> bool:
        return (self.model_dir / ADAPTER_CONFIG).exists()

    @property
    def system_prompt(self) -> str | None:
        return self.meta.get("system_prompt") or None

    def base_dir(self) -> Path:
        """The HF dir of the base model an adapter was trained on."""
        path = self.meta.get("base_model_path")
        if path and Path(path).is_dir():
            return Path(path)
        spec = self.meta.get("base_model") or path
        if not spec:
            raise ExportError(f"{self.model_dir / META_NAME}: no base_model_path or base_model; cannot find the base model")
        # A registry name or .gguf file: the models stage knows how to turn it into an HF dir (cached, no download).
        from tunesmith.models import resolve

        try:
            return resolve(spec)
        except FileNotFoundError as e:
            raise ExportError(f"{self.model_dir / META_NAME}: base model {spec!r} not found: {e}") from e

    def source_gguf(self) -> Path | None:
        """The GGUF file the base model came from, when it came from one (it knows llama.cpp's tokenizer names)."""
        spec = str(self.meta.get("base_model") or "")
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


def open_run(path: str | Path) -> Run:
    """A run dir (or its `model/` dir directly); clear errors naming the file when something is missing."""
    root = Path(path)
    if not root.exists():
        raise ExportError(f"run dir not found: {root}")
    model_dir = root / "model" if (root / "model").is_dir() else root
    meta_path = model_dir / META_NAME
    if not meta_path.exists():
        raise ExportError(f"{meta_path} not found: {root} is not a tunesmith run (expected RUN/model/{META_NAME})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ExportError(f"{meta_path}:{e.lineno}: not valid JSON: {e.msg}") from e
    if not isinstance(meta, dict):
        raise ExportError(f"{meta_path}:1: expected a JSON object")
    if not (model_dir / ADAPTER_CONFIG).exists() and not (model_dir / "config.json").exists():
        raise ExportError(f"{model_dir}: neither a PEFT adapter ({ADAPTER_CONFIG}) nor an HF model dir (config.json)")
    if not (model_dir / "tokenizer_config.json").exists():
        raise ExportError(f"{model_dir}: no tokenizer files (tokenizer_config.json); the run dir is incomplete")
    return Run(root=root, model_dir=model_dir, meta=meta)


def load_merged(run: Run):
    """(model, tokenizer) with any adapter merged into the base weights, float32, eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.models.weights import load_full, load_peft  # both refuse missing or unexpected keys

    tokenizer = AutoTokenizer.from_pretrained(run.model_dir)
    if not run.is_adapter:
        model = load_full(run.model_dir, dtype=torch.float32)
        return model.eval(), tokenizer

    base = AutoModelForCausalLM.from_pretrained(run.base_dir(), dtype=torch.float32)
    if base.get_input_embeddings().weight.shape[0] < len(tokenizer):
        # The run added tokens; the adapter's saved embedding rows only fit a base resized the same way.
        base.resize_token_embeddings(len(tokenizer))
    peft_model = load_peft(base, run.model_dir)
    model = peft_model.merge_and_unload()
    return model.eval(), tokenizer


__all__ = ["Run", "open_run", "load_merged", "end_of_turn_tokens"]
