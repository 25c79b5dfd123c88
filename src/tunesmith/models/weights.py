"""Load saved weights and check what was loaded: a missing or unexpected key, or a wrong shape, is an error that names
them, never a silently random-initialised or ignored tensor (PEFT and `strict=False` only warn, or say nothing).
"""

from __future__ import annotations

from pathlib import Path

SHOWN = 8  # keys named per kind in a message; the count says how many more


class WeightsMismatch(ValueError):
    """Saved weights that do not fit the model they are loaded into; the message names the keys."""


def _names(keys) -> str:
    keys = sorted(keys)
    more = f" … and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def check_keys(where: Path | str, missing=(), unexpected=(), mismatched=()) -> None:
    """Raise WeightsMismatch naming every kind of problem found in `where`; return when there is none."""
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_names(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_names(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} key(s) with another shape: {_names(mismatched)}")
    if problems:
        raise WeightsMismatch(f"{where}: the saved weights do not fit the model: " + "; ".join(problems))


def _adapter_file(mdir: Path) -> Path:
    path = Path(mdir) / "adapter_model.safetensors"
    if not path.exists():
        raise WeightsMismatch(f"{mdir}: no adapter_model.safetensors")
    return path


def check_adapter(model, mdir: Path) -> None:
    """The adapter weights in `mdir` are exactly the ones a PEFT model of this config saves, shape for shape."""
    from peft import get_peft_model_state_dict
    from safetensors import safe_open

    expected = get_peft_model_state_dict(model)
    with safe_open(_adapter_file(mdir), framework="pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    mismatched = [k for k in expected.keys() & shapes.keys() if tuple(expected[k].shape) != shapes[k]]
    check_keys(mdir, expected.keys() - shapes.keys(), shapes.keys() - expected.keys(), mismatched)


def load_adapter_into(model, mdir: Path) -> None:
    """Load adapter weights into an already-built PEFT model (resume), refusing any mismatch."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    check_adapter(model, mdir)  # before loading: a size mismatch would otherwise raise torch's long error
    result = set_peft_model_state_dict(model, load_file(_adapter_file(mdir)))
    check_keys(mdir, unexpected=getattr(result, "unexpected_keys", ()))


def load_peft(base, mdir: Path):
    """PeftModel.from_pretrained(base, mdir), refusing missing or unexpected adapter keys (PEFT only warns)."""
    from peft import PeftModel

    if not (Path(mdir) / "adapter_model.safetensors").is_file():  # PEFT would go looking for it on a model hub
        raise FileNotFoundError(f"{mdir}: no adapter_model.safetensors (the adapter's weights): the run dir is "
                                "incomplete; train it again or restore the file")
    model = PeftModel.from_pretrained(base, mdir)
    check_adapter(model, mdir)
    return model


def load_full(mdir: Path, dtype=None):
    """A full HF model dir, refusing missing, unexpected or reshaped weights (transformers would re-initialise them)."""
    from transformers import AutoModelForCausalLM

    # ignore_mismatched_sizes: report reshaped keys in `info` (refused below) instead of transformers' long error
    model, info = AutoModelForCausalLM.from_pretrained(mdir, dtype=dtype, output_loading_info=True,
                                                       ignore_mismatched_sizes=True)
    mismatched = [k if isinstance(k, str) else k[0] for k in info.get("mismatched_keys", ())]
    check_keys(mdir, info.get("missing_keys", ()), info.get("unexpected_keys", ()), mismatched)
    return model


def load_full_into(model, mdir: Path) -> None:
    """Load a full model dir's weights into an already-built model (resume), every key accounted for."""
    loaded = load_full(mdir, dtype=next(model.parameters()).dtype).state_dict()
    own = model.state_dict()
    mismatched = [k for k in own.keys() & loaded.keys() if own[k].shape != loaded[k].shape]
    check_keys(mdir, own.keys() - loaded.keys(), loaded.keys() - own.keys(), mismatched)
    model.load_state_dict(loaded, strict=True)


__all__ = ["WeightsMismatch", "check_keys", "check_adapter", "load_adapter_into", "load_peft", "load_full",
           "load_full_into"]
