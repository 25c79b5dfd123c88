"""The step with the lowest eval loss, kept beside the last one, and early stopping on eval loss.

EvalWatch is updated after each evaluation (and rebuilt from the metrics history on resume); the best step's model dir
is written to RUN/best/ when it improves. At the end `save: best|last` picks which one RUN/model/ is; the other is kept
as RUN/last/ or RUN/best/ when the two steps differ.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from tunesmith.atomic import recover_dir, write_dir
from tunesmith.models.run_dir import BEST, LAST, MODEL, RunDirError, read_meta, save_model_dir
AUTO_PATIENCE = 3  # evaluations without improvement before an `epochs: auto` run stops (HF/Keras examples use 3-5)


def resolve_patience(cfg) -> int | None:
    """early_stopping_patience: auto is on (3 evaluations) only when the length is chosen too (epochs: auto)."""
    p = cfg.early_stopping_patience
    if p == "auto":
        return AUTO_PATIENCE if cfg.epochs == "auto" and cfg.max_steps is None else None
    return p or None


@dataclass
class EvalWatch:
    patience: int | None
    min_delta: float = 0.0
    best_step: int | None = None
    best_loss: float = math.inf
    ref_loss: float = math.inf  # the last loss that counted as an improvement (by more than min_delta)
    bad_evals: int = 0

    def update(self, step: int, loss: float) -> bool:
        """Record an evaluation; True when it is the lowest eval loss so far (the new best step)."""
        if loss < self.ref_loss - self.min_delta:
            self.ref_loss, self.bad_evals = loss, 0
        else:
            self.bad_evals += 1
        if loss < self.best_loss:
            self.best_step, self.best_loss = step, loss
            return True
        return False

    @property
    def stop(self) -> bool:
        return self.patience is not None and self.bad_evals >= self.patience

    @classmethod
    def from_history(cls, history: list[dict], patience: int | None, min_delta: float) -> "EvalWatch":
        watch = cls(patience, min_delta)
        for r in history:
            if "eval_loss" in r:
                watch.update(r["step"], r["eval_loss"])
        return watch


def save_best(run: Path, step: int, eval_loss: float, model, tokenizer, meta: dict) -> Path:
    meta = {**meta, "step": step, "eval_loss": eval_loss}
    return write_dir(Path(run) / BEST, lambda tmp: save_model_dir(tmp, model, tokenizer, meta))


def _step_on_disk(d: Path) -> int | None:
    try:
        return read_meta(d).get("step")
    except RunDirError:
        return None


def place_result(run: Path, save: str, watch: EvalWatch, last_step: int, model, tokenizer, meta: dict) -> str:
    """Write RUN/model/ (and keep the other of best/last beside it); returns the sentence summary.md and run.log say."""
    run = Path(run)
    recover_dir(run / BEST)  # a kill between the two renames of a best/ write left the previous best/ as .best.old
    shutil.rmtree(run / LAST, ignore_errors=True)  # from an earlier finish of a resumed run

    def write(name: str, step: int, extra: dict | None = None) -> None:
        full = {**meta, "step": step, **(extra or {})}
        write_dir(run / name, lambda tmp: save_model_dir(tmp, model, tokenizer, full))

    best = watch.best_step
    if best is None:
        write(MODEL, last_step)
        return f"model/ is the final step {last_step} (no eval split: no best step)"
    if best == last_step:
        write(MODEL, last_step, {"eval_loss": watch.best_loss})
        shutil.rmtree(run / BEST, ignore_errors=True)
        return f"model/ is the final step {last_step}, which also has the lowest eval loss ({watch.best_loss:.4f})"
    if _step_on_disk(run / BEST) != best:
        # best/ is from another trajectory (a resume with --allow-config-change replayed steps): never mislabel it.
        write(MODEL, last_step)
        shutil.rmtree(run / BEST, ignore_errors=True)
        return (f"model/ is the final step {last_step}: the best step's ({best}) weights were not on disk "
                "(resumed run replayed it differently)")
    if save == "best":
        write(LAST, last_step)
        write_dir(run / MODEL, lambda tmp: shutil.copytree(run / BEST, tmp, dirs_exist_ok=True))
        shutil.rmtree(run / BEST, ignore_errors=True)
        return (f"model/ is step {best}, the lowest eval loss ({watch.best_loss:.4f}); the final step {last_step} is "
                "kept in last/ (save: best)")
    write(MODEL, last_step)
    return (f"model/ is the final step {last_step} (save: last); the lowest eval loss ({watch.best_loss:.4f}) was at "
            f"step {best}, kept in best/")


__all__ = ["BEST", "LAST", "AUTO_PATIENCE", "resolve_patience", "EvalWatch", "save_best", "place_result"]
