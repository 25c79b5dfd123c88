"""The two Hugging Face exports: `merged` (base + adapter folded into one safetensors model dir) and `adapter`
(the PEFT adapter alone, for users who keep the base model and swap adapters).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tunesmith.export.artifact import ExportError
from tunesmith.export.source import Run, load_merged
from tunesmith.models.run_dir import ADAPTER_CONFIG, META, STATE, end_of_turn_ids

# Files of a run's model dir that belong to training, not to the exported model.
_TRAINING_ONLY = {META, "optimizer.pt", "scheduler.pt", "rng.pt", STATE, "training_args.bin"}


def _copy_files(src: Path, dst: Path, skip: set[str]) -> list[str]:
    copied = []
    for f in sorted(src.iterdir()):
        if f.name in skip:
            continue
        if f.is_dir():
            shutil.copytree(f, dst / f.name)
        else:
            shutil.copy2(f, dst / f.name)
        copied.append(f.name)
    return copied


def set_generation_eos(model, tokenizer) -> list[int]:
    """Make generation stop at the end of an assistant turn (e.g. `<|im_end|>`), not only at the base model's EOS."""
    ids = end_of_turn_ids(tokenizer)
    if ids:
        model.generation_config.eos_token_id = ids[0] if len(ids) == 1 else ids
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else ids[0]
    return ids


def export_merged(run: Run, target: Path, *, quant: str | None = None) -> dict:
    """An HF model dir with safetensors, tokenizer, chat template and a generation_config that stops at end of turn."""
    if quant not in (None, "f32"):
        raise ExportError(f"--quant {quant} applies to gguf/ollama exports; merged is written in float32 safetensors")
    if not run.is_adapter:
        # A full fine-tune is already a plain HF model dir: copy it through unchanged rather than re-serialise it.
        files = _copy_files(run.model_dir, target, _TRAINING_ONLY)
        if not any(f.endswith(".safetensors") for f in files):
            raise ExportError(f"{run.model_dir}: a full-model run without .safetensors weights; nothing to export")
        return {"source": "full", "files": files}
    model, tokenizer = load_merged(run)
    eos = set_generation_eos(model, tokenizer)
    model.config.name_or_path = str(target)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    return {"source": "adapter", "merged_into": str(run.base_dir()), "generation_eos_token_id": eos}


def export_adapter(run: Run, target: Path, *, quant: str | None = None) -> dict:
    """The PEFT adapter dir as trained (adapter_config.json + adapter_model.safetensors) and its tokenizer."""
    if quant not in (None, "f32"):
        raise ExportError(f"--quant {quant} applies to gguf/ollama exports; an adapter is copied as trained")
    if not run.is_adapter:
        raise ExportError(
            f"{run.model_dir}: this run fine-tuned the full model (no {ADAPTER_CONFIG}); there is no adapter to export. "
            "Use --format merged (or gguf/ollama)."
        )
    files = _copy_files(run.model_dir, target, _TRAINING_ONLY)
    if not any(f.startswith("adapter_model.") for f in files):
        raise ExportError(f"{run.model_dir}: {ADAPTER_CONFIG} present but no adapter_model.safetensors; the run is incomplete")
    return {"source": "adapter", "files": files, "base_model_path": str(run.meta.get("base_model_path", ""))}


__all__ = ["export_merged", "export_adapter", "set_generation_eos"]
