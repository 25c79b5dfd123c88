"""Dataset checks shared by `tunesmith data validate` and `tunesmith train`: collect every problem, then fail once.

`validate_files` streams the train (and eval) file through one `Validation`, which runs structural, token-length,
duplicate, leakage and label checks as examples go by and keeps only counts, bounded statistics and 8-byte hashes
(`tally`), never the examples themselves unless training asks for them; `finish()` returns one `Report` whose
`.errors` must be empty before training starts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tunesmith.data import dedup
from tunesmith.data.example import Example, Problem
from tunesmith.data.readers import iter_examples
from tunesmith.data.scan import MAX_CATEGORIES, MAX_LABELS, Scan, label_of
from tunesmith.data.tally import ProblemLog

SMALL_DATASET = 100  # below this, fine-tuning tends to memorise; prompting or RAG is usually the better first try
IMBALANCE_RATIO = 10  # most / least frequent label at or above this is "heavy imbalance"
SHORT_OUTPUT_WORDS = 5  # outputs this short (p95) with few distinct values look like class labels
_SHOW = 8  # groups or pairs quoted in an aggregated problem
_SECTIONS = ["read:train", "read:eval", "turns:train", "turns:eval", "dataset", "outputs", "duplicates", "leakage",
             "tokens:train", "tokens:eval"]


@dataclass
class Report:
    """Everything `data validate` prints; `errors` non-empty means training must not start."""

    problems: list[Problem] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)
    eval_examples: list[Example] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Problems counted but not listed (past tally.MAX_LISTED per check): they still count in the totals.
    omitted: dict = field(default_factory=lambda: {"error": 0, "warning": 0})

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def n_errors(self) -> int:
        return len(self.errors) + self.omitted["error"]

    @property
    def n_warnings(self) -> int:
        return len(self.warnings) + self.omitted["warning"]

    @property
    def ok(self) -> bool:
        return not self.n_errors

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "n_errors": self.n_errors,
            "n_warnings": self.n_warnings,
            "stats": self.stats,
            "notes": self.notes,
            "problems": [asdict(p) for p in self.problems],
        }


def check_turns(ex: Example) -> list[Problem]:
    """Roles and turn order of one conversation, and empty turns."""
    out: list[Problem] = []

    def add(level, msg, key="messages"):
        out.append(Problem(level, msg, ex.source, ex.line, key))

    roles = [m.role for m in ex.messages]
    for i, m in enumerate(ex.messages):
        if not m.content.strip():
            level = "warning" if m.role == "system" else "error"
            add(level, f"empty {m.role} turn (message {i})", f"messages[{i}].content")
        if m.role == "system" and i > 0:
            add("error", f"system message at position {i}: it must come first", f"messages[{i}].role")
    talk = [r for r in roles if r != "system"]
    if "assistant" not in talk:
        add("error", "no assistant turn: nothing to train on")
    elif all(m.weight == 0 for m in ex.messages if m.role == "assistant"):
        add("error", "every assistant turn has weight 0: nothing to train on")
    if talk and talk[0] == "assistant":
        add("error", "the conversation starts with the assistant; the first turn must be the user's")
    for i in range(1, len(talk)):
        if talk[i] == talk[i - 1]:
            add("warning", f"two {talk[i]} turns in a row (turns {i - 1} and {i} after any system message)")
    if talk and talk[-1] == "user" and "assistant" in talk:
        add("warning", "the conversation ends with a user turn, which is never trained on")
    return out


class Validation:
    """`feed` the train file's items, then the eval file's (an `Example` or a reader `Problem` each), then `finish()`.

    Memory: per example a location and three 8-byte hashes, a MinHash signature for at most `scan.NEAR_MAX` distinct
    examples, and fixed-size summaries; the examples themselves only when `keep_examples` (training needs them).
    """

    def __init__(self, tokenizer=None, max_seq_len: int | None = None, has_eval: bool = False,
                 keep_examples: bool = False) -> None:
        self.tokenizer = tokenizer
        self.log = ProblemLog(_SECTIONS)
        common = dict(turns=check_turns, tokenizer=tokenizer, max_seq_len=max_seq_len, keep=keep_examples)
        self.train = Scan("train", self.log, outputs=True, prompt_sigs=has_eval, **common)
        self.eval = Scan("eval", self.log, train_prompts=self._train_prompts, **common) if has_eval else None

    def _train_prompts(self) -> np.ndarray:
        return np.unique(self.train.prompt.array())

    def feed(self, name: str, item: Example | Problem) -> None:
        scan = self.train if name == "train" else self.eval
        if isinstance(item, Problem):
            self.log.add(f"read:{name}", item)
        else:
            scan.add(item)

    def finish(self) -> Report:
        scans = [s for s in (self.train, self.eval) if s is not None]
        for scan in scans:
            if scan.tokenizer is not None and scan._batch:
                scan.flush()
        report = Report(examples=self.train.examples or [],
                        eval_examples=(self.eval.examples or []) if self.eval else [])
        for scan in scans:
            report.stats.setdefault("formats", {})[scan.name] = dict(scan.formats)
            report.stats.setdefault("examples", {})[scan.name] = scan.n
        n = self.train.n
        if not n:
            self.log.add("dataset", Problem("error", "no valid training examples"))
            return self._done(report)
        if n < SMALL_DATASET:
            msg = f"small dataset ({n} examples): fine-tuning may overfit; consider few-shot prompting or RAG"
            self.log.add("dataset", Problem("warning", msg))
        self._outputs(report)
        self._duplicates(report)
        if self.eval is not None and self.eval.n:
            self._leakage(report)
        if any(s.near_capped for s in scans):
            report.notes.append(f"near duplicates and near leakage checked among the first {self.train.near_max:,} "
                                "distinct examples only (exact checks cover all)")
        if self.tokenizer is None:
            report.notes.append("token lengths not checked (no tokenizer given)")
        else:
            if getattr(self.tokenizer, "init_kwargs", {}).get("tunesmith_fallback_template"):
                report.notes.append("the model has no chat template: lengths use tunesmith's fallback template")
            for scan in scans:
                if scan.n:
                    self._tokens(scan, report)
        return self._done(report)

    def _done(self, report: Report) -> Report:
        report.problems = self.log.problems()
        report.omitted = self.log.omitted_counts()
        report.notes += self.log.notes()
        if any(d.get("approximate") for d in _lengths(report.stats)):
            report.notes.append("percentiles marked approximate are within 1%: the lengths took too many distinct "
                                "values to count one by one")
        return report

    def _outputs(self, report: Report) -> None:
        """Output-length stats, and label balance when outputs look categorical."""
        t = self.train
        distinct = len(np.unique(t.out_keys.array()))
        report.stats["outputs"] = {"chars": t.out_chars.summary(), "words": t.out_words.summary(),
                                   "distinct": distinct}
        if t.n_cats >= 0.8 * t.n:
            if t.missing.count:
                msg = f"{t.missing.count} outputs lack the 'Category:' first line the others have: {t.missing}"
                self.log.add("outputs", Problem("warning", msg))
            if t.cats_overflow:
                report.notes.append(f"labels not counted: more than {MAX_CATEGORIES:,} distinct 'Category:' values")
                return
            kind, counts = "category_line", t.cats.most_common()
        elif (not t.short_overflow and distinct <= min(MAX_LABELS, t.n / 2)
              and t.out_words.percentile(95) <= SHORT_OUTPUT_WORDS):
            kind, counts = "short_outputs", t.short.most_common()
        else:
            return
        total = sum(c for _, c in counts)
        top, low = counts[0][1], counts[-1][1]
        report.stats["labels"] = {
            "kind": kind,
            "counts": dict(counts),
            "majority_share": round(top / total, 4),
            "imbalance_ratio": round(top / low, 2),
        }
        if len(counts) == 1:
            msg = f"every output has the same label {counts[0][0]!r}: the model will learn to always answer it"
            self.log.add("outputs", Problem("warning", msg))
        elif top / low >= IMBALANCE_RATIO:
            msg = (f"heavy label imbalance: {counts[0][0]!r} x{top} vs {counts[-1][0]!r} x{low} "
                   f"(ratio {top / low:.0f}); consider rebalancing or per-label metrics")
            self.log.add("outputs", Problem("warning", msg))

    def _duplicates(self, report: Report) -> None:
        """Exact duplicates, near duplicates (MinHash, Jaccard >= 0.9) and same-input-different-output conflicts."""
        t = self.train
        groups = _groups(t.conv.array())
        for members in groups[:_SHOW]:
            head = int(members[0])
            msg = f"exact duplicate examples: {t.where(members)}"
            self.log.add("duplicates", Problem("warning", msg, t.sources[t.srcs.array()[head]],
                                               int(t.lines.array()[head])))
        if len(groups) > _SHOW:
            self.log.add("duplicates", Problem("warning", f"{len(groups) - _SHOW} more groups of exact duplicates"))
        reps = t.rep_rows.array()
        near = [(int(reps[a]), int(reps[b]), s) for a, b, s in dedup.near_pairs(t.conv_sigs.array())]
        if near:
            pairs = "; ".join(f"{t.where([i])} ~ {t.where([j])} ({s:.2f})" for i, j, s in near[:_SHOW])
            more = f" and {len(near) - _SHOW} more" if len(near) > _SHOW else ""
            msg = f"{len(near)} near-duplicate pairs (Jaccard >= 0.9): {pairs}{more}"
            self.log.add("duplicates", Problem("warning", msg))
        conflicts = _conflicts(t.prompt.array(), t.comp.array())
        if conflicts:
            shown = "; ".join(str(t.where(g)) for g in conflicts[:_SHOW])
            msg = f"{len(conflicts)} inputs appear with different outputs (label noise?): {shown}"
            self.log.add("duplicates", Problem("warning", msg))
        counts = _groups(t.conv.array(), members=False)
        report.stats["duplicates"] = {
            "exact_groups": len(groups),
            "exact_extra_copies": int(counts),
            "near_pairs": len(near),
            "conflicting_inputs": len(conflicts),
        }

    def _leakage(self, report: Report) -> None:
        """Eval inputs that also occur in train: exactly (an error: the eval score would be inflated) or nearly."""
        t, e = self.train, self.eval
        if e.leak_exact.count:
            msg = f"{e.leak_exact.count} eval examples have an input that is also in train: {e.leak_exact}"
            self.log.add("leakage", Problem("error", msg))
        rows = e.rest_rows.array()
        near = sorted({int(rows[j]) for _, j, _ in dedup.near_pairs(t.prompt_sigs.array(), e.rest_sigs.array())})
        if near:
            msg = f"{len(near)} eval examples nearly repeat a train input (Jaccard >= 0.9): {e.where(near)}"
            self.log.add("leakage", Problem("warning", msg))
        report.stats["leakage"] = {"exact": e.leak_exact.count, "near": len(near)}

    def _tokens(self, scan: Scan, report: Report) -> None:
        """Token lengths through the model's chat template, and how many examples exceed max_seq_len."""
        stats = scan.tokens.summary() | {"max_seq_len": scan.max_seq_len, "over_max": scan.over.count}
        report.stats.setdefault("tokens", {})[scan.name] = stats
        if scan.over.count:
            share = scan.over.count / max(1, scan.tokens.n)
            msg = (f"{scan.over.count} of {scan.tokens.n} {scan.name} examples ({share:.0%}) are longer than "
                   f"max_seq_len={scan.max_seq_len} tokens and would be truncated: {scan.over}")
            self.log.add(f"tokens:{scan.name}", Problem("warning", msg))


