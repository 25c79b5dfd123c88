"""Encoded examples → rows → micro-batches → forward passes, deterministically from the seed, so a resumed run sees
the same data.

A row holds one example, or with packing several back to back; position ids restart at each example, which is how the
model's mask keeps packed examples from attending to each other. Batches are random or length-grouped (near-equal
lengths, so little padding). The micro-batch order of an epoch is a pure function of (seed, epoch), so resuming needs
only the micro-batch index.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from tunesmith.data.example import Example, Message, Problem
from tunesmith.data.transform import IGNORE, Encoded, encode


@dataclass
class Row:
    input_ids: list[int]
    labels: list[int]
    position_ids: list[int]

    @property
    def n_labels(self) -> int:
        # Label i is predicted from position i-1, so a label at a row's first position is never used.
        return sum(1 for t in self.labels[1:] if t != IGNORE)


@dataclass
class EncodeReport:
    encoded: list[Encoded]
    truncated: list[Example]
    dropped: list[Example]
    problems: list[Problem]


def with_system(example: Example, system: str | None) -> Example:
    if not system or example.system is not None:
        return example
    return Example((Message("system", system),) + example.messages, example.source, example.line, example.fmt, example.meta)


def encode_all(examples, tokenizer, max_seq_len: int, on_overflow: str, train_on_inputs: bool, system: str | None = None,
               progress=None) -> EncodeReport:
    """Encode every example; overflow is truncated, dropped or reported as an error — and always counted."""
    rep = EncodeReport([], [], [], [])
    for ex in examples:
        ex = with_system(ex, system)
        enc = encode(ex, tokenizer, max_seq_len, train_on_inputs)
        if progress is not None:
            progress()
        if enc.truncated:
            if on_overflow == "error":
                rep.problems.append(Problem("error", f"{enc.n_tokens} tokens > max_seq_len {max_seq_len}", ex.source, ex.line))
                continue
            if on_overflow == "drop":
                rep.dropped.append(ex)
                continue
            rep.truncated.append(ex)
        if enc.n_labels == 0:
            rep.problems.append(Problem("warning", "no trainable tokens (empty answer?); skipped", ex.source, ex.line))
            rep.dropped.append(ex)
            continue
        rep.encoded.append(enc)
    return rep


def pack(encoded: list[Encoded], max_seq_len: int, packing: bool, seed: int) -> list[Row]:
    """Rows of at most max_seq_len tokens. With packing, first-fit-decreasing fills rows (fewer pad tokens)."""
    if not packing:
        return [Row(e.input_ids, [IGNORE] + e.labels[1:], list(range(len(e.input_ids)))) for e in encoded]
    order = sorted(range(len(encoded)), key=lambda i: (-len(encoded[i].input_ids), i))
    rows: list[Row] = []
    space: list[int] = []
    for i in order:
        e = encoded[i]
        n = len(e.input_ids)
        slot = next((r for r, free in enumerate(space) if free >= n), None)
        if slot is None:
            rows.append(Row([], [], []))
            space.append(max_seq_len)
            slot = len(rows) - 1
        row = rows[slot]
        row.input_ids += e.input_ids
        # An example's first token must not be predicted from the previous example's last one.
        row.labels += [IGNORE] + e.labels[1:]
        row.position_ids += list(range(n))
        space[slot] -= n
    random.Random(seed).shuffle(rows)  # FFD leaves long rows first; the epoch shuffle mixes them anyway
    return rows


# Rows sorted by length together: 50 batches' worth (HF's group_by_length), fewer when the data has under 4 such groups.
GROUP_BATCHES = 50


def epoch_batches(rows: list[Row], batch_size: int, seed: int, epoch: int, shuffle: bool = True,
                  grouped: bool = False) -> list[list[int]]:
    """Row indices of each micro-batch of `epoch`: a pure function of its arguments.

    grouped: shuffle, sort each group of GROUP_BATCHES batches' rows by length, cut it into batches, shuffle the
    batches, and move the longest batch first (a batch that does not fit in memory fails at step 1, not hours in).
    """
    idx = list(range(len(rows)))
    rng = random.Random(seed * 1_000_003 + epoch)
    if shuffle:
        rng.shuffle(idx)
    if not grouped:
        return [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    group = batch_size * max(1, min(GROUP_BATCHES, len(idx) // (4 * batch_size)))
    batches = []
    for g in range(0, len(idx), group):
        by_length = sorted(idx[g : g + group], key=lambda i: -len(rows[i].input_ids))  # stable: ties keep shuffle order
        batches += [by_length[i : i + batch_size] for i in range(0, len(by_length), batch_size)]
    if shuffle:
        rng.shuffle(batches)
        longest = max(range(len(batches)), key=lambda b: len(rows[batches[b][0]].input_ids))
        batches[0], batches[longest] = batches[longest], batches[0]
    return batches


def forward_passes(rows: list[Row], max_tokens: int | None) -> list[list[Row]]:
    """A micro-batch cut into passes of at most max_tokens padded positions (rows × longest row), longest rows first.

    The loss is a sum over rows and is normalised once per step (loss.py), so the passes' gradients add up to the whole
    micro-batch's; activation memory scales with the tokens of one pass instead. A row longer than max_tokens runs alone.
    """
    if max_tokens is None:
        return [rows]
    passes: list[list[Row]] = []
    for r in sorted(rows, key=lambda r: -len(r.input_ids)):
        if passes and len(passes[-1][0].input_ids) * (len(passes[-1]) + 1) <= max_tokens:
            passes[-1].append(r)
        else:
            passes.append([r])
    return passes


def collate(rows: list[Row], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest row. Pad positions continue the row's last segment: real tokens never attend to later
    pads (causal), pad labels are ignored, and a batch without packed rows keeps plain increasing positions, so the
    model needs no explicit mask and attention takes its fast causal kernel instead of materialising a 4D mask."""
    width = max(len(r.input_ids) for r in rows)
    ids, labels, pos = [], [], []
    for r in rows:
        pad = width - len(r.input_ids)
        ids.append(r.input_ids + [pad_id] * pad)
        labels.append(r.labels + [IGNORE] * pad)
        last = r.position_ids[-1] + 1 if r.position_ids else 0
        pos.append(r.position_ids + list(range(last, last + pad)))
    return {
        "input_ids": torch.tensor(ids, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
        "position_ids": torch.tensor(pos, dtype=torch.long),
    }


__all__ = ["Row", "EncodeReport", "with_system", "encode_all", "pack", "epoch_batches", "forward_passes", "collate"]
