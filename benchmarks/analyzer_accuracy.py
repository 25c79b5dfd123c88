"""Category accuracy and per-category F1 of the CI failure analyzer on BugSwarm logs: fine-tuned vs zero-shot base.

Each case's raw failing log goes through the analyzer exactly as `tunesmith analyze` runs it (redact → distil →
generate → parse). The fine-tuned model is the shipped adapter (or `--run`); the zero-shot baseline is the same base
model with an instruction prompt that lists the categories and the answer format. Gold labels are BugSwarm's manual
failure categories mapped to ours (`tunesmith.logs.categories.BUGSWARM_MAP`). BugSwarm "Unknown" means the annotators
could not tell why the job failed; accuracy is reported with those cases excluded (headline) and included.

    python benchmarks/analyzer_accuracy.py --split dev --n 60                  # while building
    python benchmarks/analyzer_accuracy.py --split dev --n 0 --held-out examples/ci-failures/data/eval.jsonl
    python benchmarks/analyzer_accuracy.py --split test --n 120   # the reported figure

`--split test` is for the reported figure only: nothing may be tuned on its output.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from tunesmith.atomic import write_json
from tunesmith.logs.categories import BY_ID, bugswarm_category

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for _provenance
from _provenance import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parent
DEFAULT_SHARED = ROOT.parent.parent / "shared" / "data" / "ci-logs"

ZERO_SHOT_PROMPT = (
    "You analyze failed CI logs. Read the log excerpt and answer with exactly three lines:\n"
    "Category: one of {names}\n"
    "Root Cause: one sentence naming what failed, quoting the key error line\n"
    "Fix: one sentence saying what to change"
)


def held_out_ids(path: Path) -> set[str]:
    """BugSwarm ids among a corpus file's examples (meta.source "bugswarm:<id>"): the recipe's held-out dev cases."""
    ids = set()
    with path.open(encoding="utf-8") as f:
        for line in f:
            src = json.loads(line).get("meta", {}).get("source", "")
            if src.startswith("bugswarm:"):
                ids.add(src.split(":", 1)[1])
    return ids


def bugswarm_cases(shared: Path, split: str, n: int | None, seed: int, only: set[str] | None = None) -> list[dict]:
    """A seeded random sample of one split's cases (natural category mix); the split is checked before a log is read."""
    folder = shared / "bugswarm_dissection"
    splits = json.loads((folder / "split.json").read_text())
    cases = []
    with (folder / "bugswarm_sample.jsonl").open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if splits.get(r["artifact_id"]) == split and (only is None or r["artifact_id"] in only):
                cases.append({"id": r["artifact_id"], "label": r["failure_category"],
                              "gold": bugswarm_category(r["failure_category"]), "log": folder / r["failing_log"]})
    cases.sort(key=lambda c: c["id"])
    random.Random(seed).shuffle(cases)
    return cases[:n] if n else cases


