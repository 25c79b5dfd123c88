"""The fine-tune-or-not decision, computed from the comparison's numbers and the dataset size, never from taste.

Each rule is a small function that returns a note or nothing; its threshold is a named constant here with what it means.
The verdict names the cheapest approach that is not clearly worse than the best, and says it is provisional when its
premises fail: a fine-tuned model that is undertrained or past its best (premises.py reads the run's curve).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

from tunesmith.evaluate.metrics import Paired, paired
from tunesmith.evaluate.premises import OVERFIT_PCT, TrainingCheck, check_training, examples_needed

# Below this many training examples a fine-tune is likely to memorise; prompting/RAG are preferred unless FT wins clearly.
SMALL_DATA = 100
# RAG-copy within this much of the fine-tuned `score` (absolute, 0-1 scale) counts as "as good": the task is lookup.
RAG_COPY_CLOSE = 0.05
# Fine-tuning's gain in format validity / field match must be at least this, and at least STRUCTURE_RATIO times its
# gain in meaning (semantic similarity), to call the task behaviour-like.
STRUCTURE_GAIN = 0.10
STRUCTURE_RATIO = 2.0
# Perplexity on general text rising by more than this share (%) after tuning is forgetting worth a warning.
FORGETTING_PCT = 20.0
# Share of generations that must end by themselves; below it the row's scores are dragged down by runaway answers.
MIN_STOP_RATE = 0.9

# Row keys of the comparison, and which ones are "no fine-tuning" alternatives.
NAMES = {
    "zero_shot": "base zero-shot",
    "few_shot": "base few-shot",
    "rag_copy": "RAG-copy",
    "base_rag": "base + RAG",
    "tuned": "fine-tuned",
    "tuned_rag": "fine-tuned + RAG",
}
TUNED = ("tuned", "tuned_rag")
PROMPTING = ("zero_shot", "few_shot", "base_rag", "rag_copy")
# Cheapest first, by what adopting the approach takes: RAG-copy runs no language model at all (an embedder and an index);
# zero-shot runs the base model on the bare question; few-shot and base + RAG add retrieval and k examples to every
# prompt; fine-tuned costs a training run and a second model to serve; fine-tuned + RAG costs both.
COST_ORDER = ("rag_copy", "zero_shot", "few_shot", "base_rag", "tuned", "tuned_rag")


@dataclass(frozen=True)
class Note:
    rule: str
    level: str  # "advice" (a conclusion) or "warning" (something to look at before trusting the numbers)
    message: str


@dataclass
class Advice:
    verdict: str
    best: str
    notes: list[Note]
    comparisons: dict[str, dict]
    choice: str = ""  # the cheapest approach not clearly worse than the best (what the verdict recommends)
    premises: dict = field(default_factory=dict)  # training: ok|undertrained|overfitted|unstable|unchecked; sample size

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "best": self.best, "choice": self.choice, "premises": self.premises,
                "notes": [asdict(n) for n in self.notes], "comparisons": self.comparisons}


def _fmt(p: Paired) -> str:
    return f"{p.diff:+.3f} (95% CI {p.low:+.3f}..{p.high:+.3f}; {p.wins} wins / {p.losses} losses / {p.ties} ties)"


def advise(
    summaries: Mapping[str, Mapping[str, float]],
    scores: Mapping[str, Sequence[float]],
    *,
    n_train: int,
    forgetting: Mapping[str, float] | None = None,
    curve: Sequence[Mapping[str, float]] | None = None,
    method: str | None = None,
    model_step: int | None = None,
) -> Advice:
    """`summaries[row]` are a row's mean metrics, `scores[row]` its per-example `score`s (same example order in all);
    `curve` the run's metrics.jsonl records and `model_step` the step its model/ holds (None: the last logged step)."""
    rows = [r for r in NAMES if r in summaries]
    if not rows:
        raise ValueError("no approaches to compare")
    best = max(rows, key=lambda r: summaries[r]["score"])
    tuned = max((r for r in TUNED if r in rows), key=lambda r: summaries[r]["score"], default=None)
    alt = max((r for r in PROMPTING if r in rows), key=lambda r: summaries[r]["score"], default=None)
    comparisons: dict[str, dict] = {}
    ft_vs_alt = None
    if tuned and alt:
        ft_vs_alt = paired(scores[tuned], scores[alt])
        comparisons[f"{tuned} vs {alt}"] = ft_vs_alt.as_dict()
    others = [r for r in rows if r != best]
    needed = None
    if others:
        runner_up = max(others, key=lambda r: summaries[r]["score"])
        p = paired(scores[best], scores[runner_up])
        comparisons[f"{best} vs {runner_up}"] = p.as_dict()
        head = f"Best: {NAMES[best]} (score {summaries[best]['score']:.3f}); vs {NAMES[runner_up]}: {_fmt(p)}."
        if not p.clear:
            head += " The interval includes 0: the two are not clearly different on this held-out set."
    else:
        head = f"Only one approach measured: {NAMES[best]} (score {summaries[best]['score']:.3f})."
    notes = [Note("best", "advice", head)]
    choice, note = _cheapest(rows, best, summaries, scores, comparisons)
    notes.append(note)
    for rule in (_small_data, _rag_copy, _behaviour, _no_gain):
        note = rule(summaries, tuned, alt, ft_vs_alt, n_train)
        if note:
            notes.append(note)
    if others and not p.clear:
        note, needed = _sample_size(best, runner_up, scores)
        notes.append(note)
    check = check_training(curve, model_step) if tuned else None
    notes += _forgetting(forgetting, method) + _training(check) + _stopping(summaries)
    verdict = (_verdict(notes, choice, check) if tuned
               else f"use {NAMES[choice]} (no fine-tuned model measured)")
    n_eval = len(scores[best]) if best in scores else None
    premises = {"training": check.as_dict() if check else None, "n_eval": n_eval, "examples_needed": needed}
    return Advice(verdict, best, notes, comparisons, choice, premises)


