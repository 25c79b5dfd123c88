"""The run dir and checkpoint layout, written atomically: a temp dir is filled, then renamed into place.

A checkpoint is the model dir (PEFT adapter or full weights, the ecosystem's formats) plus optimizer, scheduler, RNG
states and the data position, so `--resume` continues exactly. A failed write (disk full) leaves no partial checkpoint.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import torch

from tunesmith.atomic import write_dir, write_text

CHECKPOINTS = "checkpoints"
MODEL = "model"
META = "tunesmith.json"
RUN_LOG = "run.log"  # what the run decided and why (length chosen, resume changes, early stop), one line each


def checkpoint_dir(run: Path, step: int) -> Path:
    return Path(run) / CHECKPOINTS / f"step-{step:06d}"


def list_checkpoints(run: Path) -> list[Path]:
    root = Path(run) / CHECKPOINTS
    if not root.exists():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and (p / "state.json").exists())


def latest_checkpoint(run: Path) -> Path | None:
    cks = list_checkpoints(run)
    return cks[-1] if cks else None


atomic_dir = write_dir  # names kept for readers of the loop: a checkpoint is an atomic dir
atomic_write_text = write_text


def log_line(run: Path, text: str) -> None:
    """Append a timestamped line to the run's run.log (a plain append: a crash loses at most this line)."""
    import time

    with open(Path(run) / RUN_LOG, "a", encoding="utf-8") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {text}\n")


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def provenance() -> dict:
    """Library versions and git revision: every artifact carries them."""
    import peft
    import transformers

    from tunesmith import __version__

    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        rev = None
    return {"tunesmith": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "git_revision": rev}


def save_model_dir(path: Path, model, tokenizer, meta: dict) -> None:
    """The ecosystem's formats: PEFT adapter dir or HF model dir, plus tokenizer and tunesmith.json."""
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (Path(path) / META).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")


def save_checkpoint(run: Path, step: int, model, tokenizer, optimizer, scheduler, state: dict, meta: dict, keep: int) -> Path:
    def write(tmp: Path) -> None:
        save_model_dir(tmp / MODEL, model, tokenizer, meta)
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save(rng_state(), tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")

    path = atomic_dir(checkpoint_dir(run, step), write)
    for old in list_checkpoints(run)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def load_trainable(model, ckpt: Path) -> None:
    """Load the checkpoint's weights into an already-built model (adapter weights for PEFT, all weights for full).

    Every key is accounted for: a missing, unexpected or reshaped one raises WeightsMismatch naming it.
    """
    from tunesmith.models.weights import load_adapter_into, load_full_into

    mdir = Path(ckpt) / MODEL
    (load_adapter_into if hasattr(model, "peft_config") else load_full_into)(model, mdir)


def load_training_state(ckpt: Path, optimizer, scheduler) -> dict:
    optimizer.load_state_dict(torch.load(Path(ckpt) / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(Path(ckpt) / "scheduler.pt", weights_only=False))
    set_rng_state(torch.load(Path(ckpt) / "rng.pt", weights_only=False))
    return json.loads((Path(ckpt) / "state.json").read_text(encoding="utf-8"))


__all__ = [
    "CHECKPOINTS", "MODEL", "META", "RUN_LOG", "log_line", "checkpoint_dir", "list_checkpoints", "latest_checkpoint", "atomic_dir",
    "atomic_write_text", "provenance", "save_model_dir", "save_checkpoint", "load_trainable", "load_training_state",
]