def nearest_training_similarity(cases: list[dict], corpus: Path, budget: int) -> dict[str, float]:
    """Each case's highest TF-IDF cosine between its excerpt and any training input. BugSwarm splits by job, and
    sibling jobs of one build print near-identical logs, so a test case can have a near-copy among the dev cases the
    recipe trains on; accuracy on the cases without one says how the analyzer does on failures it has not seen."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from tunesmith.logs.distill import distill

    texts = [json.loads(line)["input"] for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    vec = TfidfVectorizer(token_pattern=r"[a-z][a-z0-9_\-]+", sublinear_tf=True)
    train = vec.fit_transform(texts)
    excerpts = [distill(c["log"], budget=budget).text for c in cases]
    sims = (vec.transform(excerpts) @ train.T).max(axis=1).toarray().ravel()
    return {c["id"]: float(s) for c, s in zip(cases, sims)}


def read_log(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        return f.read()


class PriorOnly:
    """The run's category prior alone on the analyzer's excerpt: no model, so no root cause, fix or format. It tells
    whether the fine-tuned model adds anything to the Category beyond what a bag-of-words classifier knows."""

    def __init__(self, run: str | None, budget: int):
        from tunesmith.logs.analyze import resolve_run
        from tunesmith.logs.prior import CategoryPrior

        self.prior = CategoryPrior.load(resolve_run(run))
        if self.prior is None:
            raise SystemExit(f"{resolve_run(run)}: no category prior in the run (tunesmith logs fit-prior)")
        self.budget = budget

    def analyze_many(self, sources):
        from types import SimpleNamespace

        from tunesmith.logs.distill import distill

        out = []
        for src in sources:
            ex = distill(src, budget=self.budget)
            cat = self.prior.classes[int(self.prior.log_proba([ex.text])[0].argmax())] if ex.found else "unknown"
            out.append(SimpleNamespace(category=cat, valid=False, notes=[], found=ex.found, raw=""))
        return out


def make_analyzer(model: str, run: str | None, max_new_tokens: int, budget: int | None = None):
    from tunesmith.logs.analyze import Analyzer, resolve_run
    from tunesmith.logs.settings import DEFAULTS
    from tunesmith.models.generate import load_generator

    budget = budget or DEFAULTS.budget
    if model == "prior":
        return PriorOnly(run, budget)

    if model in ("finetuned", "finetuned+prior"):  # the model alone, or with the run's category prior (the default)
        analyzer = Analyzer(run=run, max_new_tokens=max_new_tokens, budget=budget, prior=model == "finetuned+prior")
        if model == "finetuned+prior" and analyzer.prior is None:
            raise SystemExit(f"{resolve_run(run)}: no category prior in the run (tunesmith logs fit-prior)")
        return analyzer
    gen = load_generator(json.loads((Path(resolve_run(run)) / "tunesmith.json").read_text())["base_model"]
                         if Path(resolve_run(run), "tunesmith.json").exists() else "smollm2-135m")
    names = ", ".join(c.name for c in BY_ID.values())
    gen.meta["system_prompt"] = ZERO_SHOT_PROMPT.format(names=names)
    return Analyzer(generator=gen, max_new_tokens=max_new_tokens, budget=budget)


def scores(rows: list[dict], exclude_unknown_gold: bool) -> dict:
    rows = [r for r in rows if not (exclude_unknown_gold and r["gold"] == "unknown")]
    if not rows:
        return {"n": 0}
    labels = sorted({r["gold"] for r in rows} | {r["pred"] for r in rows})
    per = {}
    for lab in labels:
        tp = sum(r["gold"] == lab and r["pred"] == lab for r in rows)
        fp = sum(r["gold"] != lab and r["pred"] == lab for r in rows)
        fn = sum(r["gold"] == lab and r["pred"] != lab for r in rows)
        p = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        per[lab] = {"precision": p, "recall": rc, "f1": 2 * p * rc / (p + rc) if p + rc else 0.0, "support": tp + fn}
    gold_labels = [lab for lab in labels if per[lab]["support"]]
    return {
        "n": len(rows),
        "accuracy": sum(r["gold"] == r["pred"] for r in rows) / len(rows),
        "macro_f1": sum(per[lab]["f1"] for lab in gold_labels) / len(gold_labels),
        "format_valid": sum(r["valid"] for r in rows) / len(rows),
        "stopped": sum(r["stopped"] for r in rows) / len(rows),
        "per_category": per,
        "confusion": {g: dict(Counter(r["pred"] for r in rows if r["gold"] == g)) for g in gold_labels},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the ci-logs data folder")
    ap.add_argument("--split", choices=["dev", "test"], default="dev")
    ap.add_argument("--n", type=int, default=60, help="seeded random sample size (0 = the whole split)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", nargs="+", choices=["finetuned+prior", "finetuned", "prior", "base"],
                    default=["finetuned+prior", "finetuned", "prior", "base"],
                    help="finetuned+prior: the analyzer as shipped; finetuned: the model's own category vote alone; "
                         "prior: the category prior alone (no model; no answer text)")
    ap.add_argument("--held-out", type=Path, default=None,
                    help="dev only: just the BugSwarm cases of this corpus file (e.g. examples/ci-failures/data/eval.jsonl),"
                         " which the adapter and the prior never trained on")
    ap.add_argument("--run", default=None, help="a run dir (default: the adapter shipped with tunesmith)")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--batch", type=int, default=4, help="logs per batched generate call")
    ap.add_argument("--budget", type=int, default=None,
                    help="excerpt token budget for both models (default: the analyzer's, 1,024)")
    ap.add_argument("--train-corpus", type=Path, default=ROOT.parent / "examples" / "ci-failures" / "data" / "train.jsonl",
                    help="the recipe's training examples: cases with a near-copy there (cosine >= --near) are also "
                         "scored apart")
    ap.add_argument("--near", type=float, default=0.9)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if not (args.shared / "bugswarm_dissection" / "split.json").exists():
        print(f"{args.shared}: no bugswarm_dissection/split.json (pass --shared)", file=sys.stderr)
        return 2
    out = args.out or ROOT / "results" / f"analyzer_accuracy_{args.split}.json"
    if args.held_out and args.split != "dev":
        ap.error("--held-out selects dev cases")
    cases = bugswarm_cases(args.shared, args.split, args.n or None, args.seed,
                           held_out_ids(args.held_out) if args.held_out else None)
    console = Console()
    console.print(f"{len(cases)} BugSwarm {args.split} cases: {dict(Counter(c['label'] for c in cases))}")
    report = {"args": {k: str(v) for k, v in vars(args).items()}, "models": {}}
    sim = nearest_training_similarity(cases, args.train_corpus, args.budget or 1024) if args.train_corpus.exists() else {}
    if sim:
        report["nearest_training_similarity"] = sim
        console.print(f"{sum(v >= args.near for v in sim.values())} of {len(cases)} cases have a training input with "
                      f"TF-IDF cosine >= {args.near}")
    for model in args.models:
        analyzer = make_analyzer(model, args.run, args.max_new_tokens, args.budget)
        rows, t0 = [], time.perf_counter()
        with Progress(console=console, transient=False) as bar:
            task = bar.add_task(f"{model}", total=len(cases))
            for i in range(0, len(cases), args.batch):
                chunk = cases[i : i + args.batch]
                for c, a in zip(chunk, analyzer.analyze_many([read_log(c["log"]) for c in chunk])):
                    rows.append({"id": c["id"], "label": c["label"], "gold": c["gold"], "pred": a.category,
                                 "valid": a.valid, "stopped": not any("was cut" in n for n in a.notes),
                                 "found": a.found, "raw": a.raw})
                bar.advance(task, len(chunk))
        novel = [r for r in rows if sim.get(r["id"], 0.0) < args.near]
        report["models"][model] = {"seconds": time.perf_counter() - t0, "budget": analyzer.budget,
                                   "known_gold": scores(rows, True), "all": scores(rows, False),
                                   "novel_known_gold": scores(novel, True) if sim else None, "rows": rows}
        report["provenance"] = provenance()
        write_json(out, report)  # after each model, so a long run keeps what it measured
        del analyzer

    table = Table(title=f"BugSwarm {args.split}: category of the analyzer's answer (n={len(cases)})")
    for col in ("model", "accuracy (known gold)", "macro F1", "accuracy (all)", f"no near-copy in training (< {args.near})",
                "format valid", "stopped", "s/log"):
        table.add_column(col)
    for model, r in report["models"].items():
        k, a = r["known_gold"], r["all"]
        nv = r["novel_known_gold"]
        answer = ("-", "-") if model == "prior" else (f"{a['format_valid']:.3f}", f"{a['stopped']:.3f}")
        table.add_row(model, f"{k['accuracy']:.3f} (n={k['n']})", f"{k['macro_f1']:.3f}", f"{a['accuracy']:.3f}",
                      f"{nv['accuracy']:.3f} (n={nv['n']})" if nv and nv["n"] else "-", *answer,
                      f"{r['seconds'] / len(cases):.1f}")
    console.print(table)
    per = Table(title="per-category F1 (known gold)")
    per.add_column("category")
    per.add_column("support")
    for model in report["models"]:
        per.add_column(f"{model} P/R/F1")
    cats = sorted({c for r in report["models"].values() for c, v in r["known_gold"]["per_category"].items() if v["support"]})
    for cat in cats:
        first = next(iter(report["models"].values()))["known_gold"]["per_category"].get(cat, {})
        cells = []
        for r in report["models"].values():
            v = r["known_gold"]["per_category"].get(cat, {"precision": 0, "recall": 0, "f1": 0})
            cells.append(f"{v['precision']:.2f}/{v['recall']:.2f}/{v['f1']:.2f}")
        per.add_row(cat, str(first.get("support", 0)), *cells)
    console.print(per)
    console.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