def _lengths(stats: dict) -> list[dict]:
    out = [stats.get("outputs", {}).get(k, {}) for k in ("chars", "words")]
    return out + list(stats.get("tokens", {}).values())


def _groups(keys: np.ndarray, members: bool = True):
    """Rows of equal keys, one array per group of two or more, in order of first appearance; with members=False just
    the number of extra copies."""
    uniq, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    dup = np.flatnonzero(counts > 1)
    if not members:
        return (counts[dup] - 1).sum()
    order = dup[np.argsort(first[dup], kind="stable")]
    # Only the first _SHOW groups are quoted; the rest need no member lists, just to be counted.
    return [np.flatnonzero(inverse == g) if k < _SHOW else first[g:g + 1] for k, g in enumerate(order)]


def _conflicts(prompts: np.ndarray, completions: np.ndarray) -> list[np.ndarray]:
    """Rows per input key seen with more than one distinct output, in order of the input's first appearance."""
    if not len(prompts):
        return []
    order = np.lexsort((completions, prompts))
    p, c = prompts[order], completions[order]
    new_pair = np.r_[True, (p[1:] != p[:-1]) | (c[1:] != c[:-1])]
    keys, n_outputs = np.unique(p[new_pair], return_counts=True)
    bad = keys[n_outputs > 1]
    if not len(bad):
        return []
    uniq, first = np.unique(prompts, return_index=True)
    firsts = first[np.searchsorted(uniq, bad)]
    bad = bad[np.argsort(firsts, kind="stable")]
    return [np.flatnonzero(prompts == k) if i < _SHOW else firsts[:1] for i, k in enumerate(bad)]


