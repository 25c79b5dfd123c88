"""How long a run is and what it will cost: `epochs: auto` picks the passes from the data's size and length,
`eval_every: auto` spreads about ten evaluations over them, and `tunesmith train --dry-run` prints the plan with a time
estimate measured on this machine.

The auto rule follows OpenAI's `n_epochs: auto` (3 epochs; more for small sets, fewer for large ones, capped), counted
in optimizer steps rather than examples, because steps are what a small set runs short of.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TARGET_EPOCHS = 3  # OpenAI's default
MIN_STEPS = 120  # small sets: a task's format is learned in ~100-150 optimizer steps (tickets: 34 steps undertrained)
MAX_EPOCHS = 25  # OpenAI's cap: beyond it a tiny set is memorised (the best checkpoint and early stopping guard too)
MAX_EXAMPLES_SEEN = 25_000  # large sets: OpenAI's cap on examples × epochs
MAX_TOKENS_SEEN = 10_000_000  # long examples: ~2 h for a 135M LoRA at ~1,500 tokens/s on a laptop CPU
# eval_every: auto measures eval loss about this many times per run (never more). Early stopping's patience of 3 then
# ends a stalled run after at most 30% of its length, `compare` has enough points to tell a still-falling eval loss
# from a flat or rising one, and the cost stays bounded: 10 forward passes over the eval split (for the tickets
# example, 80 eval examples × 10 ≈ 30% of the forward+backward work of its 225 steps × 4 rows).
# The old fixed default of 50 gave a 120-200-step run 2-4 evaluations, too few for early stopping to act.
EVALS_PER_RUN = 10


@dataclass
class Plan:
    train_examples: int
    eval_examples: int
    rows: int  # training rows (several examples each when packed)
    tokens_per_epoch: int  # prompt + completion tokens in the training rows
    label_tokens_per_epoch: int  # tokens the loss is computed on
    batches_per_epoch: int  # micro-batches per process
    steps_per_epoch: float
    epochs: float
    total_steps: int
    effective_batch: int  # rows per optimizer step, all processes together
    why: str  # how the length was chosen, in words (run.log, summary.md, --dry-run)
    eval_every: int = 0  # steps between eval-loss measurements, resolved (0: only at the end)
    eval_why: str = ""  # how eval_every was chosen, in words (run.log, --dry-run)

    def describe(self) -> str:
        return f"{self.total_steps} optimizer steps ({self.epochs:g} epochs): {self.why}"


def auto_eval_every(total_steps: int) -> tuple[int, str]:
    """(eval_every, why) for `eval_every: auto`: the smallest interval that makes at most EVALS_PER_RUN evaluations."""
    every = max(1, math.ceil(total_steps / EVALS_PER_RUN))
    evals = math.ceil(total_steps / every)  # every `every` steps, and always one at the last step
    return every, (f"eval_every: auto chose {every}: {evals} evaluations in {total_steps} steps (about "
                   f"{EVALS_PER_RUN} per run, the last at the final step)")


def auto_epochs(n_examples: int, steps_per_epoch: float, tokens_per_epoch: int) -> tuple[int, str]:
    """(epochs, why) for `epochs: auto`."""
    epochs = TARGET_EPOCHS
    why = (f"the default for {n_examples} examples ({steps_per_epoch:.3g} steps per epoch, at least {MIN_STEPS} in "
           "all)")
    if steps_per_epoch * TARGET_EPOCHS < MIN_STEPS:
        wanted = math.ceil(MIN_STEPS / steps_per_epoch)
        epochs = min(MAX_EPOCHS, wanted)
        why = (f"small set: {n_examples} examples make {steps_per_epoch:.3g} optimizer steps per epoch, so "
               f"{TARGET_EPOCHS} epochs would be {math.floor(steps_per_epoch * TARGET_EPOCHS)} steps, under the "
               f"{MIN_STEPS}-step minimum" + (f"; capped at {MAX_EPOCHS} epochs" if wanted > MAX_EPOCHS else ""))
    elif n_examples * TARGET_EPOCHS > MAX_EXAMPLES_SEEN:
        epochs = max(1, MAX_EXAMPLES_SEEN // n_examples)
        why = (f"large set: {n_examples} examples × {TARGET_EPOCHS} epochs would pass the cap of "
               f"{MAX_EXAMPLES_SEEN:,} examples seen")
    if epochs > 1 and tokens_per_epoch * epochs > MAX_TOKENS_SEEN:
        epochs = max(1, MAX_TOKENS_SEEN // tokens_per_epoch)
        why += (f"; long examples ({tokens_per_epoch / max(1, n_examples):.0f} tokens each, {tokens_per_epoch:,} per "
                f"epoch): capped at {MAX_TOKENS_SEEN:,} tokens seen")
    return epochs, why


def plan_length(cfg, train_rows, n_train: int, n_eval: int, num_processes: int = 1) -> Plan:
    """The run's length from the config and the encoded rows (their count already reflects length and packing)."""
    # Each process takes every num_processes-th micro-batch, so the per-process count is what the schedule steps on.
    batches_per_epoch = math.ceil(math.ceil(len(train_rows) / cfg.batch_size) / num_processes)
    steps_per_epoch = batches_per_epoch / cfg.grad_accum
    tokens = sum(len(r.input_ids) for r in train_rows)
    labels = sum(r.n_labels for r in train_rows)
    if cfg.max_steps:
        epochs, why = cfg.max_steps / steps_per_epoch, f"max_steps: {cfg.max_steps} set in the config"
    elif cfg.epochs == "auto":
        epochs, why = auto_epochs(n_train, steps_per_epoch, tokens)
        why = f"epochs: auto chose {epochs}: {why}"
    else:
        epochs, why = cfg.epochs, f"epochs: {cfg.epochs:g} set in the config"
    total = cfg.max_steps or max(1, math.floor(epochs * batches_per_epoch / cfg.grad_accum))
    if cfg.eval_every == "auto":
        eval_every, eval_why = auto_eval_every(total)
    else:
        eval_every, eval_why = cfg.eval_every, f"eval_every: {cfg.eval_every} set in the config"
    return Plan(n_train, n_eval, len(train_rows), tokens, labels, batches_per_epoch, steps_per_epoch, epochs, total,
                cfg.batch_size * cfg.grad_accum * num_processes, why, eval_every, eval_why)


__all__ = ["TARGET_EPOCHS", "MIN_STEPS", "MAX_EPOCHS", "MAX_EXAMPLES_SEEN", "MAX_TOKENS_SEEN", "EVALS_PER_RUN", "Plan",
           "auto_epochs", "auto_eval_every", "plan_length"]
