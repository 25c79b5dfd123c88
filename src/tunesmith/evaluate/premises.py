"""The verdict's premises: was the fine-tuned model trained as far as it usefully goes, and were there enough held-out
examples to tell the leading approaches apart? `advise` turns these findings into warnings and a provisional verdict.

The training checks read the run's metrics.jsonl as `tunesmith train` writes it: one record per logged step with the
mean train `loss` of that step's batch (measured before its update), and `eval_loss` (mean token loss over the whole
eval split, after the update) at each evaluation; and the step model/ holds (model/tunesmith.json, `step`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

# Still falling: the final eval loss is the run's lowest, and below the last evaluation in the run's first half (the
# first evaluation, when none is that early) by more than STILL_FALLING_PCT and by more than STILL_FALLING_NATS. Not
# the last few evaluations: the cosine schedule takes the learning rate to 0, so any run, converged or not, flattens at
# its end (its last tenth of steps gets 0.2% of the learning-rate budget, its second half 18%). A model that learned the
# task by mid-run gains a little from that annealing; one that keeps dropping more than 5% on 18% of the budget had more
# to learn (tickets, stopped at 34 steps: 0.814 → 0.740, -9.1%, and its field match 0.36 against few-shot's 0.91).
# The absolute floor is for losses near 0, where a relative fall is large while little is left to learn: the tiny test
# model at 200 steps fell 0.046 → 0.020 nats per token over its second half (-57%) with nothing left to learn; below
# 0.05 nats, a token's probability changes by under 5%.
HALF = 0.5
STILL_FALLING_PCT = 5.0
STILL_FALLING_NATS = 0.05
# Train loss at the end (mean over the logged steps of the run's last tenth, to average out batch-to-batch noise) this
# share (%) above the final eval loss: the model does not yet fit even the examples it trained on as well as held-out
# ones, which a model that has learned the task does. The margin covers adapter dropout and a training set a little
# harder than the eval split.
TRAIN_WINDOW = 0.1
UNDERFIT_PCT = 10.0
# The compared model's eval loss this share (%) above the lowest eval loss before it: past the best step. 10% is
# several times the step-to-step wobble of a converged eval loss, so a rise this large is a trend, not noise.
OVERFIT_PCT = 10.0
# Two-sided 95% normal quantile: the paired interval is about mean ± Z95 · SD / √n (what the bootstrap approximates).
Z95 = 1.96


@dataclass(frozen=True)
class TrainingCheck:
    """What the curve says about the compared model. status: ok | undertrained | overfitted | unstable | unchecked."""

    status: str
    message: str = ""  # the warning ("" when ok)
    step: int | None = None  # the step model/ holds, as compared
    after: str = ""  # ok, but the run overfitted after the compared (best) step: said as advice, not a warning

    def as_dict(self) -> dict:
        return {"status": self.status, "model_step": self.step}


def _evals(curve: Sequence[Mapping]) -> list[tuple[int, float]]:
    return [(int(c["step"]), float(c["eval_loss"])) for c in curve if c.get("eval_loss") is not None]


def _train_loss(curve: Sequence[Mapping], step: int, span: float) -> tuple[float, int] | None:
    """(mean train loss, records) over the logged steps in (step - span, step]; the last one at or before `step` when
    that window holds none (log_every larger than the window)."""
    window = [c["loss"] for c in curve if c.get("loss") is not None and step - span < c["step"] <= step]
    if not window:
        before = [c["loss"] for c in curve if c.get("loss") is not None and c["step"] <= step]
        window = before[-1:]
    return (sum(window) / len(window), len(window)) if window else None


def _pct(a: float, b: float) -> float:
    """a relative to b, in % (positive: a is above b)."""
    return (a - b) / b * 100 if b > 0 else 0.0


def check_training(curve: Sequence[Mapping] | None, model_step: int | None = None) -> TrainingCheck:
    """Undertrained, overfitted, unstable or ok, for the model at `model_step` (None: the run's last logged step)."""
    curve = [c for c in curve or () if "step" in c]
    evals = _evals(curve)
    if not evals:
        return TrainingCheck("unchecked", "The run logged no eval loss (no metrics.jsonl with eval_loss beside the "
                             "model): compare cannot check whether the fine-tuned model is undertrained or overfitted.",
                             model_step)
    last_step = max(c["step"] for c in curve)
    step = model_step if model_step is not None else last_step
    span = max(1.0, TRAIN_WINDOW * last_step)
    upto = [(s, v) for s, v in evals if s <= step]
    if not upto:
        return TrainingCheck("unchecked", f"The run logged no eval loss at or before step {step}, the step model/ "
                             "holds: compare cannot check whether the fine-tuned model is undertrained or overfitted.",
                             step)
    at_step, loss = upto[-1]  # the compared model's eval loss (its own step, or the last evaluation before it)
    low_step, low = min(upto, key=lambda t: t[1])

    # Past the best step: eval loss well above an earlier minimum. Overfitting if train loss kept falling meanwhile.
    if _pct(loss, low) > OVERFIT_PCT:
        then, now = _train_loss(curve, low_step, span), _train_loss(curve, at_step, span)
        rise = (f"eval loss at step {at_step} is {loss:.3f}, {_pct(loss, low):.0f}% above its minimum {low:.3f} at "
                f"step {low_step}")
        if then and now and now[0] >= then[0]:
            return TrainingCheck("unstable", f"The fine-tuned model is past its best: {rise}, while train loss did not "
                                 f"fall ({then[0]:.3f} → {now[0]:.3f}): not overfitting but unstable training. Lower "
                                 f"the learning rate, or compare the checkpoint near step {low_step}.", step)
        fell = f", while train loss fell ({then[0]:.3f} → {now[0]:.3f})" if then and now else ""
        return TrainingCheck("overfitted", f"The fine-tuned model is likely overfitted: {rise}{fell}. Compare the "
                             f"checkpoint near step {low_step} (save: best keeps it) or train fewer steps.", step)

    reasons = []
    final_step = evals[-1][0]
    if at_step == final_step:  # the run ended here: had it stopped learning? (a later, worse evaluation says yes)
        first_half = [(s, v) for s, v in evals if s <= HALF * at_step] or [(s, v) for s, v in evals[:1] if s < at_step]
        if first_half and loss <= low:
            s0, v0 = first_half[-1]
            since = "the run's first half" if s0 <= HALF * at_step else "its first evaluation"
            if -_pct(loss, v0) > STILL_FALLING_PCT and v0 - loss > STILL_FALLING_NATS:
                reasons.append(f"eval loss was still falling when training ended ({v0:.3f} at step {s0} → {loss:.3f} "
                               f"at step {at_step}, {_pct(loss, v0):+.1f}%; a fall of more than {STILL_FALLING_PCT:g}% "
                               f"and {STILL_FALLING_NATS:g} nats since {since} counts)")
        train = _train_loss(curve, at_step, span)
        if train and _pct(train[0], loss) > UNDERFIT_PCT:
            reasons.append(f"its train loss at the end ({train[0]:.3f}, mean of the last {train[1]} logged steps) is "
                           f"{_pct(train[0], loss):.0f}% above its eval loss ({loss:.3f}): it does not yet fit even "
                           f"the examples it trained on (more than {UNDERFIT_PCT:g}% above counts)")
    if reasons:
        return TrainingCheck("undertrained", "The fine-tuned model is likely undertrained: " + "; and ".join(reasons)
                             + ". Train longer (epochs: auto, more epochs or max_steps) and compare again before "
                             "trusting a verdict against fine-tuning.", step)
    after = ""
    later = [(s, v) for s, v in evals if s > at_step]
    if later:
        top_step, top = max(later, key=lambda t: t[1])
        if _pct(top, loss) > OVERFIT_PCT:
            after = (f"The run's eval loss rose to {top:.3f} by step {top_step} ({_pct(top, loss):+.0f}%), but model/ "
                     f"is step {at_step} (eval loss {loss:.3f}): the comparison judges the model before that rise.")
    return TrainingCheck("ok", "", step, after)


def examples_needed(diffs: Sequence[float]) -> int | None:
    """Held-out examples at which the 95% interval of the mean per-example difference would exclude 0, if the measured
    mean and spread held: the smallest n with Z95 · SD / √n < |mean|. None when the mean is 0 (no n separates them)."""
    d = np.asarray(diffs, dtype=float)
    mean = float(d.mean()) if len(d) else 0.0
    if len(d) < 2 or abs(mean) < 1e-12:
        return None
    sd = float(d.std(ddof=1))
    return math.floor((Z95 * sd / abs(mean)) ** 2) + 1


__all__ = ["HALF", "OVERFIT_PCT", "STILL_FALLING_NATS", "STILL_FALLING_PCT", "TRAIN_WINDOW", "UNDERFIT_PCT", "Z95",
           "TrainingCheck", "check_training", "examples_needed"]