def validate(
    examples: list[Example],
    problems: list[Problem] | None = None,
    eval_examples: list[Example] | None = None,
    eval_problems: list[Problem] | None = None,
    tokenizer=None,
    max_seq_len: int | None = None,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> Report:
    """Run every check on already-read examples (the report keeps them); `progress` is accepted for the old signature:
    the checks run as examples are fed, so there is no later phase to show."""
    v = Validation(tokenizer, max_seq_len, has_eval=eval_examples is not None, keep_examples=True)
    for name, exs, probs in (("train", examples, problems), ("eval", eval_examples, eval_problems)):
        for item in [*(probs or []), *(exs or [])]:
            v.feed(name, item)
    return v.finish()


def validate_files(
    train_path: str | Path,
    eval_path: str | Path | None = None,
    tokenizer=None,
    max_seq_len: int | None = None,
    mapping=None,
    progress: Callable[[str, int | None], Callable[[int], None]] | None = None,
    keep_examples: bool = True,
) -> Report:
    """Stream the files through one `Validation`. `keep_examples` (training's case) keeps the accepted examples in
    the report; without it memory stays bounded whatever the file size (`data validate`)."""
    v = Validation(tokenizer, max_seq_len, has_eval=eval_path is not None, keep_examples=keep_examples)
    for name, path in (("train", train_path), ("eval", eval_path)):
        if path is None:
            continue
        advance = progress(f"reading {Path(path).name}", None) if progress else None
        for item in iter_examples(path, mapping):
            v.feed(name, item)
            if advance and isinstance(item, Example):
                advance(1)
    return v.finish()


__all__ = ["Report", "Validation", "check_turns", "label_of", "validate", "validate_files"]
