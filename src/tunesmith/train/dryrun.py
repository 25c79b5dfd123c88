"""`tunesmith train CONFIG --dry-run`: the plan (examples, tokens, steps, epochs, effective batch) and a time estimate
from a few optimizer steps measured on this machine, before an hour is spent. Nothing is written to output_dir.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tunesmith.output import print_table
from tunesmith.train.best import resolve_patience
from tunesmith.train.loop import fit, prepare_run_dir, setup, step_passes, validate
from tunesmith.train.methods import resolve_lr
from tunesmith.train.plan import Plan

# Steps 1..3 are timed on their second run: the first sight of each batch shape costs allocations and kernel choice
# (measured on the tiny test model in a fresh process: 2.5x slower), which a long run pays only once per shape.
WARMUP_STEPS = 3
EVAL_SAMPLE_ROWS = 16  # eval speed is measured on this many rows and scaled by tokens


@dataclass
class Estimate:
    timed_steps: int
    tokens_per_s: float  # training tokens (prompt + completion) per second, per process
    evals: int  # evaluations the run will make (at most: early stopping may end it sooner)
    train_s: float
    eval_s: float

    @property
    def total_s(self) -> float:
        return self.train_s + self.eval_s


def _tokens(passes) -> int:
    return sum(len(r.input_ids) for p in passes for r in p)


def count_evals(total_steps: int, eval_every: int, has_eval: bool) -> int:
    """Evaluations fit() makes: every eval_every steps, and always at the last step."""
    if not has_eval:
        return 0
    every = total_steps // eval_every if eval_every else 0
    return every + (0 if eval_every and total_steps % eval_every == 0 else 1)


def dry_run(cfg, console: Console | None = None, steps: int = WARMUP_STEPS) -> tuple[Plan, Estimate]:
    """Build the run as `train` would (in a temp dir), time a few optimizer steps and a sample of eval, extrapolate."""
    quiet = Console(quiet=True)
    with tempfile.TemporaryDirectory(prefix="tunesmith-dry-run-") as tmp:
        probe = cfg.model_copy(update={"output_dir": Path(tmp) / "run", "save_every": 0})
        s = setup(probe, prepare_run_dir(probe, False, False), console=console or quiet)
        plan, eval_rows, full_steps = s.plan, s.eval_rows, s.total_steps
        s.eval_rows = []  # eval is timed on its own below
        timed = max(1, min(steps, full_steps - 1))
        first = 0 if full_steps == 1 else 1
        s.total_steps = first + timed
        fit(s, console=quiet)  # untimed: step 0, then the steps timed below, each shape seen once
        s.start_step = first
        t0 = time.perf_counter()
        fit(s, console=quiet)  # the same steps again (the weights differ, the cost does not)
        dt = time.perf_counter() - t0
        tps = sum(_tokens(step_passes(s, i)) for i in range(first, first + timed)) / max(dt, 1e-9)
        # Tokens the whole run trains on (this process's share): a pass over the rows per epoch.
        run_tokens = plan.tokens_per_epoch * full_steps * cfg.grad_accum / plan.batches_per_epoch
        run_tokens /= s.accelerator.num_processes
        evals = count_evals(full_steps, plan.eval_every, bool(eval_rows))
        eval_s = 0.0
        if evals:
            s.eval_rows = eval_rows[:EVAL_SAMPLE_ROWS]
            validate(s)  # untimed, as for the steps
            t0 = time.perf_counter()
            validate(s)
            sample_tps = sum(len(r.input_ids) for r in s.eval_rows) / max(time.perf_counter() - t0, 1e-9)
            eval_s = evals * sum(len(r.input_ids) for r in eval_rows) / sample_tps
    return plan, Estimate(timed, tps, evals, run_tokens / tps, eval_s)


def _hms(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def print_plan(cfg, plan: Plan, est: Estimate, console: Console) -> None:
    patience = resolve_patience(cfg)
    t = Table("", "plan", title=f"tunesmith train --dry-run: {cfg.model}, {cfg.method}")
    rows = [
        ("examples", f"{plan.train_examples} train, {plan.eval_examples} eval"),
        ("tokens per epoch", f"{plan.tokens_per_epoch:,} in {plan.rows} rows (batching {cfg.batching}); "
                             f"{plan.label_tokens_per_epoch:,} trained on"),
        ("effective batch", f"{plan.effective_batch} rows per optimizer step (batch_size {cfg.batch_size} × "
                            f"grad_accum {cfg.grad_accum} × processes)"),
        ("learning rate", resolve_lr(cfg.lr, cfg.method)[1]),
        ("steps per epoch", f"{plan.steps_per_epoch:.3g}"),
        ("epochs", f"{plan.epochs:.3g} ({plan.why})"),
        ("optimizer steps", f"{plan.total_steps}"),
        ("evaluations", f"{est.evals} (eval_every {plan.eval_every} and at the end"
                        + (", chosen by eval_every: auto)" if cfg.eval_every == "auto" else ")")),
        ("early stopping", f"after {patience} evaluations without improvement" if patience else "off"),
        ("measured speed", f"{est.tokens_per_s:,.0f} training tokens/s over {est.timed_steps} steps on this machine"),
        ("time estimate", f"{_hms(est.total_s)} ({_hms(est.train_s)} training + {_hms(est.eval_s)} eval)"
                          + (", less if early stopping ends it" if patience else "")),
    ]
    for row in rows:
        t.add_row(*row)
    print_table(console, t)
    console.print(f"dry run: nothing written to {cfg.output_dir}; run without --dry-run to train.")


__all__ = ["WARMUP_STEPS", "Estimate", "count_evals", "dry_run", "print_plan"]
