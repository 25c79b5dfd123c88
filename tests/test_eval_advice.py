"""Advice rules on constructed numbers: each fires when its condition holds and stays silent otherwise."""

from __future__ import annotations

import pytest

from tunesmith.evaluate.advice import FORGETTING_PCT, SMALL_DATA, advise
from tunesmith.evaluate.premises import examples_needed

N = 20  # held-out examples


def _rows(**scores):
    """Rows whose every example scores the given value, so paired intervals are exact; extra metrics by `key_metric`."""
    summaries, per_example = {}, {}
    for key, val in scores.items():
        base = {"score": val, "rouge_l": val, "semantic": val, "format_valid": val, "field_acc": val, "stopped": 1.0}
        summaries[key] = base
        per_example[key] = [val] * N
    return summaries, per_example


def _rules(adv):
    return {n.rule for n in adv.notes}


def test_fine_tune_wins_clearly_on_enough_data():
    s, e = _rows(zero_shot=0.2, few_shot=0.3, rag_copy=0.2, base_rag=0.3, tuned=0.8, tuned_rag=0.7)
    adv = advise(s, e, n_train=500)
    assert adv.best == "tuned" and adv.verdict == "fine-tune"
    assert not _rules(adv) & {"small_data", "rag_copy", "no_gain", "forgetting", "overfit", "stopping"}
    assert adv.comparisons["tuned vs few_shot"]["wins"] == N


def test_small_data_prefers_prompting_unless_clear_win():
    s, e = _rows(zero_shot=0.2, few_shot=0.5, rag_copy=0.2, base_rag=0.4, tuned=0.5, tuned_rag=0.5)
    adv = advise(s, e, n_train=SMALL_DATA - 1)
    note = next(n for n in adv.notes if n.rule == "small_data")
    assert note.level == "advice" and adv.verdict.startswith("don't fine-tune")
    # Same data size but a clear win: a warning stays, the verdict is fine-tune.
    s, e = _rows(zero_shot=0.2, few_shot=0.3, rag_copy=0.2, base_rag=0.3, tuned=0.9, tuned_rag=0.8)
    adv = advise(s, e, n_train=40)
    assert next(n for n in adv.notes if n.rule == "small_data").level == "warning"
    assert adv.verdict == "fine-tune"
    assert "small_data" not in _rules(advise(s, e, n_train=SMALL_DATA))


def test_rag_copy_close_means_knowledge_task():
    s, e = _rows(zero_shot=0.1, few_shot=0.3, rag_copy=0.78, base_rag=0.5, tuned=0.8, tuned_rag=0.8)
    adv = advise(s, e, n_train=1000)
    assert "rag_copy" in _rules(adv)
    s, e = _rows(zero_shot=0.1, few_shot=0.3, rag_copy=0.5, base_rag=0.5, tuned=0.8, tuned_rag=0.8)
    assert "rag_copy" not in _rules(advise(s, e, n_train=1000))


def test_behaviour_like_when_gain_is_structure():
    s, e = _rows(zero_shot=0.2, few_shot=0.3, rag_copy=0.2, base_rag=0.3, tuned=0.9, tuned_rag=0.8)
    s["tuned"].update(format_valid=1.0, semantic=0.35)  # format jumps, meaning barely moves
    s["few_shot"].update(format_valid=0.3, semantic=0.3)
    assert "behaviour" in _rules(advise(s, e, n_train=1000))
    s["tuned"].update(semantic=0.9)  # meaning improved as much as structure: not behaviour-only
    assert "behaviour" not in _rules(advise(s, e, n_train=1000))
    del s["tuned"]["format_valid"], s["tuned"]["field_acc"]
    for r in s.values():
        r.pop("format_valid", None), r.pop("field_acc", None)
    assert "behaviour" not in _rules(advise(s, e, n_train=1000))  # free text: the rule does not apply


