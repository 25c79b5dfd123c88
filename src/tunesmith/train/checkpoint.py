"""Resumable checkpoints, written atomically: a temp dir is filled, then renamed into place. (Where they go and what
their model dir holds is tunesmith.models.run_dir's layout, shared with every reader of a run.)

A checkpoint is the model dir (PEFT adapter or full weights, the ecosystem's formats) plus optimizer, scheduler, RNG
states and the data position, so `--resume` continues exactly. A failed write (disk full) leaves no partial checkpoint.
state.json, written last, lists every other file's size and SHA-256; `--resume` takes the newest checkpoint that matches
its list and passes over (and names in run.log) a newer one that does not, e.g. one cut off by a power loss.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from tunesmith.atomic import write_dir, write_text
from tunesmith.models.run_dir import CHECKPOINTS, MODEL, RUN_LOG, STATE, STEP_PREFIX, checkpoint_dir, save_model_dir

FILES = "files"  # state.json's manifest: every other file of the checkpoint with its size and SHA-256


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_checkpoints(run: Path) -> list[Path]:
    root = Path(run) / CHECKPOINTS
    if not root.exists():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(STEP_PREFIX) and (p / STATE).exists())


def checkpoint_problem(ckpt: Path) -> str | None:
    """Why this checkpoint cannot be resumed from (None when it is whole): state.json unreadable, a file missing, or a
    file whose size or SHA-256 differs from the manifest written with it (a write cut off by a crash or power loss,
    a disk error, a hand edit). Checkpoints from before the manifest are checked for their files only."""
    ckpt = Path(ckpt)
    try:
        state = json.loads((ckpt / STATE).read_text(encoding="utf-8"))
        if not isinstance(state, dict) or not isinstance(state.get("step"), int):
            return f"{STATE}: no step"
    except (OSError, ValueError) as e:
        return f"{STATE}: unreadable ({type(e).__name__})"
    files = state.get(FILES)
    if files is None:  # an older checkpoint: no sizes or checksums to compare
        missing = [n for n in ("optimizer.pt", "scheduler.pt", "rng.pt", MODEL) if not (ckpt / n).exists()]
        return f"{', '.join(missing)}: missing" if missing else None
    for name, want in sorted(files.items()):
        f = ckpt / name
        if not f.is_file():
            return f"{name}: missing"
        if f.stat().st_size != want.get("size"):
            return f"{name}: {f.stat().st_size} bytes, {want.get('size')} written"
        if _sha256(f) != want.get("sha256"):
            return f"{name}: checksum differs from the one written"
    return None


_verified: dict[tuple, str | None] = {}  # (path, state.json mtime and size) -> problem: hash each checkpoint once


def _problem_cached(ckpt: Path) -> str | None:
    try:
        st = (ckpt / STATE).stat()
    except OSError:
        return checkpoint_problem(ckpt)
    key = (str(ckpt), st.st_mtime_ns, st.st_size)
    if key not in _verified:
        _verified[key] = checkpoint_problem(ckpt)
    return _verified[key]


def resumable_checkpoint(run: Path) -> tuple[Path | None, list[str]]:
    """The newest whole checkpoint, and a line for each newer one that is not whole (skipped, never loaded)."""
    skipped = []
    for ckpt in reversed(list_checkpoints(run)):
        problem = _problem_cached(ckpt)
        if problem is None:
            return ckpt, skipped
        skipped.append(f"{ckpt.name} is incomplete: {problem}")
    return None, skipped


def latest_checkpoint(run: Path) -> Path | None:
    """The newest checkpoint that is whole (see checkpoint_problem); a newer incomplete one is passed over."""
    return resumable_checkpoint(run)[0]


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


def save_checkpoint(run: Path, step: int, model, tokenizer, optimizer, scheduler, state: dict, meta: dict, keep: int) -> Path:
    def write(tmp: Path) -> None:
        save_model_dir(tmp / MODEL, model, tokenizer, meta)
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save(rng_state(), tmp / "rng.pt")
        # state.json last, with every other file's size and checksum: resume loads only a checkpoint that matches it
        files = {str(f.relative_to(tmp)): {"size": f.stat().st_size, "sha256": _sha256(f)}
                 for f in sorted(tmp.rglob("*")) if f.is_file()}
        (tmp / STATE).write_text(json.dumps({**state, FILES: files}, indent=2), encoding="utf-8")

    root = Path(run) / CHECKPOINTS
    path = atomic_dir(checkpoint_dir(run, step), write)
    for old in list_checkpoints(run)[:-keep]:
        _remove(old)
    # what a killed run left: temp dirs of checkpoint writes and half-removed old checkpoints (only the main process
    # writes checkpoints, so none of these is being written now)
    for stale in root.iterdir():
        if stale.name.startswith(f".{STEP_PREFIX}") and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    return path


def _remove(ckpt: Path) -> None:
    """Rename out of the checkpoint namespace first, so a kill mid-removal never leaves a half-deleted step-* dir."""
    gone = ckpt.with_name(f".{ckpt.name}.del")
    shutil.rmtree(gone, ignore_errors=True)
    try:
        os.rename(ckpt, gone)
    except OSError:
        gone = ckpt
    shutil.rmtree(gone, ignore_errors=True)


def load_trainable(model, ckpt: Path) -> None:
    """Load the checkpoint's weights into an already-built model (adapter weights for PEFT, all weights for full).

    Every key is accounted for: a missing, unexpected or reshaped one raises WeightsMismatch naming it.
    """
    from tunesmith.models.weights import load_adapter_into, load_full_into

    mdir = Path(ckpt) / MODEL
    (load_adapter_into if hasattr(model, "peft_config") else load_full_into)(model, mdir)


def _safe_load(path: Path):
    """torch.load without running code: tensors, numbers, strings, containers, and the numpy arrays of numpy's RNG
    state (torch's weights_only unpickler with numpy's array reconstruction allowed). A checkpoint that holds any other
    object is refused, so resuming from a run dir someone else wrote cannot execute a pickle payload."""
    core = getattr(np, "_core", None) or np.core
    safe = [core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype("uint32"))]
    with torch.serialization.safe_globals(safe):
        return torch.load(path, weights_only=True)


def load_training_state(ckpt: Path, optimizer, scheduler) -> dict:
    optimizer.load_state_dict(_safe_load(Path(ckpt) / "optimizer.pt"))
    scheduler.load_state_dict(_safe_load(Path(ckpt) / "scheduler.pt"))
    set_rng_state(_safe_load(Path(ckpt) / "rng.pt"))
    return json.loads((Path(ckpt) / STATE).read_text(encoding="utf-8"))


__all__ = [
    "log_line", "list_checkpoints", "latest_checkpoint", "atomic_dir", "checkpoint_problem", "resumable_checkpoint", "FILES",
    "atomic_write_text", "save_checkpoint", "load_trainable", "load_training_state",
]