def _cheapest(rows, best, s, scores, comparisons) -> tuple[str, Note]:
    """The first approach in COST_ORDER whose score is not clearly below the best's (the best itself at the latest)."""
    ordered = [r for r in COST_ORDER if r in rows]
    for r in ordered:
        if r == best:
            why = "every cheaper approach is clearly worse" if r != ordered[0] else "the cheapest approach measured"
            return r, Note("choice", "advice", f"Cheapest approach not clearly worse than the best: {NAMES[r]} itself "
                           f"({why}).")
        p = paired(scores[r], scores[best])
        if p.high >= 0:  # the interval of (this - best) reaches 0: not clearly worse
            comparisons[f"{r} vs {best}"] = p.as_dict()
            return r, Note("choice", "advice", f"Cheapest approach not clearly worse than {NAMES[best]}: {NAMES[r]} "
                           f"(score {s[r]['score']:.3f}; vs {NAMES[best]}: {_fmt(p)}).")
    raise AssertionError("unreachable: the best approach is in COST_ORDER")


def _sample_size(best: str, runner_up: str, scores) -> tuple[Note, int | None]:
    """The two leading approaches are not separated: how many held-out examples would separate them."""
    d = [a - b for a, b in zip(scores[best], scores[runner_up])]
    n, needed = len(d), examples_needed(d)
    who = f"{NAMES[best]} from {NAMES[runner_up]}"
    if needed is None:
        return Note("sample_size", "warning", f"{NAMES[best]} and {NAMES[runner_up]} score the same on average over "
                    f"{n} held-out examples: more examples would not separate them."), None
    needed = max(needed, n + 1)  # the bootstrap interval at n includes 0, whatever the normal approximation says
    mean = sum(d) / n
    sd = (sum((x - mean) ** 2 for x in d) / (n - 1)) ** 0.5
    return Note("sample_size", "warning",
                f"{n} held-out examples are too few to separate {who}: their per-example score differences average "
                f"{mean:+.3f} with SD {sd:.3f}, so about {needed} examples would make the 95% interval exclude 0 (if "
                "the difference held). Score more held-out examples before reading the ranking."), needed


def _small_data(s, tuned, alt, p: Paired | None, n_train: int) -> Note | None:
    if n_train >= SMALL_DATA:
        return None
    msg = f"Only {n_train} training examples (< {SMALL_DATA}): a fine-tune can memorise them."
    if tuned and p is not None and p.clear:
        return Note("small_data", "warning", msg + f" Fine-tuning still wins clearly over {NAMES[alt]}: {_fmt(p)}.")
    return Note("small_data", "advice", msg + " Prefer few-shot prompting or RAG; fine-tuning does not win clearly.")


def _rag_copy(s, tuned, alt, p, n_train) -> Note | None:
    if not tuned or "rag_copy" not in s:
        return None
    gap = s[tuned]["score"] - s["rag_copy"]["score"]
    if gap > RAG_COPY_CLOSE:
        return None
    how = "scores at least as well as" if gap <= 0 else f"is within {RAG_COPY_CLOSE} of"
    return Note("rag_copy", "advice",
                f"RAG-copy (answer = nearest training example's output) {how} {NAMES[tuned]} "
                f"({s['rag_copy']['score']:.3f} vs {s[tuned]['score']:.3f}): the task is knowledge-like; retrieval suffices.")


