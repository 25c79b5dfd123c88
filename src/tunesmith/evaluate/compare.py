"""`tunesmith compare`: six ways to answer the same held-out set, scored the same way, then advice from the numbers.

Rows: base zero-shot, base few-shot (k nearest training examples as chat turns), RAG-copy, base + RAG, fine-tuned,
fine-tuned + RAG; plus the run's loss curves and a forgetting check on general text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from tunesmith.data.example import Example
from tunesmith.evaluate.advice import NAMES, Advice, advise
from tunesmith.evaluate.fields import Normaliser, Schema, detect_schema
from tunesmith.evaluate.metrics import Embedder
from tunesmith.evaluate.retrieval import Retriever
from tunesmith.evaluate.runner import (
    EvalInputError,
    EvalResult,
    Generator,
    as_prompt,
    find_overlap,
    generate_all,
    score_result,
)
from tunesmith.models.run_dir import METRICS


def instruction(schema: Schema, system: str | None = None) -> str:
    """The zero-shot instruction: the task's own system prompt if it has one, plus the answer format the references use."""
    parts = [system.strip()] if system else ["Answer the user's input."]
    names = [schema.names[k] for k in schema.keys]
    if schema.kind == "lines":
        parts.append("Reply with exactly these lines and nothing else:\n" + "\n".join(f"{n}: ..." for n in names))
    elif schema.kind == "json":
        parts.append("Reply with one JSON object with the keys " + ", ".join(json.dumps(n) for n in names) + ".")
    return "\n\n".join(parts)


def rag_context(query: str, shots: Sequence[Example]) -> str:
    """Retrieved examples pasted into one user turn ahead of the question."""
    blocks = [f"### Example {i}\nInput:\n{ex.prompt}\nOutput:\n{ex.completion}" for i, ex in enumerate(shots, 1)]
    return "Solved examples similar to this one:\n\n" + "\n\n".join(blocks) + f"\n\n### Now answer\nInput:\n{query}"


def _system(ex: Example, default: str | None) -> list[dict]:
    s = ex.system or default
    return [{"role": "system", "content": s}] if s else []


def build_prompts(kind: str, held_out: Sequence[Example], train: Sequence[Example], neighbours: Sequence[Sequence[int]],
                  schema: Schema, system: str | None = None) -> list[list[dict]]:
    """Chat prompts for one row. `neighbours[i]` are training indices, most similar first."""
    out = []
    for ex, near in zip(held_out, neighbours):
        shots = [train[j] for j in near]
        instr = [{"role": "system", "content": instruction(schema, ex.system or system)}]
        if kind == "zero_shot":
            msgs = instr + [{"role": "user", "content": ex.prompt}]
        elif kind == "few_shot":
            # Most similar example last, right before the question, where a small model attends most.
            turns = [t for s in reversed(shots) for t in ({"role": "user", "content": s.prompt},
                                                          {"role": "assistant", "content": s.completion})]
            msgs = instr + turns + [{"role": "user", "content": ex.prompt}]
        elif kind == "base_rag":
            msgs = instr + [{"role": "user", "content": rag_context(ex.prompt, shots)}]
        elif kind == "tuned":
            msgs = _system(ex, system) + [m for m in as_prompt(ex) if m["role"] != "system"]
        elif kind == "tuned_rag":
            msgs = _system(ex, system) + [{"role": "user", "content": rag_context(ex.prompt, shots)}]
        else:
            raise ValueError(f"unknown row {kind!r}; known: {', '.join(NAMES)}")
        out.append(msgs)
    return out


def read_curve(run_dir: str | Path | None) -> list[dict]:
    """RUN/metrics.jsonl as a list of records with a step (bad lines are reported, not skipped silently)."""
    if run_dir is None:
        return []
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalInputError(f"{path}:{n}: not JSON: {e.msg}") from e
        if isinstance(rec, dict) and "step" in rec:
            records.append(rec)
    return records


@dataclass
class Comparison:
    """Everything `compare` measured; `as_dict()` is what report.json holds."""

    results: dict[str, EvalResult]
    advice: Advice
    dataset: dict
    curve: list[dict] = field(default_factory=list)
    forgetting: dict | None = None
    settings: dict = field(default_factory=dict)

    def table(self) -> list[dict]:
        return [{"key": k, "name": NAMES[k], **r.scored.summary} for k, r in self.results.items()]

    def as_dict(self) -> dict:
        return {"settings": self.settings, "dataset": self.dataset, "rows": self.table(), "curve": self.curve,
                "forgetting": self.forgetting, "advice": self.advice.as_dict()}


def compare(
    tuned: Generator,
    base: Generator,
    train: Sequence[Example],
    held_out: Sequence[Example],
    *,
    embedder: Embedder,
    k: int = 3,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    normalisers: Mapping[str, Normaliser] | None = None,
    system: str | None = None,
    run_dir: str | Path | None = None,
    method: str | None = None,
    forgetting: Callable[[Generator, Generator], dict] | None = None,
    source: str = "held-out set",
    model_step: int | None = None,
) -> Comparison:
    """Run every row on the same held-out set. `forgetting(base, tuned)` returns the perplexity check (None: skipped);
    `model_step` is the training step the tuned model holds (model/tunesmith.json), for the checks on the run's curve."""
    train, held_out = list(train), list(held_out)
    if not held_out:
        raise EvalInputError(f"{source}: the held-out set is empty; nothing to compare")
    if not train:
        raise EvalInputError("the training set is empty: few-shot, RAG and RAG-copy need training examples")
    schema = detect_schema([ex.completion for ex in held_out])
    neighbours = Retriever(train, embedder).nearest([ex.prompt for ex in held_out], k)
    common = dict(schema=schema, embedder=embedder, normalisers=normalisers)
    results: dict[str, EvalResult] = {}
    for key in NAMES:
        if key == "rag_copy":
            preds = [train[near[0]].completion for near in neighbours]
            results[key] = score_result(key, held_out, preds, **common)
            continue
        gen = tuned if key in ("tuned", "tuned_rag") else base
        prompts = build_prompts(key, held_out, train, neighbours, schema, system)
        gens = generate_all(gen, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, desc=NAMES[key])
        results[key] = score_result(key, held_out, [g.text for g in gens], stopped=[bool(g.stopped) for g in gens],
                                    new_tokens=[int(g.new_tokens) for g in gens], **common)
    overlap = find_overlap(train, held_out)
    for r in results.values():
        r.overlap = overlap
    curve = read_curve(run_dir)
    forget = forgetting(base, tuned) if forgetting else None
    advice = advise({k: r.scored.summary for k, r in results.items()},
                    {k: [row["score"] for row in r.scored.rows] for k, r in results.items()},
                    n_train=len(train), forgetting=forget, curve=curve, method=method, model_step=model_step)
    dataset = {"n_train": len(train), "n_eval": len(held_out), "overlap": {"count": len(overlap), "ids": overlap},
               "schema": {"kind": schema.kind, "fields": [schema.names[k] for k in schema.keys]}}
    settings = {"k": k, "max_new_tokens": max_new_tokens, "primary_metric": "field_acc" if schema.kind != "none"
                else "rouge_l"}
    return Comparison(results, advice, dataset, curve, forget, settings)


__all__ = ["Comparison", "build_prompts", "compare", "instruction", "rag_context", "read_curve"]
