"""`tunesmith eval`: generate on a held-out set in batches, score every answer, and save predictions beside references.

Bad input is loud: an empty held-out set stops with the file named, examples also in the training set are counted and
listed, and generations that hit max_new_tokens are counted in the metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol, Sequence

from tunesmith.data.example import Example, Problem
from tunesmith.evaluate.fields import Normaliser, Schema, detect_schema
from tunesmith.evaluate.metrics import Embedder, Scored, score_predictions
from tunesmith.atomic import write_jsonl, write_text

Prompt = str | list[dict]


class Generation(Protocol):
    text: str
    stopped: bool
    new_tokens: int


class Generator(Protocol):
    """What `tunesmith.load()` returns (docs/CONTRACTS.md); tests pass a fake with the same method."""

    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int = 256) -> list[Generation]: ...


class EvalInputError(ValueError):
    """The held-out or training file cannot be evaluated on (the message names the file)."""


def read_examples(path: str | Path) -> tuple[list[Example], list[Problem]]:
    """Examples of a data file through the project reader, and its warnings; error-level problems stop with every one
    listed (file and line), so nothing is silently dropped."""
    from tunesmith.data.readers import read_examples as project_reader

    path = Path(path)
    if not path.exists():
        raise EvalInputError(f"{path}: no such file")
    examples, problems = project_reader(path)
    errors = [p for p in problems if p.level == "error"]
    if errors:
        raise EvalInputError("\n".join(str(p) for p in errors))
    return list(examples), [p for p in problems if p.level != "error"]


def example_id(ex: Example, index: int) -> str:
    """Where an example came from (file:line), or its position when it was built in memory."""
    return f"{Path(ex.source).name}:{ex.line}" if ex.source and ex.line else f"#{index}"


def _key(ex: Example) -> str:
    return " ".join(ex.prompt.split()).casefold()


def find_overlap(train: Sequence[Example], held_out: Sequence[Example]) -> list[str]:
    """Ids of held-out examples whose prompt (whitespace/case-normalised) also appears in the training set."""
    seen = {_key(ex) for ex in train}
    return [example_id(ex, i) for i, ex in enumerate(held_out) if _key(ex) in seen]


def as_prompt(ex: Example) -> list[dict]:
    """The conversation up to (not including) the answer: what the model was trained to continue."""
    msgs = list(ex.messages)
    last = max((i for i, m in enumerate(msgs) if m.role == "assistant"), default=len(msgs))
    return [{"role": m.role, "content": m.content} for m in msgs[:last]]


def generate_all(
    generator: Generator, prompts: Sequence[Prompt], *, max_new_tokens: int, batch_size: int = 8, desc: str = "generating"
) -> list[Generation]:
    """Generate in batches with progress (a bar, or a line every few seconds off a terminal); the generator batches and
    pads inside each call."""
    from tunesmith.output import progress

    out: list[Generation] = []
    with progress(desc, len(prompts)) as advance:
        for start in range(0, len(prompts), batch_size):
            chunk = list(prompts[start : start + batch_size])
            gens = generator.generate(chunk, max_new_tokens=max_new_tokens)
            if len(gens) != len(chunk):
                raise RuntimeError(f"generator returned {len(gens)} answers for {len(chunk)} prompts")
            out.extend(gens)
            advance(len(chunk))
    return out


@dataclass
class EvalResult:
    """One approach on one held-out set: the predictions, their scores and what went wrong on the way."""

    name: str
    examples: list[Example]
    predictions: list[str]
    scored: Scored
    schema: Schema
    new_tokens: list[int | None] = field(default_factory=list)
    stopped: list[bool | None] = field(default_factory=list)
    overlap: list[str] = field(default_factory=list)

    def prediction_rows(self) -> list[dict]:
        rows = []
        for i, (ex, pred, sc) in enumerate(zip(self.examples, self.predictions, self.scored.rows)):
            row = {"id": example_id(ex, i), "input": ex.prompt, "reference": ex.completion, "prediction": pred}
            if self.stopped and self.stopped[i] is not None:
                row["stopped"], row["new_tokens"] = self.stopped[i], self.new_tokens[i]
            row["scores"] = sc
            rows.append(row)
        return rows


def score_result(
    name: str,
    examples: list[Example],
    predictions: list[str],
    *,
    schema: Schema,
    stopped: list[bool | None] | None = None,
    new_tokens: list[int | None] | None = None,
    embedder: Embedder | None = None,
    normalisers: Mapping[str, Normaliser] | None = None,
) -> EvalResult:
    refs = [ex.completion for ex in examples]
    scored = score_predictions(predictions, refs, schema, stopped=stopped, embedder=embedder, normalisers=normalisers)
    return EvalResult(name, examples, predictions, scored, schema, list(new_tokens or []), list(stopped or []))


def evaluate(
    generator: Generator,
    examples: Sequence[Example],
    *,
    name: str = "model",
    prompts: Sequence[Prompt] | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    embedder: Embedder | None = None,
    normalisers: Mapping[str, Normaliser] | None = None,
    schema: Schema | None = None,
    source: str = "held-out set",
) -> EvalResult:
    """Generate an answer for every example (default prompt: its own conversation) and score it."""
    examples = list(examples)
    if not examples:
        raise EvalInputError(f"{source}: the held-out set is empty; nothing to evaluate")
    prompts = list(prompts) if prompts is not None else [as_prompt(ex) for ex in examples]
    gens = generate_all(generator, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, desc=f"{name}")
    schema = schema or detect_schema([ex.completion for ex in examples])
    return score_result(
        name, examples, [g.text for g in gens], schema=schema, stopped=[bool(g.stopped) for g in gens],
        new_tokens=[int(g.new_tokens) for g in gens], embedder=embedder, normalisers=normalisers,
    )


def save_eval(result: EvalResult, out_dir: str | Path, extra: dict | None = None) -> dict:
    """Write `predictions.jsonl` (prediction beside reference, with scores) and `metrics.json`; return the metrics."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "predictions.jsonl", result.prediction_rows())
    metrics = {
        "name": result.name,
        "schema": {"kind": result.schema.kind, "fields": [result.schema.names[k] for k in result.schema.keys]},
        **result.scored.summary,
        "overlap_with_train": {"count": len(result.overlap), "ids": result.overlap},
        **(extra or {}),
    }
    write_text(out / "metrics.json", json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    return metrics


__all__ = [
    "EvalInputError",
    "EvalResult",
    "Generation",
    "Generator",
    "as_prompt",
    "evaluate",
    "example_id",
    "find_overlap",
    "generate_all",
    "read_examples",
    "save_eval",
    "score_result",
]