def _behaviour(s, tuned, alt, p, n_train) -> Note | None:
    prompting = [r for r in ("zero_shot", "few_shot", "base_rag") if r in s]
    if not tuned or not prompting or "format_valid" not in s[tuned]:
        return None
    ref = max(prompting, key=lambda r: s[r]["score"])
    structure = max(s[tuned].get(m, 0.0) - s[ref].get(m, 0.0) for m in ("format_valid", "field_acc"))
    meaning = s[tuned].get("semantic", s[tuned]["rouge_l"]) - s[ref].get("semantic", s[ref]["rouge_l"])
    if structure < STRUCTURE_GAIN or structure < STRUCTURE_RATIO * max(meaning, 0.0):
        return None
    return Note("behaviour", "advice",
                f"Fine-tuning's gain over {NAMES[ref]} is mostly structure (format/field match +{structure:.3f}, meaning "
                f"{meaning:+.3f}): the task is behaviour-like; fine-tuning is the right tool.")


def _no_gain(s, tuned, alt, p: Paired | None, n_train) -> Note | None:
    if not tuned or p is None or p.clear:
        return None
    return Note("no_gain", "advice",
                f"{NAMES[tuned]} is not clearly better than {NAMES[alt]}: {_fmt(p)}. Do not fine-tune for this task "
                "(or get more/better data first).")


def _forgetting(f: Mapping[str, float] | None, method: str | None) -> list[Note]:
    if not f or f.get("increase_pct") is None or f["increase_pct"] <= FORGETTING_PCT:
        return []
    fix = "lower the learning rate or train fewer steps" + ("; LoRA instead of full fine-tuning" if method == "full" else
                                                          "; a smaller LoRA rank")
    return [Note("forgetting", "warning",
                 f"Perplexity on general text rose {f['increase_pct']:.1f}% (> {FORGETTING_PCT:.0f}%: "
                 f"{f['base_ppl']:.2f} → {f['tuned_ppl']:.2f}): the model is forgetting; {fix}.")]


# The note's rule name for each training status that is a warning.
_TRAINING_RULES = {"undertrained": "undertrained", "overfitted": "overfit", "unstable": "unstable",
                   "unchecked": "training_unchecked"}


def _training(check: TrainingCheck | None) -> list[Note]:
    if check is None:
        return []
    if check.status in _TRAINING_RULES:
        return [Note(_TRAINING_RULES[check.status], "warning", check.message)]
    return [Note("overfit_avoided", "advice", check.after)] if check.after else []


def _stopping(s: Mapping[str, Mapping[str, float]]) -> list[Note]:
    out = []
    for r, m in s.items():
        if "stopped" in m and m["stopped"] < MIN_STOP_RATE:
            out.append(Note("stopping", "warning",
                            f"{NAMES.get(r, r)}: only {m['stopped']:.0%} of answers ended by themselves "
                            f"({m.get('max_tokens_hits', 0)} hit max_new_tokens); its scores include cut-off answers."))
    return out


# A verdict against fine-tuning judged on a model that did not get a fair trial says so, and what to do first.
_PROVISIONAL = {"undertrained": "the fine-tuned model is undertrained: train it longer and compare again",
                "overfitted": "the fine-tuned model is overfitted: compare its best checkpoint",
                "unstable": "the fine-tuned model is past its best: compare its best checkpoint or lower the lr"}


def _verdict(notes: list[Note], choice: str, check: TrainingCheck | None) -> str:
    rules = {n.rule: n for n in notes}
    if choice not in TUNED:
        verdict = f"don't fine-tune: use {NAMES[choice]}"
    elif "rag_copy" in rules:
        verdict = "don't fine-tune: RAG suffices"
    else:
        return "fine-tune" + (" (with RAG)" if choice == "tuned_rag" else "")
    if check is not None and check.status in _PROVISIONAL:
        verdict += f" (provisional: {_PROVISIONAL[check.status]})"
    return verdict


__all__ = ["COST_ORDER", "FORGETTING_PCT", "MIN_STOP_RATE", "NAMES", "OVERFIT_PCT", "RAG_COPY_CLOSE", "SMALL_DATA",
           "STRUCTURE_GAIN", "STRUCTURE_RATIO", "Advice", "Note", "advise"]
