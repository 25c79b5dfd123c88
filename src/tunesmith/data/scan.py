"""One pass over one file's examples for `data validate`: what each example contributes to the report (counts,
lengths, hashes, MinHash signatures, token lengths), kept in `tally`'s bounded structures; the example is then dropped.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable

import numpy as np

from tunesmith.data import dedup
from tunesmith.data.example import Example, Problem
from tunesmith.data.tally import SHOW, Column, Lengths, ProblemLog, Where, key64

__all__ = ["MAX_LABELS", "NEAR_MAX", "Scan", "label_of"]

MAX_LABELS = 50  # "few" distinct outputs, for outputs that look like class labels (see validate.check_outputs)
MAX_CATEGORIES = 10_000  # distinct 'Category:' labels counted; more is not a label set (and would grow without bound)
TOKEN_BATCH = 256  # examples tokenised per call: the fast tokenizer batches in Rust
# MinHash signatures kept for the near-duplicate and near-leakage checks: 512 bytes each, so 256 MB at most; past this
# many distinct examples the near checks cover the first ones only, and the report says so. Exact checks cover all.
NEAR_MAX = 500_000
_CATEGORY = re.compile(r"^\s*category\s*:\s*(.+?)\s*$", re.IGNORECASE)


def label_of(output: str) -> str | None:
    """The label in a `Category: X` first line, else None."""
    m = _CATEGORY.match(output.split("\n", 1)[0])
    return m.group(1) if m else None


def _key(text: str) -> int:
    return key64(dedup.text_key(text))


def conversation_text(ex: Example) -> str:
    return "\n".join(f"{m.role}: {m.content}" for m in ex.messages)


class Scan:
    """The per-example state of one file (train or eval). Per example it keeps a location (12 bytes) and three 8-byte
    hashes; a 512-byte signature for at most `near_max` distinct examples; everything else is a fixed-size summary."""

    def __init__(self, name: str, log: ProblemLog, *, turns: Callable[[Example], list[Problem]], tokenizer=None,
                 max_seq_len: int | None = None, keep: bool = False, outputs: bool = False, prompt_sigs: bool = False,
                 near_max: int | None = None,
                 train_prompts: Callable[[], np.ndarray] | None = None) -> None:
        self.name, self.log, self.turns = name, log, turns
        self.tokenizer, self.max_seq_len = tokenizer, max_seq_len
        self.n = 0
        self.formats: Counter = Counter()
        self.examples: list[Example] | None = [] if keep else None
        self.lines, self.srcs, self._src_ids = Column(np.int64), Column(np.int32), {}
        self.sources: list[str] = []
        self.prompt, self.comp, self.conv = Column(), Column(), Column()
        # Near duplicates among the first occurrence of each conversation (exact copies would share every bucket).
        self.near_max = NEAR_MAX if near_max is None else near_max
        self._seen: set[int] | None = set() if self.near_max and outputs else None
        self.conv_sigs, self.rep_rows = Column(np.uint32, dedup.NUM_PERM), Column(np.int64)
        self.near_capped = False
        # Train prompts' signatures, for the near-leakage check (only when there is an eval file).
        self.prompt_sigs = Column(np.uint32, dedup.NUM_PERM) if prompt_sigs else None
        # Output statistics and labels (train only).
        self.outputs = outputs
        self.out_chars, self.out_words, self.out_keys = Lengths(), Lengths(), Column()
        self.cats: Counter = Counter()
        self.n_cats, self.cats_overflow, self.missing = 0, False, Where()
        self.short: Counter = Counter()  # stripped outputs, while there are few enough to be labels
        self.short_overflow = False
        # Leakage (eval only): exact matches found as they stream, signatures of the rest.
        self.train_prompts = train_prompts
        self._train_keys: np.ndarray | None = None
        self.leak_exact, self.rest_rows, self.rest_sigs = Where(), Column(np.int64), Column(np.uint32, dedup.NUM_PERM)
        # Token lengths, tokenised TOKEN_BATCH at a time.
        self.tokens, self.over = Lengths(), Where()
        self._batch: list[tuple[int, Example]] = []

    def where(self, rows) -> Where:
        """The locations of the examples at `rows` (in order)."""
        w = Where()
        rows = np.asarray(rows)
        for r in rows[:SHOW].tolist():
            w.add(self.sources[self.srcs.array()[r]], int(self.lines.array()[r]))
        w.count = len(rows)
        return w

    def add(self, ex: Example) -> None:
        row = self.n
        self.n += 1
        self.formats[ex.fmt] += 1
        if self.examples is not None:
            self.examples.append(ex)
        src = self._src_ids.setdefault(ex.source, len(self.sources))
        if src == len(self.sources):
            self.sources.append(ex.source)
        self.lines.append(ex.line)
        self.srcs.append(src)
        for p in self.turns(ex):
            self.log.add(f"turns:{self.name}", p)
        prompt, completion = ex.prompt, ex.completion
        pk = _key(prompt)
        self.prompt.append(pk)
        self.comp.append(_key(completion))
        if self.outputs:
            self._add_output(ex, completion)
            conv = conversation_text(ex)
            ck = _key(conv)
            self.conv.append(ck)
            if self._seen is not None and ck not in self._seen:
                if self.conv_sigs.n < self.near_max:
                    self._seen.add(ck)
                    self.conv_sigs.append(dedup.signature(conv))
                    self.rep_rows.append(row)
                else:  # the cap: stop collecting, and free the set of keys that only served it
                    self.near_capped, self._seen = True, None
            if self.prompt_sigs is not None:
                if self.prompt_sigs.n < self.near_max:
                    self.prompt_sigs.append(dedup.signature(prompt))
                else:
                    self.near_capped = True
        if self.train_prompts is not None:
            self._add_leak(ex, row, pk, prompt)
        if self.tokenizer is not None:
            self._batch.append((row, ex))
            if len(self._batch) >= TOKEN_BATCH:
                self.flush()

    def _add_output(self, ex: Example, out: str) -> None:
        self.out_chars.add(len(out))
        self.out_words.add(len(out.split()))
        self.out_keys.append(key64(hashlib.blake2b(out.encode("utf-8", "surrogatepass"), digest_size=8).digest()))
        label = label_of(out)
        if label is None:
            self.missing.add(ex.source, ex.line)
        else:
            self.n_cats += 1
            if label in self.cats or len(self.cats) < MAX_CATEGORIES:
                self.cats[label] += 1
            else:
                self.cats_overflow = True
        if not self.short_overflow:
            self.short[out.strip()] += 1
            self.short_overflow = len(self.short) > MAX_LABELS
            if self.short_overflow:
                self.short.clear()

    def _add_leak(self, ex: Example, row: int, pk: int, prompt: str) -> None:
        if self._train_keys is None:
            self._train_keys = self.train_prompts()
        pos = np.searchsorted(self._train_keys, np.uint64(pk))
        if pos < len(self._train_keys) and self._train_keys[pos] == np.uint64(pk):
            self.leak_exact.add(ex.source, ex.line)
        elif self.rest_sigs.n < self.near_max:
            self.rest_rows.append(row)
            self.rest_sigs.append(dedup.signature(prompt))
        else:
            self.near_capped = True

    def flush(self) -> None:
        """Token lengths of the batched examples: the same count as transform.encode(...).n_tokens (template text, no
        extra special tokens), batched for speed."""
        from tunesmith.data.transform import render

        batch, self._batch = self._batch, []
        texts, kept = [], []
        for row, ex in batch:
            try:
                texts.append(render(self.tokenizer, ex.messages))
                kept.append(ex)
            except Exception as e:  # templates raise their own errors (e.g. roles must alternate)
                msg = f"the chat template rejects this example: {e}"
                self.log.add(f"tokens:{self.name}", Problem("error", msg, ex.source, ex.line))
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        for ex, seq in zip(kept, ids):
            self.tokens.add(len(seq))
            if self.max_seq_len is not None and len(seq) > self.max_seq_len:
                self.over.add(ex.source, ex.line)