def test_no_gain_means_do_not_fine_tune():
    s, e = _rows(zero_shot=0.6, few_shot=0.7, rag_copy=0.3, base_rag=0.6, tuned=0.7, tuned_rag=0.65)
    adv = advise(s, e, n_train=1000)
    assert "no_gain" in _rules(adv) and adv.verdict == "don't fine-tune: use base few-shot"
    # A noisy edge (half the examples better, half worse) is not a clear win either.
    e["tuned"] = [1.0, 0.4] * (N // 2)
    assert "no_gain" in _rules(advise(s, e, n_train=1000))


def test_forgetting_warning_threshold():
    s, e = _rows(zero_shot=0.2, few_shot=0.3, rag_copy=0.2, base_rag=0.3, tuned=0.8, tuned_rag=0.7)
    hi = {"base_ppl": 10.0, "tuned_ppl": 10.0 * (1 + (FORGETTING_PCT + 5) / 100), "increase_pct": FORGETTING_PCT + 5}
    lo = {"base_ppl": 10.0, "tuned_ppl": 11.0, "increase_pct": 10.0}
    adv = advise(s, e, n_train=1000, forgetting=hi, method="full")
    note = next(n for n in adv.notes if n.rule == "forgetting")
    assert note.level == "warning" and "LoRA" in note.message
    assert "forgetting" not in _rules(advise(s, e, n_train=1000, forgetting=lo))
    assert "forgetting" not in _rules(advise(s, e, n_train=1000, forgetting=None))


def test_overfit_from_eval_loss_curve():
    s, e = _rows(zero_shot=0.2, few_shot=0.3, rag_copy=0.2, base_rag=0.3, tuned=0.8, tuned_rag=0.7)
    rising = [{"step": 10, "loss": 2.0, "eval_loss": 2.0}, {"step": 20, "loss": 1.0, "eval_loss": 1.5},
              {"step": 30, "loss": 0.2, "eval_loss": 2.1}]
    note = next(n for n in advise(s, e, n_train=1000, curve=rising).notes if n.rule == "overfit")
    assert "step 20" in note.message
    falling = [{"step": 10, "eval_loss": 2.0}, {"step": 20, "eval_loss": 1.5}, {"step": 30, "eval_loss": 1.4}]
    assert "overfit" not in _rules(advise(s, e, n_train=1000, curve=falling))
    assert "overfit" not in _rules(advise(s, e, n_train=1000, curve=[{"step": 1, "loss": 3.0}]))


def test_runaway_generations_warned():
    s, e = _rows(zero_shot=0.2, few_shot=0.3, rag_copy=0.2, base_rag=0.3, tuned=0.8, tuned_rag=0.7)
    s["zero_shot"].update(stopped=0.5, max_tokens_hits=10)
    adv = advise(s, e, n_train=1000)
    assert [n.message for n in adv.notes if n.rule == "stopping"][0].startswith("base zero-shot: only 50%")


def test_advice_needs_rows():
    with pytest.raises(ValueError):
        advise({}, {}, n_train=10)
    s, e = _rows(zero_shot=0.2, few_shot=0.3)
    assert "no fine-tuned model" in advise(s, e, n_train=10).verdict


# ---- the verdict's premises: a fair trial for the fine-tuned model, and enough examples to decide -----------------

def _curve(evals: dict[int, float], train: dict[int, float] | None = None, steps: int | None = None) -> list[dict]:
    """metrics.jsonl as `tunesmith train` writes it: a record per step with `loss`, plus `eval_loss` at evaluations."""
    steps = steps or max(evals)
    train = train or {}
    out = []
    for s in range(1, steps + 1):
        rec = {"step": s, "loss": train.get(s, 0.1), "lr": 1e-4, "tokens_per_s": 100.0}
        if s in evals:
            rec["eval_loss"] = evals[s]
        out.append(rec)
    return out


def _lost_to_few_shot():
    """Fine-tuning not clearly better than few-shot: the verdict is against fine-tuning."""
    return _rows(zero_shot=0.2, few_shot=0.7, rag_copy=0.3, base_rag=0.5, tuned=0.7, tuned_rag=0.6)


def test_undertrained_when_eval_loss_still_falls_over_the_second_half():
    s, e = _lost_to_few_shot()
    # 30 steps, evaluated every 3 (eval_every: auto); the last first-half evaluation is step 15.
    # 1.000 → 0.949 is -5.1% (> 5%): still falling; 1.000 → 0.951 is -4.9%: not.
    falling = _curve({3: 1.5, 6: 1.3, 9: 1.15, 12: 1.05, 15: 1.0, 18: 0.99, 21: 0.98, 24: 0.97, 27: 0.96, 30: 0.949})
    adv = advise(s, e, n_train=1000, curve=falling)
    note = next(n for n in adv.notes if n.rule == "undertrained")
    assert note.level == "warning" and "1.000 at step 15 → 0.949 at step 30, -5.1%" in note.message
    assert "since the run's first half" in note.message
    assert adv.verdict == ("don't fine-tune: use base few-shot (provisional: the fine-tuned model is undertrained: "
                           "train it longer and compare again)")
    assert adv.premises["training"] == {"status": "undertrained", "model_step": 30}  # the last logged step
    flat = [dict(r, eval_loss=0.951) if r["step"] == 30 else r for r in falling]
    adv = advise(s, e, n_train=1000, curve=flat)
    assert "undertrained" not in _rules(adv) and adv.verdict == "don't fine-tune: use base few-shot"
    assert adv.premises["training"]["status"] == "ok"


def test_undertrained_tickets_run_stopped_at_34_steps():
    """The tickets example's first run (epochs: 2 and eval_every: 20 under the old defaults), as its metrics.jsonl
    logged it: no evaluation in the first half, so the fall is measured from the first one."""
    s, e = _lost_to_few_shot()
    train = {31: 0.6512, 32: 0.6526, 33: 0.6883, 34: 0.7273}
    curve = _curve({20: 0.8139969371066856, 34: 0.7400470779602786}, {s: train.get(s, 0.9) for s in range(1, 35)})
    adv = advise(s, e, n_train=300, curve=curve, model_step=34)
    note = next(n for n in adv.notes if n.rule == "undertrained")
    assert "(0.814 at step 20 → 0.740 at step 34, -9.1%;" in note.message
    assert "since its first evaluation" in note.message
    assert "train loss" not in note.message  # 0.680 at the end, below the eval loss


def test_a_large_relative_fall_near_zero_loss_is_not_undertraining():
    s, e = _lost_to_few_shot()
    # -57% but 0.026 nats (< 0.05): the tiny model at 200 steps, nothing left to learn
    converged = _curve({50: 0.2, 100: 0.046, 150: 0.021, 200: 0.020}, {s: 0.015 for s in range(1, 201)})
    assert "undertrained" not in _rules(advise(s, e, n_train=1000, curve=converged))


def test_undertrained_when_train_loss_is_far_above_eval_loss():
    s, e = _lost_to_few_shot()
    evals = {10: 1.0, 20: 1.0}  # flat eval loss: only the train loss can tell
    # Mean train loss over the last tenth (steps 19 and 20) vs the final eval loss 1.0: +11% counts, +9% does not.
    adv = advise(s, e, n_train=1000, curve=_curve(evals, {19: 1.12, 20: 1.10}))
    note = next(n for n in adv.notes if n.rule == "undertrained")
    assert ("train loss at the end (1.110, mean of the last 2 logged steps) is 11% above its eval loss (1.000)"
            in note.message)
    assert "undertrained" not in _rules(advise(s, e, n_train=1000, curve=_curve(evals, {19: 1.10, 20: 1.08})))


def test_converged_run_gets_no_training_warning():
    s, e = _lost_to_few_shot()
    # Learned by mid-run, then the annealing tail: 0.80 → 0.78 over the second half (-2.5%), train loss below eval.
    converged = _curve({5: 1.4, 10: 0.80, 15: 0.79, 20: 0.78}, {s: 0.6 for s in range(1, 21)})
    adv = advise(s, e, n_train=1000, curve=converged)
    assert not _rules(adv) & {"undertrained", "overfit", "unstable", "training_unchecked"}
    assert adv.verdict == "don't fine-tune: use base few-shot"


def test_overfit_needs_train_loss_falling_else_unstable():
    s, e = _lost_to_few_shot()
    evals = {10: 1.0, 20: 0.8, 30: 0.881}  # +10.1% above the minimum at step 20 (> 10%)
    falling_train = {s: 1.0 - s / 100 for s in range(1, 31)}  # mean of steps 18-20: 0.810; of steps 28-30: 0.710
    adv = advise(s, e, n_train=1000, curve=_curve(evals, falling_train))
    note = next(n for n in adv.notes if n.rule == "overfit")
    assert "eval loss at step 30 is 0.881, 10% above its minimum 0.800 at step 20" in note.message
    assert "train loss fell (0.810 → 0.710)" in note.message
    assert adv.verdict.endswith("(provisional: the fine-tuned model is overfitted: compare its best checkpoint)")
    flat_train = {s: 0.7 for s in range(1, 31)}
    assert "unstable" in _rules(advise(s, e, n_train=1000, curve=_curve(evals, flat_train)))
    below = _curve({10: 1.0, 20: 0.8, 30: 0.879}, falling_train)  # +9.9%: not past the best
    assert not _rules(advise(s, e, n_train=1000, curve=below)) & {"overfit", "unstable"}


def test_best_checkpoint_is_judged_as_the_model_it_is():
    """save: best leaves model/ at the lowest eval loss: no overfitting warning for it, and an early-stopped run is
    not undertrained even though eval loss was falling up to its best step."""
    s, e = _lost_to_few_shot()
    curve = _curve({10: 1.5, 20: 1.0, 30: 1.2, 40: 1.3}, {s: 1.0 - s / 100 for s in range(1, 41)})
    adv = advise(s, e, n_train=1000, curve=curve, model_step=20)
    assert not _rules(adv) & {"overfit", "undertrained", "unstable"}
    note = next(n for n in adv.notes if n.rule == "overfit_avoided")
    assert note.level == "advice" and "model/ is step 20 (eval loss 1.000)" in note.message
    assert adv.premises["training"] == {"status": "ok", "model_step": 20}
    # The same curve judged at its last step (save: last): overfitted.
    assert "overfit" in _rules(advise(s, e, n_train=1000, curve=curve, model_step=40))


def test_no_eval_loss_means_the_training_premise_is_unchecked():
    s, e = _lost_to_few_shot()
    for curve in (None, [{"step": 1, "loss": 3.0}]):
        adv = advise(s, e, n_train=1000, curve=curve)
        assert "training_unchecked" in _rules(adv) and adv.premises["training"]["status"] == "unchecked"
        assert adv.verdict == "don't fine-tune: use base few-shot"  # nothing known against the trial: not provisional


def test_examples_needed_from_the_measured_spread():
    # Differences 1, 1, 1, -1: mean 0.5, SD 1 (n - 1 in the denominator) → (1.96 · 1 / 0.5)² = 15.37 → 16 examples.
    assert examples_needed([1, 1, 1, -1]) == 16
    # Doubled: mean 0.5, SD √(6/7) = 0.9258 → (1.96 · 0.9258 / 0.5)² = 13.17 → 14.
    assert examples_needed([1, 1, 1, -1] * 2) == 14
    assert examples_needed([1, -1, 0, 0]) is None  # mean 0: no number of examples separates them
    assert examples_needed([0.5]) is None


def test_too_few_examples_to_separate_the_leaders():
    s, e = _rows(zero_shot=0.1, few_shot=0.2, rag_copy=0.1, base_rag=0.2, tuned=0.75, tuned_rag=0.25)
    e["tuned"], e["tuned_rag"] = [1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]  # tuned − tuned_rag: 1, 1, 1, −1
    for k in ("zero_shot", "few_shot", "rag_copy", "base_rag"):
        e[k] = [s[k]["score"]] * 4
    adv = advise(s, e, n_train=1000)
    note = next(n for n in adv.notes if n.rule == "sample_size")
    assert note.level == "warning"
    assert "4 held-out examples are too few to separate fine-tuned from fine-tuned + RAG" in note.message
    assert "average +0.500 with SD 1.000, so about 16 examples" in note.message
    assert adv.premises["examples_needed"] == 16 and adv.premises["n_eval"] == 4
    # Clearly separated leaders: no such warning.
    s, e = _rows(zero_shot=0.2, few_shot=0.3, rag_copy=0.2, base_rag=0.3, tuned=0.8, tuned_rag=0.7)
    adv = advise(s, e, n_train=1000)
    assert "sample_size" not in _rules(adv) and adv.premises["examples_needed"] is None


def test_verdict_names_the_cheapest_approach_not_clearly_worse():
    # Fine-tuned + RAG is best by mean, but few-shot's interval against it reaches 0 and few-shot is cheaper.
    s, e = _rows(zero_shot=0.2, few_shot=0.7, rag_copy=0.3, base_rag=0.6, tuned=0.6, tuned_rag=0.75)
    e["tuned_rag"] = [1.0, 0.5] * (N // 2)  # mean 0.75; few-shot 0.7 on every example: differences +0.3 / -0.2
    adv = advise(s, e, n_train=1000)
    assert adv.best == "tuned_rag" and adv.choice == "few_shot" and adv.verdict == "don't fine-tune: use base few-shot"
    note = next(n for n in adv.notes if n.rule == "choice")
    assert note.message.startswith("Cheapest approach not clearly worse than fine-tuned + RAG: base few-shot (score "
                                   "0.700; vs fine-tuned + RAG: -0.050 (95% CI")
    assert "few_shot vs tuned_rag" in adv.comparisons
    # Every cheaper approach clearly worse: the best is the choice, and the verdict is to fine-tune.
    s, e = _rows(zero_shot=0.2, few_shot=0.3, rag_copy=0.2, base_rag=0.3, tuned=0.8, tuned_rag=0.8)
    adv = advise(s, e, n_train=1000)
    assert adv.choice == "tuned" and adv.verdict == "fine-tune"
