"""How much should the category prior weigh against the fine-tuned model's vote? Category accuracy per weight.

On the recipe corpus's held-out examples (examples/ci-failures/data/eval.jsonl: BugSwarm, LogChunks and synthetic, all
dev-derived, never trained on), every allowed `Category: <name>` line is scored under the model (sum of its token
log-probabilities after the prompt), the prior (fitted on train.jsonl) gives its log-probabilities, and the category
with the highest  model + weight x prior  is compared with the gold one. The analyzer's PRIOR_WEIGHT was chosen here.

    python benchmarks/prior_weight.py            # ≈ 10 min on 2 cores (one forward pass per example and category)
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from tunesmith.atomic import write_json

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "examples" / "ci-failures" / "data"

sys.path.insert(0, str(HERE))  # for _provenance
from _provenance import provenance  # noqa: E402


def line_scores(gen, texts: list[str], lines: list[str]) -> list[list[float]]:
    """log P(line | prompt) under the model, for every text and every candidate answer line."""
    import torch

    tok, model = gen.tokenizer, gen.model
    ids = [tok(s, add_special_tokens=False)["input_ids"] for s in lines]
    out = []
    for text in track(texts, description="model scores"):
        prompt = tok(gen.prompt_text(text), return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            first = model(input_ids=prompt, use_cache=True)
            last = torch.log_softmax(first.logits[0, -1].float(), -1)
            row = []
            for seq in ids:
                lp = last[seq[0]].item()
                if len(seq) > 1:
                    rest = model(input_ids=torch.tensor([seq[:-1]]), past_key_values=copy.deepcopy(first.past_key_values))
                    logp = torch.log_softmax(rest.logits[0].float(), -1)
                    lp += sum(logp[k, seq[k + 1]].item() for k in range(len(seq) - 1))
                row.append(lp)
        out.append(row)
    return out


def main(argv=None) -> int:
    from tunesmith.logs.analyze import resolve_run
    from tunesmith.logs.categories import CATEGORIES
    from tunesmith.logs.prior import CategoryPrior
    from tunesmith.models.generate import load_generator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="run dir (default: the shipped analyzer adapter)")
    ap.add_argument("--data", type=Path, default=DATA, help="folder with train.jsonl and eval.jsonl")
    ap.add_argument("--weights", type=float, nargs="+", default=[0, 1, 4, 20, 50, 1000])
    ap.add_argument("--out", type=Path, default=HERE / "results" / "prior_weight.json")
    args = ap.parse_args(argv)

    read = lambda name: [json.loads(x) for x in (args.data / name).read_text(encoding="utf-8").splitlines() if x.strip()]
    train, evals = read("train.jsonl"), read("eval.jsonl")
    prior = CategoryPrior.fit([r["input"] for r in train], [r["category"] for r in train])
    ids = [c.id for c in CATEGORIES]
    lp = prior.log_proba([r["input"] for r in evals])
    col = {c: j for j, c in enumerate(prior.classes)}
    prior_rows = [[row[col[c]] if c in col else row.min() for c in ids] for row in lp]
    model_rows = line_scores(load_generator(resolve_run(args.run)), [r["input"] for r in evals],
                             [f"Category: {c.name}\n" for c in CATEGORIES])

    results: dict[str, dict[str, float]] = {}
    for w in args.weights:
        hits = defaultdict(list)
        for r, m, p in zip(evals, model_rows, prior_rows):
            best = max(range(len(ids)), key=lambda k: m[k] + w * p[k])
            source = r["meta"]["source"].split(":")[0]
            hits[source].append(ids[best] == r["category"])
            hits["all"].append(ids[best] == r["category"])
        results[str(w)] = {s: sum(v) / len(v) for s, v in hits.items()}
    sources = sorted({s for r in results.values() for s in r} - {"all"}) + ["all"]
    table = Table(title=f"category accuracy by prior weight ({len(evals)} held-out examples)")
    table.add_column("weight")
    for s in sources:
        table.add_column(f"{s} (n={sum(r['meta']['source'].startswith(s) for r in evals) if s != 'all' else len(evals)})")
    for w, r in results.items():
        table.add_row(w, *(f"{r[s]:.3f}" for s in sources))
    Console().print(table)
    write_json(args.out, {"provenance": provenance(),
                          "args": {k: str(v) for k, v in vars(args).items()}, "accuracy": results})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
